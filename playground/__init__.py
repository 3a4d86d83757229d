"""Seedance Playground: a client, ledger, pipeline, sweeps and a Gradio UI for WaveSpeedAI's Seedance V1.5 Pro
Image-to-Video Spicy model, with an embedded WaveSpeed-compatible local API as the offline default backend.
"""

from .contract import MODELS, SPICY, validate
from .pricing import estimate_cost, price_table, quote

__all__ = ["SPICY", "MODELS", "validate", "estimate_cost", "price_table", "quote"]
