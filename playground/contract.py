"""What the models take and return: parameters, defaults, ranges, output sizes. Pure, no I/O.

Facts come from ``shared/contract/seedance-spicy.json`` and ``wavespeed-v3.md``. Each model and fact that the
contract marks as unconfirmed (T or I) carries ``confirmed=False`` so callers can label it.

>>> validate(SPICY, {"image": "https://x/a.png", "duration": 13})
['duration: 13 is out of range; allowed 4 to 12 (seconds)']
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .errors import ValidationError

SPICY = "bytedance/seedance-v1.5-pro/image-to-video-spicy"
STANDARD = "bytedance/seedance-v1.5-pro/image-to-video"
FAST = "bytedance/seedance-v1.5-pro/image-to-video-fast"
V1_PRO_FAST = "bytedance/seedance-v1-pro-fast/image-to-video"

FPS = 24
ASPECT_RATIOS: tuple[str, ...] = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p")
SEED_MAX = 2_147_483_647
# No source states a prompt limit (seed page, contract); 5,000 characters is far above any real prompt and refuses a
# pasted file or a runaway string before it is paid for.
PROMPT_MAX_CHARS = 5_000

# Seedance 1.5 Pro output sizes (width, height), contract table (V).
OUTPUT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"21:9": (992, 432), "16:9": (864, 496), "4:3": (752, 560),
             "1:1": (640, 640), "3:4": (560, 752), "9:16": (496, 864)},
    "720p": {"21:9": (1470, 630), "16:9": (1280, 720), "4:3": (1112, 834),
             "1:1": (960, 960), "3:4": (834, 1112), "9:16": (720, 1280)},
    "1080p": {"21:9": (2206, 946), "16:9": (1920, 1080), "4:3": (1664, 1248),
              "1:1": (1440, 1440), "3:4": (1248, 1664), "9:16": (1080, 1920)},
}
# Seedance 1.0 differs (V for the two rows the contract gives; the rest are scaled the same way: I).
V1_OUTPUT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"21:9": (992, 416), "16:9": (864, 480), "4:3": (736, 544),
             "1:1": (640, 640), "3:4": (544, 736), "9:16": (480, 864)},
    "720p": {"21:9": (1504, 640), "16:9": (1248, 704), "4:3": (1120, 832),
             "1:1": (960, 960), "3:4": (832, 1120), "9:16": (704, 1248)},
    "1080p": {"21:9": (2176, 928), "16:9": (1920, 1088), "4:3": (1664, 1248),
              "1:1": (1440, 1440), "3:4": (1248, 1664), "9:16": (1088, 1920)},
}


@dataclass(frozen=True)
class ImageLimits:
    """Input image limits (V): formats, side length in px, width/height ratio, bytes per file."""

    formats: tuple[str, ...] = ("jpeg", "png", "webp", "bmp", "tiff", "gif", "heic", "heif")
    min_side: int = 300
    max_side: int = 6000
    min_ratio: float = 0.4
    max_ratio: float = 2.5
    max_bytes: int = 30 * 1024 * 1024
    max_request_bytes: int = 64 * 1024 * 1024

    @property
    def max_pixels(self) -> int:
        """The most pixels an acceptable image can have (6000x6000): anything claiming more is never decoded."""
        return self.max_side * self.max_side


IMAGE_LIMITS = ImageLimits()


@dataclass(frozen=True)
class Param:
    """One input field of a model."""

    name: str
    type: type
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""
    description: str = ""
    max_length: int | None = None

    def check(self, value: Any) -> str | None:
        """Return a message naming this field when ``value`` is not allowed, else None.

        Types are strict: text must be ``str`` (bytes or numbers are never turned into text), booleans ``bool``, and
        whole numbers ``int`` (a float only when it has no fraction, as sliders send 5.0).
        """
        if self.type is bool:
            if not isinstance(value, bool):
                return f"{self.name}: expected true or false, got {show(value)}"
            return None
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    return f"{self.name}: expected a whole number, got {show(value)}"
        if self.type is str and not isinstance(value, str):
            return f"{self.name}: expected text, got {show(value)}"
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            return f"{self.name}: {show(value)} is not allowed; choose one of {allowed}"
        if self.minimum is not None and self.maximum is not None and not self.minimum <= value <= self.maximum:
            unit = f" ({self.unit})" if self.unit else ""
            return f"{self.name}: {show(value)} is out of range; allowed {self.minimum} to {self.maximum}{unit}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{self.name}: is {len(value):,} characters long; the limit is {self.max_length:,}"
        if self.type is str and self.required and not value.strip():
            return f"{self.name}: is required and must not be empty"
        return None


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message about a huge value stays one short line."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4,300 digits has no repr
        return "a number too large to show"
    return text if len(text) <= limit else f"{text[:limit - 15]}... ({type(value).__name__}, {_size(value)})"


def _size(value: Any) -> str:
    try:
        return f"{len(value):,} long"
    except TypeError:
        return "long"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the catalogue: its fields, its output sizes and how sure we are of it."""

    model_id: str
    title: str
    params: tuple[Param, ...]
    sizes: dict[str, dict[str, tuple[int, int]]] = field(default_factory=lambda: OUTPUT_SIZES)
    has_audio: bool = True
    confirmed: bool = True
    notes: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.param("resolution").choices or ())

    def defaults(self) -> dict[str, Any]:
        """The defaults the API applies to omitted optional fields."""
        return {p.name: p.default for p in self.params if p.default is not None}


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


