"""Seedance Playground: a client, ledger, pipeline, sweeps and a Gradio UI for WaveSpeedAI's Seedance V1.5 Pro
Image-to-Video Spicy model, with an embedded WaveSpeed-compatible local API as the offline default backend.

>>> from playground import generate, quote
>>> quote(SPICY, {"resolution": "480p", "duration": 5}).usd
0.12
>>> result = generate("cat.png", prompt="slow zoom in", resolution="480p", duration=4)   # doctest: +SKIP

``import playground`` is light: the contract, prices and errors load at once; the client (requests), the pipeline,
the sweeps (pandas) and the UI (Gradio) load when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .contract import FAST, MODELS, SPICY, STANDARD, V1_PRO_FAST, VideoRequest, validate
from .errors import (
    AuthError,
    Cancelled,
    CapExceeded,
    InsufficientCredits,
    NotFound,
    OutputExpired,
    OutputInvalid,
    RateLimited,
    ServerError,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskTimeout,
    UnsafeURL,
    ValidationError,
    WaveSpeedError,
)
from .pricing import estimate_cost, price_table, quote

__version__ = "0.1.0"

# Loaded on first use, so that importing the package costs no requests, pandas or Gradio import.
_LAZY = {
    "generate": "pipeline", "resume": "pipeline", "extend": "pipeline", "settle": "pipeline", "Result": "pipeline",
    "ProgressEvent": "pipeline",
    "Runner": "runner", "RunEvent": "runner",
    "Client": "client", "Prediction": "client",
    "connect": "backend",
    "Ledger": "jobs",
    "seed_sweep": "sweep", "grid_sweep": "sweep", "estimate_sweep": "sweep",
}

__all__ = [
    "SPICY", "STANDARD", "FAST", "V1_PRO_FAST", "MODELS", "VideoRequest", "validate", "estimate_cost", "price_table",
    "quote",
    "WaveSpeedError", "ValidationError", "AuthError", "InsufficientCredits", "RateLimited", "ServerError",
    "NotFound", "TaskFailed", "TaskTimeout", "Cancelled", "OutputExpired", "OutputInvalid", "UnsafeURL",
    "SubmitOutcomeUnknown", "CapExceeded", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'playground' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
