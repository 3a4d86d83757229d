"""Small helpers shared by the client, pipeline and CLI tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def make_image(path: Path, size=(800, 450), seed: int = 0) -> Path:
    """A procedural test picture: a gradient with shapes, so motion and crops are visible."""
    w, h = size
    xs = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    ys = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    rgb = np.stack([xs, ys, np.full_like(xs, (seed * 40) % 256)], axis=-1).astype(np.uint8)
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    draw.ellipse((w // 4, h // 4, w // 2, 3 * h // 4), fill=(250, 250, 250))
    draw.rectangle((w // 2 + 20, h // 3, w - 40, h - 40), fill=(20, 20, 200))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
