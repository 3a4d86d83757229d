"""The models the local API serves at ``GET /api/v3/models``, written from ``shared/contract/wavespeed-catalogue.md``.

Each entry has the live catalogue's shape (``model_id``, ``name``, ``description``, ``type``, ``sort_order``,
``api_schema.api_schemas[0]`` = the ``model_run`` request schema) plus an ``x-local`` block that is never served:
the price rates (USD per second of video by resolution), how much a clip without audio costs, and which output size
table the renderer uses. ``base_price`` and ``formula`` are derived from the rates by :mod:`.catalogue`.

Where the note marks a fact V (official sources) it is copied; where it is I or missing, the choice made here says so
in a comment. Prices: the 1.5 family keeps the spicy table (V for spicy, I for the others); the 2.0 figures are the
note's per-5-second prices read as 720p, halved at 480p and doubled at 1080p (I). Seedance 2.0 output sizes are not
documented: the 2.0 models use the 1.5 table (I).
"""

from __future__ import annotations

from typing import Any

from playground.contract import ASPECT_RATIOS, SEED_MAX

# USD per second with audio on (V: the spicy model's table); half without audio.
SEEDANCE_15_RATES = {"480p": 0.024, "720p": 0.052, "1080p": 0.104}
# $1.20 / 5 s (V, Seedance 2.0), read as 720p; 480p and 1080p scaled (I); audio does not change it (I).
SEEDANCE_20_RATES = {"480p": 0.12, "720p": 0.24, "1080p": 0.48}
# $0.80 / 5 s (V, Seedance 2.0 Fast image-to-video), read as 720p; scaled as above (I).
SEEDANCE_20_FAST_RATES = {"480p": 0.08, "720p": 0.16, "1080p": 0.32}

SPICY = "bytedance/seedance-v1.5-pro/image-to-video-spicy"
STANDARD = "bytedance/seedance-v1.5-pro/image-to-video"
FAST = "bytedance/seedance-v1.5-pro/image-to-video-fast"
V1_PRO_FAST = "bytedance/seedance-v1-pro-fast/image-to-video"
V20_I2V = "bytedance/seedance-2.0/image-to-video"
V20_FAST_I2V = "bytedance/seedance-2.0-fast/image-to-video"
V20_FAST_SPICY = "bytedance/seedance-2.0-fast/image-to-video-spicy"
V20_T2V = "bytedance/seedance-2.0/text-to-video"
V15_T2V_FAST = "bytedance/seedance-v1.5-pro/text-to-video-fast"
V15_EXTEND = "bytedance/seedance-v1.5-pro/video-extend"


# --- field builders (the keywords the desktop app and the CLI read; V) ---


def image(description: str = "URL of the first frame (upload a local file first)") -> dict[str, Any]:
    return {"type": "string", "title": "Image", "description": description, "x-ui-component": "uploader",
            "x-accept": "image/*"}


def last_image() -> dict[str, Any]:
    return {"type": "string", "title": "Last image", "description": "URL of the ending frame",
            "x-ui-component": "uploader", "x-accept": "image/*"}


def video() -> dict[str, Any]:
    return {"type": "string", "title": "Video", "description": "URL of the clip to continue (upload it first)",
            "x-ui-component": "uploader", "x-accept": "video/*"}


def image_list(max_items: int) -> dict[str, Any]:
    return {"type": "array", "title": "Reference images", "items": {"type": "string"}, "minItems": 0,
            "maxItems": max_items, "x-ui-component": "uploader", "x-accept": "image/*",
            "description": f"Up to {max_items} image URLs that guide subjects and style"}


def prompt(required: bool = False) -> dict[str, Any]:
    words = "What happens: motion, story and style" + ("" if required else " (optional)")
    return {"type": "string", "title": "Prompt", "description": words}


def choice(title: str, values: tuple[str, ...], default: str | None, description: str = "") -> dict[str, Any]:
    field: dict[str, Any] = {"type": "string", "title": title, "enum": list(values), "x-ui-component": "select"}
    if default is not None:
        field["default"] = default
    if description:
        field["description"] = description
    return field


