"""Where a preview's first frame comes from when no image is given: a seeded landscape drawn from the prompt's words
(text-to-video), or the last frame of the clip being continued (video-extend).

>>> prompt_picture("a snowy forest at night", 7, (640, 360)).size
(640, 360)
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, UnidentifiedImageError

from .inputs import InputError

# (words, sky top, horizon, land): the first palette whose word the prompt has wins; else one drawn from the seed.
PALETTES: tuple[tuple[tuple[str, ...], tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]], ...] = (
    (("night", "moon", "stars", "midnight"), (8, 12, 40), (40, 50, 100), (12, 18, 30)),
    (("sunset", "dusk", "evening", "golden"), (60, 40, 110), (250, 140, 70), (70, 40, 50)),
    (("sunrise", "dawn", "morning"), (120, 150, 220), (250, 200, 160), (80, 90, 70)),
    (("snow", "winter", "ice", "frozen"), (170, 190, 215), (235, 240, 248), (225, 230, 240)),
    (("desert", "sand", "dune", "dunes"), (110, 160, 220), (240, 210, 160), (200, 150, 90)),
    (("ocean", "sea", "beach", "wave", "waves", "water", "lake"), (70, 140, 210), (190, 220, 235), (20, 90, 130)),
    (("forest", "jungle", "tree", "trees", "garden"), (90, 150, 200), (200, 225, 210), (30, 80, 40)),
    (("city", "street", "neon", "skyline"), (20, 20, 60), (180, 80, 150), (25, 25, 35)),
)


def _palette(words: set[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for keys, top, horizon, land in PALETTES:
        if words & set(keys):
            return np.array(top, float), np.array(horizon, float), np.array(land, float)
    top, horizon, land = (rng.uniform(20, 235, 3) for _ in range(3))
    return top, (horizon + 255) / 2, land * 0.6


def prompt_picture(prompt: str | None, seed: int, size: tuple[int, int]) -> Image.Image:
    """A seeded landscape of ``size``: a sky for the prompt's mood, a sun or moon, and three ridges of hills.

    The same prompt and seed always draw the same picture; another seed or other words, another one.
    """
    text = (prompt or "").lower()
    digest = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    rng = np.random.default_rng([seed, digest])
    words = set("".join(c if c.isalnum() else " " for c in text).split())
    top, horizon, land = _palette(words, rng)
    w, h = size
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    sky = top + (horizon - top) * np.clip(y / 0.65, 0, 1) ** 1.4
    # A sun (or moon) with a soft glow, somewhere in the upper sky.
    sx, sy, radius = rng.uniform(0.15, 0.85), rng.uniform(0.12, 0.4), rng.uniform(0.04, 0.08)
    dist = np.sqrt(((x - sx) * w / h) ** 2 + (y - sy) ** 2)
    glow = np.exp(-((dist / (radius * 3)) ** 2)) * 0.5 + (dist < radius)
    picture = sky + glow * (np.array([255.0, 245.0, 220.0]) - sky) * 0.9
    # Three ridges, back to front, each a sum of seeded waves, each darker and nearer.
    xs = np.linspace(0.0, 1.0, w)
    for layer in range(3):
        ridge = 0.45 + 0.12 * layer + sum(rng.uniform(0.01, 0.05) * np.sin(2 * np.pi * (rng.uniform(0.5, 4) * xs
                                                                                        + rng.uniform(0, 1)))
                                          for _ in range(4))
        shade = land * (1.15 - 0.25 * layer) + (horizon - land) * (0.5 - 0.2 * layer)
        below = y[:, :, 0] > ridge[None, :].astype(np.float32)
        depth = np.clip((y[:, :, 0] - ridge[None, :]) * 3, 0, 1)[..., None]
        picture = np.where(below[..., None], shade * (1 - 0.35 * depth), picture)
    grain = rng.normal(0, 3, (h, w, 1)).astype(np.float32)  # a little texture, so the camera move shows
    return Image.fromarray(np.clip(picture + grain, 0, 255).astype(np.uint8), "RGB")


def last_frame(data: bytes, field: str = "video") -> Image.Image:
    """The last frame of the clip in ``data`` (RGB); InputError 1401 naming ``field`` when it is not a video."""
    with tempfile.TemporaryDirectory(prefix="playground-extend-") as tmp:
        clip, frame = Path(tmp) / "clip", Path(tmp) / "last.png"
        clip.write_bytes(data)
        # Decode only the last second; each frame overwrites the picture, so the last one stays.
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
               "-sseof", "-1", "-i", str(clip), "-map", "0:v:0", "-update", "1", "-f", "image2", "-c:v", "png",
               str(frame)]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False, timeout=120)
        try:
            if done.returncode != 0:
                raise OSError(done.stderr.decode("utf-8", "replace")[-300:])
            with Image.open(frame) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            why = str(exc).strip() or "no frame"
            raise InputError(1401, f"{field}: could not be read as a video ({why})") from None


__all__ = ["PALETTES", "last_frame", "prompt_picture"]
