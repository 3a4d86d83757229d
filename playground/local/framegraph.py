"""The ffmpeg filter graph that makes a clip's frames: the still repeated, the seeded camera move (a window cut from
it per frame, driven by a command file), the light band of a fixed camera, the lens, the crossfade into last_image.

Building a graph is arithmetic: each picture's size is known at once and its pixels are made later, by
:meth:`FrameGraph.write_inputs`, while ffmpeg is already starting (see :mod:`.render`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from playground.contract import FPS

from .camera import CameraPath
from .looks import Look
from .sound import SYNTH_SAMPLE_RATE, write_wav

# The source is kept this much larger than the output so zoomed-in views are still downscaled, hence sharp.
SOURCE_MARGIN = 1.3
# Share of the clip spent crossfading into last_image.
LAST_IMAGE_FADE = 1 / 3
# Each picture goes to YUV once, before it is repeated (see FrameGraph.picture): scaling 4:4:4 frames is several times
# cheaper for ffmpeg than RGB ones (and than 4:2:0 ones cropped at odd offsets, whose chroma jitters), and one scale
# per frame also makes the 4:2:0 the encoder takes.
# Convert with the BT.709 matrix and say so, so browsers show the colours we made.
TAG_BT709 = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"

Size = tuple[int, int]


def crop_box(size: Size, ratio: float) -> tuple[int, int, int, int]:
    """The largest centred box of a ``size`` picture with width/height == ``ratio``, as (left, top, right, bottom)."""
    w, h = size
    if w / h > ratio:
        cw, ch = max(1, round(h * ratio)), h
    else:
        cw, ch = w, max(1, round(w / ratio))
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


def crop_to_ratio(image: Image.Image, ratio: float) -> Image.Image:
    """The largest centred region of ``image`` with width/height == ``ratio``."""
    return image.crop(crop_box(image.size, ratio))


def fit_to_size(image: Image.Image, size: Size) -> Image.Image:
    """``image`` centre-cropped to the ratio of ``size`` and scaled to it: how an input becomes an output frame."""
    rgb = image.convert("RGB")
    return crop_to_ratio(rgb, size[0] / size[1]).resize(size, Image.Resampling.LANCZOS)


class LightBand:
    """A soft band of light drifting across a fixed frame, so a locked-off clip is not a still.

    ``image`` is the band (RGBA, its light in the alpha); ffmpeg overlays it at :meth:`x_expression` per frame.
    """

    def __init__(self, size: Size, rng: np.random.Generator) -> None:
        w, h = size
        self.size = size
        amplitude = float(rng.uniform(18, 30))
        width = float(rng.uniform(0.12, 0.22)) * w
        slant = float(rng.uniform(-0.5, 0.5))
        self.direction = 1 if rng.random() < 0.5 else -1
        tint = np.array([1.0, float(rng.uniform(0.85, 1.0)), float(rng.uniform(0.65, 0.95))])
        # Far enough off-frame that the first and last frames show no band at all.
        self.margin = int(math.ceil(abs(slant) * h / 2 + 2.5 * width))
        band_w = 2 * self.margin
        xs = np.arange(band_w, dtype=np.float32)[None, :] + slant * (np.arange(h, dtype=np.float32)[:, None] - h / 2)
        # Blending towards white by alpha brightens a mid-grey about as much as adding ``amplitude`` would.
        alpha = np.exp(-(((xs - band_w / 2) / width) ** 2)) * amplitude / 127
        rgba = np.empty((h, band_w, 4), np.uint8)
        rgba[..., :3] = (255 * tint).astype(np.uint8)
        rgba[..., 3] = (alpha.clip(0, 1) * 255).round().astype(np.uint8)
        self.image = Image.fromarray(rgba, "RGBA")

    def x_expression(self, n: int) -> str:
        """The band's left edge at frame ``n`` of ``n`` frames, for ffmpeg's overlay: from just off the left edge
        to just off the right one (or back)."""
        w = self.size[0]
        start, end = -2.0 * self.margin, float(w)
        if self.direction < 0:
            start, end = end, start
        step = (end - start) / max(1, n - 1)
        return f"{start:.3f}{step:+.6f}*n"


@dataclass
class FrameGraph:
    """What ffmpeg reads (input arguments) and the filter graph that makes the clip's frames, labelled ``[v]``.

    The first picture (the still) goes through ffmpeg's standard input: no file of a few MB to write and delete.
    """

    work: Path
    inputs: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    count: int = 0
    audio: int | None = None  # the sound's input index, once added
    # Made by write_inputs: (file or None for the standard input, the picture's maker, its whole reduction factor).
    _pictures: list[tuple[Path | None, Callable[[], Image.Image], int]] = field(default_factory=list)
    _sound: tuple[Path, Future] | None = None

    def picture(self, name: str, size: Size, make: Callable[[], Image.Image], fmt: str, out: Size | None = None,
                mode: str = "RGB") -> str:
        """Add a one-frame raw input of ``size`` (``mode`` RGB or RGBA) whose pixels ``make()`` gives later; the start
        of its chain: ``[i:v]`` scaled to ``out`` (Lanczos, in ffmpeg: much cheaper than PIL) and converted to the
        YUV ``fmt``, once, before it repeats."""
        factor = int(min(size[0] / out[0], size[1] / out[1]) / 2) if out is not None else 0
        if factor >= 2:
            # A big picture is first reduced by a whole factor (a cheap box filter), keeping at least twice the size.
            size = (-(-size[0] // factor), -(-size[1] // factor))
        path = self.work / f"{name}.raw" if self.count else None
        self._pictures.append((path, make, factor))
        pix_fmt = "rgba" if mode == "RGBA" else "rgb24"
        self.inputs += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{size[0]}x{size[1]}", "-framerate", str(FPS),
                        "-i", str(path) if path is not None else "pipe:0"]
        self.count += 1
        scale = f"w={out[0]}:h={out[1]}:flags=lanczos:" if out is not None and out != size else ""
        return f"[{self.count - 1}:v]scale={scale}out_color_matrix=bt709:out_range=tv,format={fmt}"

    def sound(self, track: Future) -> int:
        """Add the mono track ``track`` will hold (made at SYNTH_SAMPLE_RATE) as a WAV input; its input index."""
        path = self.work / "audio.wav"
        self._sound = (path, track)
        self.inputs += ["-i", str(path)]
        self.count += 1
        self.audio = self.count - 1
        return self.audio

    def write_inputs(self) -> bytes:
        """Make every picture and the sound; write all but the still to their files and return the still's pixels.

        ffmpeg opens its inputs in order and waits on its standard input (the first) before it opens the files, so
        they are all in place before the first byte of the still is sent."""
        still = b""
        for path, make, factor in self._pictures:
            image = make()
            data = (image.reduce(factor) if factor >= 2 else image).tobytes()
            if path is None:
                still = data
            else:
                path.write_bytes(data)
        if self._sound is not None:
            write_wav(self._sound[0], self._sound[1].result(), SYNTH_SAMPLE_RATE)
        return still

    def filters(self) -> str:
        return ";".join(self.parts)


def repeat(n: int) -> str:
    """Filters turning one frame into ``n`` frames at 24 fps."""
    return f"loop=loop={n - 1}:size=1:start=0,setpts=N/({FPS}*TB)"


def _filter_path(path: Path) -> str:
    """A file name quoted for a filter graph option."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "'\\''").replace(":", "\\:") + "'"