def duration(minimum: int, maximum: int, default: int = 5) -> dict[str, Any]:
    return {"type": "integer", "title": "Duration", "description": "Seconds of video", "default": default,
            "minimum": minimum, "maximum": maximum, "step": 1, "x-ui-component": "slider"}


def flag(title: str, default: bool, description: str) -> dict[str, Any]:
    return {"type": "boolean", "title": title, "default": default, "description": description}


def seed() -> dict[str, Any]:
    return {"type": "integer", "title": "Seed", "default": -1, "minimum": -1, "maximum": SEED_MAX,
            "description": "-1: random"}


HIDDEN = {
    "enable_base64_output": {"type": "boolean", "default": False, "x-hidden": True,
                             "description": "Return outputs as base64 (the local API keeps URLs)"},
    "enable_sync_mode": {"type": "boolean", "default": False, "x-hidden": True,
                         "description": "Hold the reply until the task ends"},
}


def aspect(default: str | None = None) -> dict[str, Any]:
    return choice("Aspect ratio", ASPECT_RATIOS, default, "Omitted: follows the input image" if default is None else "")


def resolution(values: tuple[str, ...] = ("480p", "720p", "1080p"), default: str = "720p") -> dict[str, Any]:
    return choice("Resolution", values, default)


AUDIO = flag("Generate audio", True, "A soundtrack with the video")
CAMERA_FIXED = flag("Fixed camera", False, "Keep the camera still")


def entry(model_id: str, name: str, type_: str, description: str, sort_order: int, properties: dict[str, Any],
          required: list[str], *, rates: dict[str, float], audio_off_factor: float = 0.5,
          sizes: str = "seedance-1.5", notes: str = "") -> dict[str, Any]:
    """One catalogue entry in the live shape, with its local block."""
    properties = {**properties, **HIDDEN}
    schema = {"type": "object", "properties": properties, "required": required,
              "x-order-properties": list(properties)}
    return {"model_id": model_id, "name": name, "description": description, "type": type_, "sort_order": sort_order,
            "api_schema": {"api_schemas": [{"type": "model_run", "method": "POST", "api_path": f"/api/v3/{model_id}",
                                            "request_schema": schema}]},
            "x-local": {"rates": rates, "audio_off_factor": audio_off_factor, "sizes": sizes, "notes": notes}}


def _seedance_15_i2v(model_id: str, name: str, sort_order: int, *, prompt_required: bool = False,
                     resolutions: tuple[str, ...] = ("480p", "720p", "1080p"), notes: str = "") -> dict[str, Any]:
    fields = {"image": image(), "prompt": prompt(prompt_required), "last_image": last_image(), "aspect_ratio": aspect(),
              "duration": duration(4, 12), "resolution": resolution(resolutions), "camera_fixed": CAMERA_FIXED,
              "generate_audio": AUDIO, "seed": seed()}
    required = ["image", "prompt"] if prompt_required else ["image"]
    return entry(model_id, name, "image-to-video", "Seedance 1.5 Pro: a 4-12 s clip with audio from one image.",
                 sort_order, fields, required, rates=SEEDANCE_15_RATES, notes=notes)


