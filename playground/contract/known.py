"""The four models this package knows by hand, from the verified contract (``shared/contract/seedance-spicy.json``
and ``wavespeed-v3.md``): their fields, output sizes and how sure we are of them. They refine a catalogue's schema of
the same model and are the offline fallback when no catalogue can be read. Pure.
"""

from __future__ import annotations

from .params import Param
from .sizes import ASPECT_RATIOS, PROMPT_MAX_CHARS, RESOLUTIONS, SEED_MAX, V1_OUTPUT_SIZES, closest_ratio
from .spec import MODELS, ModelSpec, get_model

SPICY = "bytedance/seedance-v1.5-pro/image-to-video-spicy"
STANDARD = "bytedance/seedance-v1.5-pro/image-to-video"
FAST = "bytedance/seedance-v1.5-pro/image-to-video-fast"
V1_PRO_FAST = "bytedance/seedance-v1-pro-fast/image-to-video"


def _seedance_15_params(*, prompt_required: bool = False, resolutions: tuple[str, ...] = RESOLUTIONS,
                        default_resolution: str = "720p") -> tuple[Param, ...]:
    return (
        Param("image", str, required=True, description="URL of the first frame (upload a local file first)"),
        Param("prompt", str, required=prompt_required, max_length=PROMPT_MAX_CHARS,
              description="Motion, story and style"),
        Param("last_image", str, description="URL of the ending frame"),
        Param("aspect_ratio", str, choices=ASPECT_RATIOS, description="Omitted: follows the input image"),
        Param("duration", int, default=5, minimum=4, maximum=12, unit="seconds"),
        Param("resolution", str, default=default_resolution, choices=resolutions),
        Param("camera_fixed", bool, default=False),
        Param("generate_audio", bool, default=True),
        Param("seed", int, default=-1, minimum=-1, maximum=SEED_MAX, description="-1: random"),
    )


KNOWN: tuple[ModelSpec, ...] = (
    ModelSpec(SPICY, "Seedance V1.5 Pro Image-to-Video Spicy", _seedance_15_params(), sort_order=10),
    ModelSpec(
        STANDARD, "Seedance V1.5 Pro Image-to-Video", _seedance_15_params(prompt_required=True),
        notes="prompt is required (V); 1080p price unconfirmed", sort_order=20,
    ),
    ModelSpec(
        FAST, "Seedance V1.5 Pro Image-to-Video Fast",
        _seedance_15_params(resolutions=("720p", "1080p")),
        confirmed=False, notes="720p and 1080p only (V); price unconfirmed", sort_order=30,
    ),
    ModelSpec(
        V1_PRO_FAST, "Seedance V1 Pro Fast Image-to-Video",
        (
            Param("image", str, required=True),
            Param("prompt", str, required=True, max_length=PROMPT_MAX_CHARS),
            Param("aspect_ratio", str, choices=ASPECT_RATIOS),
            Param("duration", int, default=5, minimum=2, maximum=12, unit="seconds"),
            Param("resolution", str, default="720p", choices=RESOLUTIONS),
            Param("camera_fixed", bool, default=False),
            Param("seed", int, default=-1, minimum=-1, maximum=SEED_MAX),
        ),
        sizes=V1_OUTPUT_SIZES, has_audio=False, confirmed=False,
        notes="fields from third-party code (T); no audio, no last_image; being retired; price unconfirmed",
        sort_order=40,
    ),
)

MODELS.update({spec.model_id: spec for spec in KNOWN})


def output_size(resolution: str, aspect_ratio: str | None = None, *, image_size: tuple[int, int] | None = None,
                model_id: str = SPICY) -> tuple[int, int]:
    """Width and height of the video for a resolution and ratio; ratio omitted: the one closest to the image."""
    sizes = get_model(model_id).sizes
    if aspect_ratio is None:
        if image_size is None:
            raise ValueError("aspect_ratio: omitted, so the input image's size is needed to choose one")
        aspect_ratio = closest_ratio(*image_size)
    return sizes[resolution][aspect_ratio]



__all__ = ["SPICY", "STANDARD", "FAST", "V1_PRO_FAST", "KNOWN", "output_size"]