def camera_commands(boxes: list[tuple[int, int, int, int]]) -> str:
    """sendcmd lines that set the window of each frame (only what changes), at the frame's time.

    The filter is named (``crop@cam``): a command to the class would reach every crop of the graph."""
    lines, last = [], (None, None, None, None)
    for i, box in enumerate(boxes):
        commands = [f"[enter] crop@cam {name} {value}" for name, value, old in zip("whxy", box, last, strict=True)
                    if value != old]
        last = box
        if commands:
            # Half a frame early, so float rounding of the frame's time can never miss its interval.
            start = 0.0 if i == 0 else (i - 0.5) / FPS
            lines.append(f"{start:.6f} {', '.join(commands)};")
    return "\n".join(lines) + "\n"


def _camera_part(graph: FrameGraph, first: tuple[Size, Callable[[], Image.Image]], size: Size, n: int,
                 camera: CameraPath, seed: int) -> str:
    """The moving (or, for a fixed camera, lit) picture: ``n`` frames of ``size``; the label of its chain's end."""
    w, h = size
    if camera.name == "static":
        still = graph.picture("still", first[0], first[1], "yuv420p", size)
        band = LightBand(size, np.random.default_rng([seed, 0x5EEB]))
        light = graph.picture("band", band.image.size, lambda: band.image, "yuva420p", mode="RGBA")
        graph.parts += [f"{still},{repeat(n)}[still]", f"{light},{repeat(n)}[band]",
                        f"[still][band]overlay=x='{band.x_expression(n)}':y=0:format=yuv420:eval=frame[cam]"]
        return "cam"
    source = (round(w * SOURCE_MARGIN), round(h * SOURCE_MARGIN))
    still = graph.picture("still", first[0], first[1], "yuv444p", source)
    boxes = [camera.box(i / (n - 1) if n > 1 else 1.0, source) for i in range(n)]
    commands = graph.work / "camera.cmd"
    commands.write_text(camera_commands(boxes))
    bw, bh, x, y = boxes[0]
    # Cut each frame's window from the still, then one scale to the output size and to 4:2:0 at once.
    graph.parts.append(f"{still},{repeat(n)},sendcmd=f={_filter_path(commands)},"
                       f"crop@cam=w={bw}:h={bh}:x={x}:y={y}:exact=1,scale=w={w}:h={h}:flags=area,"
                       "format=yuv420p[cam]")
    return "cam"


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` in RGB, without a copy when it already is (the crop that follows makes one)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def build_graph(work: Path, image: Image.Image, size: Size, n: int, camera: CameraPath, seed: int,
                last_image: Image.Image | None, look: Look, track: Future | None = None) -> FrameGraph:
    """The graph of one clip; the pictures' pixels (and ``track``'s samples) are made by ``write_inputs`` later."""
    graph = FrameGraph(work)
    ratio = size[0] / size[1]
    box = crop_box(image.size, ratio)
    first = (box[2] - box[0], box[3] - box[1]), lambda: look.grade(_rgb(image).crop(box))
    label = _camera_part(graph, first, size, n, camera, seed)
    if look.vignette:
        # The lens darkens the frame's corners, so it goes on after the move; last_image stays as it was given.
        graph.parts.append(f"[{label}]vignette=angle={look.vignette:.4f}:dither=0[lens]")
        label = "lens"
    if last_image is not None:
        fade = max(2, round(n * LAST_IMAGE_FADE))
        end_box = crop_box(last_image.size, ratio)
        end = graph.picture("last", (end_box[2] - end_box[0], end_box[3] - end_box[1]),
                            lambda: _rgb(last_image).crop(end_box), "yuv420p", size)
        # A linear crossfade over the last ``fade`` frames; the last frame is last_image itself.
        graph.parts += [f"{end},{repeat(fade)}[end]",
                        f"[{label}][end]xfade=transition=fade:duration={(fade - 1) / FPS:.6f}:"
                        f"offset={(n - fade) / FPS:.6f}[mix]"]
        label = "mix"
    graph.parts.append(f"[{label}]format=yuv420p,{TAG_BT709}[v]")
    if track is not None:
        graph.sound(track)
    return graph


__all__ = ["FrameGraph", "LightBand", "LAST_IMAGE_FADE", "SOURCE_MARGIN", "TAG_BT709", "build_graph",
           "camera_commands", "crop_box", "crop_to_ratio", "fit_to_size", "repeat"]