MODELS: list[dict[str, Any]] = [
    _seedance_15_i2v(SPICY, "Seedance V1.5 Pro Image-to-Video Spicy", 10, notes="fields and prices V"),
    _seedance_15_i2v(STANDARD, "Seedance V1.5 Pro Image-to-Video", 20, prompt_required=True,
                     notes="prompt required (V); 1080p price I"),
    _seedance_15_i2v(FAST, "Seedance V1.5 Pro Image-to-Video Fast", 30, resolutions=("720p", "1080p"),
                     notes="720p and 1080p only (V); price I"),
    entry(V1_PRO_FAST, "Seedance V1 Pro Fast Image-to-Video", "image-to-video",
          "Seedance 1.0 Pro Fast: a 2-12 s silent clip from one image (being retired).", 40,
          {"image": image(), "prompt": prompt(True), "aspect_ratio": aspect(), "duration": duration(2, 12),
           "resolution": resolution(), "camera_fixed": CAMERA_FIXED, "seed": seed()},
          ["image", "prompt"], rates=SEEDANCE_15_RATES, sizes="seedance-1.0",
          notes="fields T; no audio, priced as the spicy table without audio (I)"),
    # Only "at most 4 reference images" is documented (V); the other fields follow 2.0 Fast's (I).
    entry(V20_I2V, "Seedance 2.0 Image-to-Video", "image-to-video",
          "Seedance 2.0: a 4-15 s clip from a first frame and up to 4 reference images.", 50,
          {"image": image(), "prompt": prompt(True), "last_image": last_image(), "reference_images": image_list(4),
           "aspect_ratio": aspect(), "duration": duration(4, 15), "resolution": resolution(),
           "generate_audio": AUDIO, "seed": seed()},
          ["image", "prompt"], rates=SEEDANCE_20_RATES, audio_off_factor=1.0, notes="fields I; prices I"),
    entry(V20_FAST_I2V, "Seedance 2.0 Fast Image-to-Video", "image-to-video",
          "Seedance 2.0 Fast: a quicker, cheaper 4-15 s clip from one image.", 60,
          {"image": image(), "prompt": prompt(True), "reference_images": image_list(4), "aspect_ratio": aspect(),
           "duration": duration(4, 15), "resolution": resolution(), "generate_audio": AUDIO, "seed": seed()},
          ["image", "prompt"], rates=SEEDANCE_20_FAST_RATES, audio_off_factor=1.0,
          notes="prompt, image, <= 4 refs and $0.80 / 5 s V; the rest I"),
    # The note lists image*, prompt, last_image, resolution and duration 4-15 (V); the seed is added here (I).
    entry(V20_FAST_SPICY, "Seedance 2.0 Fast Image-to-Video Spicy", "image-to-video",
          "Seedance 2.0 Fast Spicy: a 4-15 s clip from one image, prompt optional.", 70,
          {"image": image(), "prompt": prompt(False), "last_image": last_image(), "duration": duration(4, 15),
           "resolution": resolution(), "seed": seed()},
          ["image"], rates=SEEDANCE_20_FAST_RATES, audio_off_factor=1.0, notes="fields V but seed (I); price I"),
    # reference_videos and reference_audios exist on the real model (V) but are left out: the playground's form
    # takes no video or audio lists, and a preview would ignore them. 4k is left out too (I copy only).
    entry(V20_T2V, "Seedance 2.0 Text-to-Video", "text-to-video",
          "Seedance 2.0: a 4-15 s clip from a prompt, optionally guided by up to 9 images.", 110,
          {"prompt": prompt(True), "reference_images": image_list(9), "aspect_ratio": aspect("16:9"),
           "duration": duration(4, 15), "resolution": resolution(), "generate_audio": AUDIO, "seed": seed()},
          ["prompt"], rates=SEEDANCE_20_RATES, audio_off_factor=1.0,
          notes="prompt, aspect_ratio, duration, resolution, reference_images V; generate_audio and seed I"),
    # The default aspect ratio is not documented: 16:9 (I).
    entry(V15_T2V_FAST, "Seedance V1.5 Pro Text-to-Video Fast", "text-to-video",
          "Seedance 1.5 Pro Fast: a 4-12 s clip with audio from a prompt.", 120,
          {"prompt": prompt(True), "aspect_ratio": aspect("16:9"), "duration": duration(4, 12),
           "resolution": resolution(("720p", "1080p")), "generate_audio": AUDIO, "camera_fixed": CAMERA_FIXED,
           "seed": seed()},
          ["prompt"], rates=SEEDANCE_15_RATES, notes="fields V; price I"),
    # Fields V (desktop, docs); the duration default and the price are not captured: 5 s, the spicy table (I).
    entry(V15_EXTEND, "Seedance V1.5 Pro Video Extend", "video-extend",
          "Seedance 1.5 Pro: continues a clip from its last frame for 4-12 s.", 210,
          {"video": video(), "prompt": prompt(True), "duration": duration(4, 12),
           "resolution": resolution(("720p", "480p")), "generate_audio": AUDIO, "camera_fixed": CAMERA_FIXED,
           "seed": seed()},
          ["video", "prompt"], rates=SEEDANCE_15_RATES, notes="fields V; duration default and price I"),
]
