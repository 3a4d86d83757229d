"""What the models take and return, and the one typed request built from it. Pure, no I/O.

``params`` (a field of a kind the form knows), ``spec`` (a model, and the models known in this process),
``schema`` (a catalogue entry's request schema read into a model), ``known`` (the four models verified by hand: the
refinements of their schemas and the offline fallback), ``sizes`` (output sizes and input limits) and ``request``
(:class:`VideoRequest` and its checks). Facts come from ``shared/contract/``; each model and fact the contract marks
unconfirmed (T or I) carries ``confirmed=False`` so callers can label it.

>>> validate(SPICY, {"image": "https://x/a.png", "duration": 13})
['duration: 13 is out of range; allowed 4 to 12 (seconds)']
"""

from __future__ import annotations

from .known import FAST, KNOWN, SPICY, STANDARD, V1_PRO_FAST, output_size
from .params import KINDS, LIST_KINDS, MEDIA_KINDS, Param, show
from .request import IMAGE_FIELDS, VideoRequest, fingerprint, media_names, validate, with_defaults
from .schema import TRANSPORT_FIELDS, SchemaError, request_schema, spec_from_entry
from .sizes import (
    ASPECT_RATIOS,
    FPS,
    IMAGE_LIMITS,
    OUTPUT_SIZES,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
    SEED_MAX,
    TYPICAL_INFERENCE_S_PER_VIDEO_S,
    V1_OUTPUT_SIZES,
    ImageLimits,
    closest_ratio,
    frame_count,
    ratio_value,
    typical_inference_seconds,
)
from .spec import FAMILIES, MODELS, ModelSpec, UnknownModel, all_models, find_model, get_model, register, some_models

__all__ = [
    "FAST", "KNOWN", "SPICY", "STANDARD", "V1_PRO_FAST", "output_size", "KINDS", "LIST_KINDS", "MEDIA_KINDS", "Param",
    "show", "IMAGE_FIELDS", "VideoRequest", "fingerprint", "media_names", "validate", "with_defaults",
    "TRANSPORT_FIELDS", "SchemaError", "request_schema", "spec_from_entry", "ASPECT_RATIOS", "FPS", "IMAGE_LIMITS",
    "OUTPUT_SIZES", "PROMPT_MAX_CHARS", "RESOLUTIONS", "SEED_MAX", "TYPICAL_INFERENCE_S_PER_VIDEO_S",
    "V1_OUTPUT_SIZES", "ImageLimits", "closest_ratio", "frame_count", "ratio_value", "typical_inference_seconds",
    "FAMILIES", "MODELS", "ModelSpec", "UnknownModel", "all_models", "find_model", "get_model", "register",
    "some_models",
]