MODELS: dict[str, ModelSpec] = {
    SPICY: ModelSpec(SPICY, "Seedance V1.5 Pro Image-to-Video Spicy", _seedance_15_params()),
    STANDARD: ModelSpec(
        STANDARD, "Seedance V1.5 Pro Image-to-Video", _seedance_15_params(prompt_required=True),
        notes="prompt is required (V); 1080p price unconfirmed",
    ),
    FAST: ModelSpec(
        FAST, "Seedance V1.5 Pro Image-to-Video Fast",
        _seedance_15_params(resolutions=("720p", "1080p")),
        confirmed=False, notes="720p and 1080p only (V); price unconfirmed",
    ),
    V1_PRO_FAST: ModelSpec(
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
    ),
}

# Fields the API itself accepts on every model besides the model's inputs (V).
TRANSPORT_FIELDS = ("enable_sync_mode", "enable_base64_output")


class UnknownModel(ValidationError, KeyError):
    """The model id is not in the catalogue (a ValidationError naming ``model``; a KeyError for lookups)."""

    def __init__(self, model_id: Any):
        self.model_id = model_id
        super().__init__(f"model: {show(model_id)} is not known; choose one of {', '.join(MODELS)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return "; ".join(self.problems)


def get_model(model_id: str) -> ModelSpec:
    if not isinstance(model_id, str) or model_id not in MODELS:
        raise UnknownModel(model_id)
    return MODELS[model_id]


def validate(model_id: str, params: dict[str, Any], *, allow_unknown: bool = False) -> list[str]:
    """Check ``params`` against the model; return one message per problem, each naming the field.

    An empty list means the request is acceptable. Unknown fields are refused unless ``allow_unknown``; an unknown
    model raises :class:`UnknownModel`.
    """
    spec = get_model(model_id)
    problems: list[str] = []
    for p in spec.params:
        value = params.get(p.name)
        if value is None:
            if p.required:
                problems.append(f"{p.name}: is required")
            continue
        message = p.check(value)
        if message:
            problems.append(message)
    if not allow_unknown:
        for name in params:
            if name not in spec.names and name not in TRANSPORT_FIELDS:
                label = name if isinstance(name, str) and len(name) <= 60 else show(name)
                problems.append(f"{label}: is not a field of {model_id}; fields are {', '.join(spec.names)}")
    for name in TRANSPORT_FIELDS:
        if name in params and not isinstance(params[name], bool):
            problems.append(f"{name}: expected true or false, got {show(params[name])}")
    return problems


def with_defaults(model_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the model's defaults filled in for omitted fields (None counts as omitted)."""
    spec = get_model(model_id)
    merged = spec.defaults()
    merged.update({k: v for k, v in params.items() if v is not None})
    for p in spec.params:  # 5.0 from a slider is sent as 5: the API's integer fields want integers
        value = merged.get(p.name)
        if p.type is int and isinstance(value, float) and value.is_integer():
            merged[p.name] = int(value)
    return merged


# The fields that carry pictures: sent as URLs, identified by their content, never part of a request's settings.
IMAGE_FIELDS = ("image", "last_image")
_PLACEHOLDER = "https://placeholder.invalid/{}.png"


@dataclass(frozen=True)
class VideoRequest:
    """One request to a model, checked and complete: built once (from a form, the command line, a sweep plan or a
    ledger row) and carried unchanged to the ledger and the POST.

    ``fields`` holds every model field with the model's defaults applied and a concrete seed (never -1), but no
    images: those travel beside it as files or URLs (see :meth:`body`). ``explicit_seed`` is False when the seed was
    drawn at random here, so the request is not one anybody can ask for again on purpose.

    >>> r = VideoRequest.build(prompt="slow zoom in", resolution="480p", duration=4, seed=7)
    >>> r.seed, r.resolution, r.duration, r.generate_audio, r.explicit_seed
    (7, '480p', 4, True, True)
    >>> VideoRequest.build(duration=13)
    Traceback (most recent call last):
    playground.errors.ValidationError: duration: 13 is out of range; allowed 4 to 12 (seconds)
    """

    model: str
    fields: Mapping[str, Any]
    explicit_seed: bool = True

    @classmethod
    def build(cls, model: str = SPICY, *, has_last_image: bool = False, **fields: Any) -> VideoRequest:
        """Check ``fields`` by name (one ValidationError listing every problem, each naming its field), drop None
        values and a blank prompt, apply the model's defaults, and replace a seed of -1 or None by a random one."""
        given = {k: v for k, v in fields.items() if v is not None}
        prompt = given.get("prompt")
        if isinstance(prompt, str) and not prompt.strip():
            del given["prompt"]  # a blank prompt is omitted; anything but text is judged by the contract as it is
        problems = [f"{name}: pass the picture beside the request, not as a field" for name in IMAGE_FIELDS
                    if name in given]
        images = {"image": _PLACEHOLDER.format("image")}
        if has_last_image:
            images["last_image"] = _PLACEHOLDER.format("last_image")
        problems += validate(model, {**{k: v for k, v in given.items() if k not in IMAGE_FIELDS}, **images})
        if problems:
            raise ValidationError(problems)
        full = with_defaults(model, given)
        seed = full.get("seed")
        explicit = seed is not None and seed != -1
        if "seed" in get_model(model).names:
            full["seed"] = int(seed) if explicit else random.randint(0, SEED_MAX)
        return cls(model, MappingProxyType(full), explicit)

    @classmethod
    def from_params(cls, model: str, params: Mapping[str, Any]) -> VideoRequest:
        """The request a ledger row or a history entry was made with (its images ignored), checked again."""
        return cls.build(model, **{k: v for k, v in params.items() if k not in IMAGE_FIELDS})

    def with_changes(self, **changes: Any) -> VideoRequest:
        """A checked copy with some fields changed, e.g. ``request.with_changes(resolution="1080p")``; the seed stays
        unless changed (``seed=-1`` draws a new random one)."""
        changed = VideoRequest.build(self.model, **{**self.fields, **changes})
        return changed if "seed" in changes else replace(changed, explicit_seed=self.explicit_seed)

    @property
    def seed(self) -> int:
        return int(self.fields.get("seed", 0))

    @property
    def resolution(self) -> str:
        return str(self.fields.get("resolution", ""))

    @property
    def duration(self) -> int:
        return int(self.fields.get("duration", 0))

    @property
    def generate_audio(self) -> bool:
        return bool(self.fields.get("generate_audio", False)) and get_model(self.model).has_audio

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt") or "")

    def params(self) -> dict[str, Any]:
        """The fields as a plain dict (a copy)."""
        return dict(self.fields)

    def body(self, images: Mapping[str, str]) -> dict[str, Any]:
        """The JSON body to POST: the fields and the images' URLs."""
        return {**self.fields, **images}

    def fingerprint(self, backend_id: str, media_hashes: Mapping[str, str]) -> str:
        """The identity the ledger files this request under (see :func:`fingerprint`)."""
        return fingerprint(backend_id, self.model, self.fields, media_hashes)


def fingerprint(base_url: str, model: str, params: Mapping[str, Any], media_hashes: Mapping[str, str]) -> str:
    """Identity of a request: the backend, the model, the parameters, and the images' content (not their URLs)."""
    stable = {k: v for k, v in params.items() if k not in media_hashes}
    stable.update({f"{k}#sha256": v for k, v in media_hashes.items()})
    blob = json.dumps([base_url.rstrip("/"), model, stable], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def closest_ratio(width: int, height: int) -> str:
    """The supported aspect ratio nearest to an image's (compared on a log scale, so 2:1 and 1:2 are symmetric)."""
    import math

    target = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(ratio_value(r)) - target))


def output_size(resolution: str, aspect_ratio: str | None = None, *, image_size: tuple[int, int] | None = None,
                model_id: str = SPICY) -> tuple[int, int]:
    """Width and height of the video for a resolution and ratio; ratio omitted: the one closest to the image."""
    sizes = get_model(model_id).sizes
    if aspect_ratio is None:
        if image_size is None:
            raise ValueError("aspect_ratio: omitted, so the input image's size is needed to choose one")
        aspect_ratio = closest_ratio(*image_size)
    return sizes[resolution][aspect_ratio]


def frame_count(duration: int) -> int:
    """Frames in a clip of ``duration`` seconds: 24 per second (V)."""
    return int(duration) * FPS


# Typical inference seconds per second of video (I: no source gives figures; chosen from reported runs of
# Seedance 1.5 Pro at roughly 25 s, 45 s and 90 s for a 5 s clip). The local API's realistic mode and the
# client's first poll estimate both start from these; the client then learns from the ledger.
TYPICAL_INFERENCE_S_PER_VIDEO_S: dict[str, float] = {"480p": 5.0, "720p": 9.0, "1080p": 18.0}


def typical_inference_seconds(resolution: str, duration: int) -> float:
    """A documented guess at how long the API takes for one clip; see TYPICAL_INFERENCE_S_PER_VIDEO_S."""
    return TYPICAL_INFERENCE_S_PER_VIDEO_S[resolution] * int(duration)
