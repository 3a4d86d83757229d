"""The pictures that ship with the package: the bundled sample photos, and a procedural demo picture.

>>> demo_image("demo.png")          # doctest: +SKIP
PosixPath('demo.png')
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).parent


def demo_image(path: str | Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """Write a procedural demo picture (sky, sun, hills, a house) to ``path`` and return the path.

    It is the same on every machine, so a notebook run without an image of its own reuses its earlier videos.
    """
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    horizon = int(h * 0.62)
    for y in range(horizon):  # sky: a vertical gradient
        t = y / max(1, horizon - 1)
        draw.line([(0, y), (w, y)], fill=(int(60 + 120 * t), int(120 + 90 * t), int(220 - 40 * t)))
    r = h // 9
    draw.ellipse((int(w * 0.72) - r, int(h * 0.2) - r, int(w * 0.72) + r, int(h * 0.2) + r), fill=(255, 214, 90))
    for cx, height, colour in ((0.15, 0.22, (70, 140, 80)), (0.55, 0.3, (50, 120, 70)), (0.95, 0.2, (80, 150, 90))):
        peak = (int(w * cx), horizon - int(h * height))
        draw.polygon([(int(w * (cx - 0.45)), horizon + 2), peak, (int(w * (cx + 0.45)), horizon + 2)], fill=colour)
    draw.rectangle((0, horizon, w, h), fill=(96, 160, 70))
    for x in range(0, w, max(8, w // 40)):  # grass stripes give the camera something to move against
        draw.line([(x, horizon), (x + w // 60, h)], fill=(80, 140, 60), width=3)
    hx, hy, hw = int(w * 0.3), int(h * 0.5), int(w * 0.14)
    draw.rectangle((hx, hy, hx + hw, hy + int(hw * 0.7)), fill=(200, 80, 60))
    draw.polygon([(hx - hw // 10, hy), (hx + hw // 2, hy - int(hw * 0.45)), (hx + hw + hw // 10, hy)],
                 fill=(90, 50, 40))
    draw.rectangle((hx + int(hw * 0.4), hy + int(hw * 0.35), hx + int(hw * 0.6), hy + int(hw * 0.7)),
                   fill=(60, 40, 30))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


__all__ = ["demo_image", "SAMPLES_DIR"]
