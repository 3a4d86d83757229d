"""Draws the playground's sample images with PIL, so every example is the project's own work.

Run ``python -m playground.samples.make_samples`` to write them again; the output is deterministic.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent


def _vertical_gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    w, h = size
    column = Image.new("RGB", (1, h))
    for y in range(h):
        t = y / max(h - 1, 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize(size)


def sunset_beach(size=(1280, 720)) -> Image.Image:
    """A 16:9 beach at sunset: sky gradient, sun, sea with glints, a palm silhouette."""
    w, h = size
    img = _vertical_gradient(size, (38, 28, 92), (250, 150, 90))
    draw = ImageDraw.Draw(img)
    horizon = int(h * 0.62)
    draw.ellipse((w * 0.55, horizon - 150, w * 0.55 + 190, horizon + 40), fill=(255, 214, 120))
    sea = _vertical_gradient((w, h - horizon), (70, 70, 140), (20, 30, 70))
    img.paste(sea, (0, horizon))
    rng = random.Random(1)
    for _ in range(160):
        x, y = rng.randrange(w), rng.randrange(horizon + 4, h)
        length = rng.randrange(8, 40)
        draw.line((x, y, x + length, y), fill=(255, 190, 130), width=2)
    draw.polygon([(0, h), (0, h - 70), (w * 0.35, h - 40), (w * 0.5, h)], fill=(222, 190, 140))
    trunk = [(120 + 40 * math.sin(t / 9), h - 40 - t * 9) for t in range(45)]
    draw.line(trunk, fill=(25, 18, 30), width=18)
    tx, ty = trunk[-1]
    for angle in range(-170, 10, 28):
        rad = math.radians(angle)
        draw.line((tx, ty, tx + 190 * math.cos(rad), ty + 90 * math.sin(rad) + 60), fill=(25, 18, 30), width=12)
    return img.filter(ImageFilter.SMOOTH)


def mountain_lake(size=(1024, 768)) -> Image.Image:
    """A 4:3 mountain range mirrored in a still lake."""
    w, h = size
    img = _vertical_gradient(size, (120, 180, 235), (220, 235, 245))
    draw = ImageDraw.Draw(img)
    shore = int(h * 0.58)
    rng = random.Random(2)
    for layer, colour in enumerate(((110, 130, 160), (70, 90, 120), (40, 60, 80))):
        points = [(0, shore)]
        x = 0
        while x < w:
            x += rng.randrange(60, 160)
            peak = shore - rng.randrange(120, 330) + layer * 60
            points.append((x, peak))
        points.append((w, shore))
        draw.polygon(points, fill=colour)
        for px, py in points[1:-1]:
            if py < shore - 200:
                draw.polygon([(px, py), (px - 28, py + 40), (px + 28, py + 40)], fill=(245, 248, 252))
    sky_and_hills = img.crop((0, 0, w, shore))
    reflection = sky_and_hills.transpose(Image.Transpose.FLIP_TOP_BOTTOM).resize((w, h - shore))
    reflection = Image.blend(reflection, Image.new("RGB", reflection.size, (30, 60, 90)), 0.35)
    img.paste(reflection, (0, shore))
    for _ in range(60):
        y = rng.randrange(shore + 5, h)
        x = rng.randrange(w)
        draw.line((x, y, x + rng.randrange(20, 90), y), fill=(200, 220, 235), width=1)
    return img


def lantern_portrait(size=(720, 1280)) -> Image.Image:
    """A 9:16 night street with paper lanterns and a figure holding an umbrella."""
    w, h = size
    img = _vertical_gradient(size, (12, 14, 40), (60, 30, 60))
    draw = ImageDraw.Draw(img)
    rng = random.Random(3)
    for side in (0, 1):
        x0 = 0 if side == 0 else int(w * 0.72)
        draw.rectangle((x0, int(h * 0.2), x0 + int(w * 0.28), h), fill=(30, 24, 44))
        for row in range(8):
            for col in range(2):
                if rng.random() < 0.6:
                    wx = x0 + 20 + col * 90
                    wy = int(h * 0.24) + row * 110
                    draw.rectangle((wx, wy, wx + 50, wy + 70), fill=(250, 200, 110))
    for i in range(7):
        cx = int(w * 0.3) + (i % 2) * int(w * 0.4) + rng.randrange(-20, 20)
        cy = 140 + i * 120
        glow = Image.new("L", size, 0)
        ImageDraw.Draw(glow).ellipse((cx - 90, cy - 90, cx + 90, cy + 90), fill=120)
        glow = glow.filter(ImageFilter.GaussianBlur(40))
        img.paste(Image.new("RGB", size, (255, 120, 60)), (0, 0), glow)
        draw = ImageDraw.Draw(img)
        draw.ellipse((cx - 38, cy - 48, cx + 38, cy + 48), fill=(230, 60, 40))
        draw.line((cx, cy - 48, cx, cy - 90), fill=(20, 20, 20), width=3)
    fx, fy = w // 2, int(h * 0.78)
    draw.pieslice((fx - 150, fy - 260, fx + 150, fy - 20), 180, 360, fill=(40, 140, 180))
    draw.line((fx, fy - 140, fx, fy + 40), fill=(20, 20, 20), width=6)
    draw.ellipse((fx - 32, fy - 118, fx + 32, fy - 54), fill=(230, 190, 160))
    draw.polygon([(fx - 70, fy - 50), (fx + 70, fy - 50), (fx + 95, fy + 230), (fx - 95, fy + 230)],
                 fill=(150, 30, 60))
    draw.rectangle((0, int(h * 0.93), w, h), fill=(40, 30, 50))
    return img


def koi_pond(size=(900, 900)) -> Image.Image:
    """A 1:1 koi pond seen from above, with lily pads."""
    w, h = size
    img = _vertical_gradient(size, (20, 90, 100), (10, 50, 70))
    draw = ImageDraw.Draw(img)
    rng = random.Random(4)
    for _ in range(9):
        cx, cy, r = rng.randrange(w), rng.randrange(h), rng.randrange(50, 95)
        start = rng.randrange(360)
        draw.pieslice((cx - r, cy - r, cx + r, cy + r), start + 25, start + 360, fill=(60, 140, 60))
        if rng.random() < 0.5:
            draw.ellipse((cx - 18, cy - 18, cx + 18, cy + 18), fill=(245, 190, 215))
    for i in range(5):
        cx, cy = rng.randrange(120, w - 120), rng.randrange(120, h - 120)
        angle = rng.uniform(0, math.tau)
        dx, dy = math.cos(angle), math.sin(angle)
        body = [(cx + dx * t * 14 + dy * math.sin(t) * 10, cy + dy * t * 14 - dx * math.sin(t) * 10)
                for t in range(-5, 6)]
        colour = ((250, 120, 30), (250, 250, 245), (230, 50, 40))[i % 3]
        draw.line(body, fill=colour, width=34, joint="curve")
        hx, hy = body[-1]
        draw.ellipse((hx - 20, hy - 20, hx + 20, hy + 20), fill=colour)
        tx, ty = body[0]
        draw.polygon([(tx, ty), (tx - dx * 40 + dy * 25, ty - dy * 40 - dx * 25),
                      (tx - dx * 40 - dy * 25, ty - dy * 40 + dx * 25)], fill=colour)
    return img.filter(ImageFilter.SMOOTH_MORE)


SAMPLES = {
    "sunset_beach.jpg": (sunset_beach, "The waves roll in slowly, the palm sways in the breeze, slow zoom in"),
    "mountain_lake.jpg": (mountain_lake, "Mist drifts over the lake, gentle pan right"),
    "lantern_street.jpg": (lantern_portrait, "The lanterns swing softly, rain falls, the camera tilts up"),
    "koi_pond.jpg": (koi_pond, "The koi swim in lazy circles, ripples spread, static camera"),
}


def main() -> None:
    for name, (draw, _prompt) in SAMPLES.items():
        draw().save(HERE / name, quality=86, optimize=True)


if __name__ == "__main__":
    main()
