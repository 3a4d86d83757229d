"""How fast the local renderer makes 5 s clips, against its real-time targets on this machine.

Usage: python bench/bench_render.py [--quick] [--repeats N] [--preset superfast]
Targets (5 s clips, 16:9, audio on): 480p at least 8x real time, 720p at least 3x; 1080p is reported only. Making
the frames (the pictures, the camera move, the crossfade: the same render with its frames discarded instead of
encoded) must take under 30% of a render, so that encoding sets the pace.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from playground.local import render, sound  # noqa: E402

DURATION = 5
TARGETS = {"480p": 8.0, "720p": 3.0}  # minimum real-time factor
MAX_FRAME_SHARE = 0.30  # of a render's wall time, for the resolutions with a target


def photo_like(size: tuple[int, int] = (1920, 1280), seed: int = 0) -> Image.Image:
    """A busy picture (gradients, shapes, fine grain) so the encoder works about as hard as on a photo."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    rgb = np.stack([70 + 140 * x + 0 * y, 50 + 150 * y + 0 * x, 180 - 120 * x * y], -1)
    img = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(120):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.01, 0.06) * w
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(20, 20, 20), width=2)
    grain = rng.normal(0, 6, (h, w, 1)).astype(np.int16)
    return Image.fromarray((np.asarray(img, np.int16) + grain).clip(0, 255).astype(np.uint8))


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (ffmpeg): steadier than wall time when shared."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="480p and 720p only, one run each")
    parser.add_argument("--repeats", type=int, default=None, help="runs per resolution (default 3, quick 1)")
    parser.add_argument("--preset", default=render.X264_PRESET, help="x264 preset to measure")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    resolutions = ["480p", "720p"] if args.quick else ["480p", "720p", "1080p"]
    render.X264_PRESET = args.preset

    image = photo_like()
    # Wall-time ratios depend on what else the cores run: the load average is printed before and after.
    print(f"renderer bench: {DURATION} s clips, 16:9, audio on, x264 preset {args.preset}, "
          f"{repeats} run(s) each, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("frames: the same render with its frames discarded instead of encoded (Python's pictures and audio, "
          "ffmpeg's start,\n  the camera move, the crossfade), as a share of the render's wall time; encode: the rest; "
          "py s: Python's part\n  before the still is sent (ffmpeg loads meanwhile); cpu s: user + system of the "
          "render, ffmpeg included")
    header = (f"{'res':>6} {'size':>10} {'wall s':>7} {'x real':>7} {'frames':>7} {'encode':>7} {'py s':>5} "
              f"{'cpu s':>6} {'MB':>6}  target")
    print(header)
    print("-" * len(header))
    all_met = True
    with tempfile.TemporaryDirectory() as tmp:
        # One untimed warm-up so imports and the first ffmpeg start do not count.
        render.render_video(image, Path(tmp) / "warmup.mp4", resolution="480p", aspect_ratio="16:9", duration=1)
        for resolution in resolutions:
            walls, drawing, cpus, python = [], [], [], []
            path = Path(tmp) / f"{resolution}.mp4"
            settings = dict(resolution=resolution, aspect_ratio="16:9", duration=DURATION, generate_audio=True)
            for run in range(repeats):
                # The same clip twice in a row: encoded, then with its frames discarded (drawing alone). Each made
                # from scratch: the soundtrack the renderer keeps per seed is forgotten first.
                sound.soundtrack.cache_clear()
                started, cpu = time.perf_counter(), cpu_seconds()
                stats = render.render_video(image, path, seed=run, **settings)
                walls.append(time.perf_counter() - started)
                cpus.append(cpu_seconds() - cpu)
                python.append(stats.frame_seconds)
                sound.soundtrack.cache_clear()
                started = time.perf_counter()
                render.render_video(image, None, seed=run, **settings)
                drawing.append(time.perf_counter() - started)
            wall = statistics.median(walls)
            factor = DURATION / wall
            frame_share = min(1.0, statistics.median(drawing) / wall)
            target = TARGETS.get(resolution)
            if target is None:
                verdict = "(no target)"
            else:
                met = factor >= target and frame_share < MAX_FRAME_SHARE
                all_met &= met
                verdict = f">= {target}x, frames < {MAX_FRAME_SHARE:.0%} {'met' if met else 'MISSED'}"
            size = f"{stats.width}x{stats.height}"
            print(f"{resolution:>6} {size:>10} {wall:7.2f} {factor:6.2f}x {frame_share:6.0%} {1 - frame_share:7.0%} "
                  f"{statistics.median(python):5.2f} {statistics.median(cpus):6.2f} {path.stat().st_size / 1e6:6.2f}  "
                  f"{verdict}")
    print(("all targets met" if all_met else "some targets MISSED") + f" (load average {os.getloadavg()[0]:.1f})")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
