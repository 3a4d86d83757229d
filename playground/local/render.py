"""The local renderer: turns a first frame (and optionally a last one) into an MP4 shaped like a Seedance clip.

It stands in for the real video model inside the embedded WaveSpeed-compatible API: same sizes, 24 fps,
``duration x 24`` frames, H.264 + AAC mono, seeded camera motion steered by the prompt. Python prepares each picture
once (crop, scale, the light band of a fixed camera) and the audio track; one ``ffmpeg`` child does the rest: it
repeats the still, moves the camera over it frame by frame (a window cut from the still, driven by a command file
computed from the seeded :class:`~.camera.CameraPath`, and scaled to the output), crossfades into ``last_image`` and
encodes. So encoding, not drawing, sets the pace.

>>> from PIL import Image
>>> stats = render_video(Image.new("RGB", (1280, 720), "teal"), "clip.mp4", resolution="480p", seed=7)  # doctest: +SKIP
>>> (stats.width, stats.height, stats.frames)  # doctest: +SKIP
(864, 496, 120)
"""

from __future__ import annotations

import logging
import math
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from playground.contract import ASPECT_RATIOS, FPS, OUTPUT_SIZES, RESOLUTIONS, closest_ratio, frame_count

from .camera import MAX_ZOOM, MOTIONS, CameraPath, motion_from_prompt, plan_camera
from .looks import PLAIN_MODEL, Look, look_for
from .sound import AUDIO_SAMPLE_RATE, SYNTH_SAMPLE_RATE, synthesize_audio, write_wav

log = logging.getLogger(__name__)

# Encoding sets the pace: ultrafast plus the few tools that pay for themselves on a camera move over a still
# (macroblock-tree rate control, 7 B-frames, adaptive quantisation, sub-pixel motion) takes about 35% less CPU than
# superfast with 3 B-frames, for files about 15% smaller at an SSIM 0.001-0.002 lower (plain ultrafast: files 3x
# larger). Most frames of a smooth move are cheap B-frames.
X264_PRESET = "ultrafast"
X264_PARAMS = "mbtree=1:rc-lookahead=10:bframes=7:aq-mode=1:subme=1"
X264_CRF = 20
# A fixed thread count keeps x264's output identical from run to run.
X264_THREADS = 2
# The source is kept this much larger than the output so zoomed-in views are still downscaled, hence sharp.
SOURCE_MARGIN = 1.3
# Share of the clip spent crossfading into last_image.
LAST_IMAGE_FADE = 1 / 3
# Each picture goes to YUV once, before it is repeated (see _Graph.picture): scaling 4:4:4 frames is several times
# cheaper for ffmpeg than RGB ones (and than 4:2:0 ones cropped at odd offsets, whose chroma jitters), and one scale
# per frame also makes the 4:2:0 the encoder takes.
# Convert with the BT.709 matrix and say so, so browsers show the colours we made.
_TAG_BT709 = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"

Sizes = dict[str, dict[str, tuple[int, int]]]


@dataclass
class RenderStats:
    """What one render produced and where its time went."""

    width: int
    height: int
    frames: int
    fps: int
    has_audio: bool
    frame_seconds: float  # time spent in Python: preparing the pictures and the audio track
    encode_seconds: float  # ffmpeg's wall time: repeating the still, the camera move, the crossfade, encoding
    motion: str = ""

    @property
    def total_seconds(self) -> float:
        return self.frame_seconds + self.encode_seconds


def crop_to_ratio(image: Image.Image, ratio: float) -> Image.Image:
    """The largest centred region of ``image`` with width/height == ``ratio``."""
    w, h = image.size
    if w / h > ratio:
        cw, ch = max(1, round(h * ratio)), h
    else:
        cw, ch = w, max(1, round(w / ratio))
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


def fit_to_size(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` centre-cropped to the ratio of ``size`` and scaled to it: how an input becomes an output frame."""
    rgb = image.convert("RGB")
    return crop_to_ratio(rgb, size[0] / size[1]).resize(size, Image.Resampling.LANCZOS)


class _LightBand:
    """A soft band of light drifting across a fixed frame, so a locked-off clip is not a still.

    ``image`` is the band (RGBA, its light in the alpha); ffmpeg overlays it at :meth:`x_expression` per frame.
    """

    def __init__(self, size: tuple[int, int], rng: np.random.Generator) -> None:
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
class _Graph:
    """What ffmpeg reads (input arguments) and the filter graph that makes the clip's frames, labelled ``[v]``."""

    work: Path
    inputs: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    count: int = 0
    stdin: bytes | None = None  # the first picture's pixels, which ffmpeg reads from its standard input

    def picture(self, name: str, image: Image.Image, fmt: str, size: tuple[int, int] | None = None) -> str:
        """Add ``image`` (RGB or RGBA) as a one-frame raw input; the start of its chain: ``[i:v]`` scaled to ``size``
        (Lanczos, in ffmpeg: much cheaper than PIL) and converted to the YUV ``fmt``, once, before it repeats."""
        if size is not None:
            # A big picture is first reduced by a whole factor (a cheap box filter), keeping at least twice the size.
            factor = int(min(image.width / size[0], image.height / size[1]) / 2)
            if factor >= 2:
                image = image.reduce(factor)
        if self.count == 0:
            # The first picture (the still) goes through a pipe: no file of a few MB to write and delete.
            self.stdin, source = image.tobytes(), "pipe:0"
        else:
            path = self.work / f"{name}.raw"
            path.write_bytes(image.tobytes())
            source = str(path)
        pix_fmt = "rgba" if image.mode == "RGBA" else "rgb24"
        w, h = image.size
        self.inputs += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{w}x{h}", "-framerate", str(FPS),
                        "-i", source]
        self.count += 1
        scale = f"w={size[0]}:h={size[1]}:flags=lanczos:" if size is not None and size != image.size else ""
        return f"[{self.count - 1}:v]scale={scale}out_color_matrix=bt709:out_range=tv,format={fmt}"

    def sound(self, samples: np.ndarray) -> int:
        """Add a mono track made at SYNTH_SAMPLE_RATE as a WAV input; its input index."""
        path = self.work / "audio.wav"
        write_wav(path, samples, SYNTH_SAMPLE_RATE)
        self.inputs += ["-i", str(path)]
        self.count += 1
        return self.count - 1

    def filters(self) -> str:
        return ";".join(self.parts)


def _repeat(n: int) -> str:
    """Filters turning one frame into ``n`` frames at 24 fps."""
    return f"loop=loop={n - 1}:size=1:start=0,setpts=N/({FPS}*TB)"


def _filter_path(path: Path) -> str:
    """A file name quoted for a filter graph option."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "'\\''").replace(":", "\\:") + "'"


def _camera_commands(boxes: list[tuple[int, int, int, int]]) -> str:
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


def _camera_part(graph: _Graph, first: Image.Image, size: tuple[int, int], n: int, camera: CameraPath,
                 seed: int) -> None:
    """The moving (or, for a fixed camera, lit) picture as ``[cam]``: ``n`` frames of ``size``."""
    w, h = size
    if camera.name == "static":
        still = graph.picture("still", first, "yuv420p", size)
        band = _LightBand(size, np.random.default_rng([seed, 0x5EEB]))
        light = graph.picture("band", band.image, "yuva420p")
        graph.parts += [f"{still},{_repeat(n)}[still]", f"{light},{_repeat(n)}[band]",
                        f"[still][band]overlay=x='{band.x_expression(n)}':y=0:format=yuv420:eval=frame[cam]"]
        return
    source = (round(w * SOURCE_MARGIN), round(h * SOURCE_MARGIN))
    still = graph.picture("still", first, "yuv444p", source)
    boxes = [camera.box(i / (n - 1) if n > 1 else 1.0, source) for i in range(n)]
    commands = graph.work / "camera.cmd"
    commands.write_text(_camera_commands(boxes))
    bw, bh, x, y = boxes[0]
    # Cut each frame's window from the still, then one scale to the output size and to 4:2:0 at once.
    graph.parts.append(f"{still},{_repeat(n)},sendcmd=f={_filter_path(commands)},"
                       f"crop@cam=w={bw}:h={bh}:x={x}:y={y}:exact=1,scale=w={w}:h={h}:flags=area,"
                       "format=yuv420p[cam]")


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` in RGB, without a copy when it already is (the crop that follows makes one)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _build_graph(work: Path, image: Image.Image, size: tuple[int, int], n: int, camera: CameraPath, seed: int,
                 last_image: Image.Image | None, look: Look) -> _Graph:
    graph = _Graph(work)
    first = look.grade(crop_to_ratio(_rgb(image), size[0] / size[1]))
    _camera_part(graph, first, size, n, camera, seed)
    label = "cam"
    if look.vignette:
        # The lens darkens the frame's corners, so it goes on after the move; last_image stays as it was given.
        graph.parts.append(f"[cam]vignette=angle={look.vignette:.4f}:dither=0[lens]")
        label = "lens"
    if last_image is not None:
        fade = max(2, round(n * LAST_IMAGE_FADE))
        end = graph.picture("last", crop_to_ratio(_rgb(last_image), size[0] / size[1]), "yuv420p", size)
        # A linear crossfade over the last ``fade`` frames; the last frame is last_image itself.
        graph.parts += [f"{end},{_repeat(fade)}[end]",
                        f"[{label}][end]xfade=transition=fade:duration={(fade - 1) / FPS:.6f}:"
                        f"offset={(n - fade) / FPS:.6f}[mix]"]
        label = "mix"
    graph.parts.append(f"[{label}]format=yuv420p,{_TAG_BT709}[v]")
    return graph


def _encoder_args(n: int, audio: int | None, out: Path | None) -> list[str]:
    """Maps and codecs; ``out`` None discards the frames (measuring the drawing alone)."""
    args = ["-map", "[v]"] + (["-map", f"{audio}:a:0"] if audio is not None else []) + ["-frames:v", str(n)]
    if out is None:
        return args + ["-f", "null", "-"]
    args += ["-c:v", "libx264", "-preset", X264_PRESET, "-x264-params", X264_PARAMS, "-crf", str(X264_CRF),
             "-threads", str(X264_THREADS),
             # A keyframe every 2 s keeps seeking in the browser snappy.
             "-g", str(2 * FPS), "-r", str(FPS)]
    if audio is not None:
        # The fast coder takes about a third of the default's CPU for a file of the same size.
        args += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "96k", "-ac", "1", "-ar", str(AUDIO_SAMPLE_RATE)]
    return args + ["-movflags", "+faststart", "-f", "mp4", str(out)]


def _run_ffmpeg(args: list[str], what: str, stdin: bytes | None = None) -> None:
    # One thread per filter graph: slicing each frame's scale over threads costs more in waiting than it saves
    # (the encoder has its own threads), and much more on a busy machine.
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
           "-filter_complex_threads", "1", *args]
    with tempfile.TemporaryFile() as stderr:
        code = subprocess.run(cmd, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=stderr, check=False).returncode
        if code != 0:
            raise RuntimeError(f"ffmpeg failed with exit code {code} writing {what}: {_tail(stderr)}")


def _check_request(resolution: str, aspect_ratio: str | None, duration: int, seed: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution: {resolution!r} is not supported; choose one of {', '.join(RESOLUTIONS)}")
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        raise ValueError(f"aspect_ratio: {aspect_ratio!r} is not supported; choose one of {', '.join(ASPECT_RATIOS)}")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1:
        raise ValueError(f"duration: expected a whole number of seconds >= 1, got {duration!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0 (resolve -1 to a concrete seed first), got {seed!r}")


def render_video(
    image: Image.Image,
    out_path: str | Path | None,
    *,
    resolution: str = "720p",
    aspect_ratio: str | None = None,
    duration: int = 5,
    seed: int = 0,
    prompt: str | None = None,
    camera_fixed: bool = False,
    last_image: Image.Image | None = None,
    generate_audio: bool = True,
    sizes: Sizes | None = None,
    model_id: str = PLAIN_MODEL,
    continuation: bool = False,
) -> RenderStats:
    """Render a clip from ``image`` to ``out_path`` (MP4, H.264 yuv420p, 24 fps, AAC mono when audio is on).

    The size comes from ``sizes`` (default: the Seedance 1.5 table) for the resolution and ``aspect_ratio``
    (omitted: the ratio closest to the image); the image is centre-cropped to it. The camera move is chosen by
    ``seed`` and steered by words in ``prompt`` ("zoom in", "pan left", "static", ...). With ``last_image`` the clip
    crossfades into it and ends on it. ``model_id`` gives the clip its model's look (:mod:`.looks`: a grade, a
    vignette and a say in the camera move), so models differ at one seed. A ``continuation`` (video-extend) starts on
    ``image`` itself, whole and ungraded, and eases into its move. The file appears at ``out_path`` only
    once complete; ``out_path`` None makes every frame and discards it (the benchmark's measure of drawing alone).
    Raises ValueError for unsupported parameters and RuntimeError when ffmpeg fails.

    >>> render_video(img, "out.mp4", resolution="480p", aspect_ratio="16:9", prompt="slow zoom in")  # doctest: +SKIP
    """
    _check_request(resolution, aspect_ratio, duration, seed)
    ratio = aspect_ratio or closest_ratio(*image.size)
    w, h = size = (sizes or OUTPUT_SIZES)[resolution][ratio]
    n = frame_count(duration)
    out = Path(out_path) if out_path is not None else None
    look = look_for(model_id).without_grade() if continuation else look_for(model_id)
    camera = plan_camera(seed, prompt, camera_fixed, salt=look.salt, from_whole=continuation)
    name = out.name if out is not None else "(discarded)"
    log.info("rendering %s: %dx%d, %d frames, seed %d, camera %s, look %s, audio %s, last_image %s",
             name, w, h, n, seed, camera.name, look.name, generate_audio, last_image is not None)

    started = time.perf_counter()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.stem if out else 'render'}.", dir=out and out.parent) as tmp:
        with ThreadPoolExecutor(1, thread_name_prefix="playground-local-audio") as pool:
            # The soundtrack is made while the pictures are prepared (numpy and PIL let go of the GIL).
            track = pool.submit(synthesize_audio, seed, float(duration), SYNTH_SAMPLE_RATE) if generate_audio else None
            graph = _build_graph(Path(tmp), image, size, n, camera, seed, last_image, look)
            audio = graph.sound(track.result()) if track is not None else None
        part = Path(tmp) / "clip.mp4" if out is not None else None
        prepared = time.perf_counter()
        _run_ffmpeg([*graph.inputs, "-filter_complex", graph.filters(), *_encoder_args(n, audio, part)], name,
                    graph.stdin)
        if part is not None:
            part.replace(out)
    frame_seconds = prepared - started
    stats = RenderStats(w, h, n, FPS, generate_audio, frame_seconds, time.perf_counter() - prepared, camera.name)
    log.info("rendered %s in %.2f s (pictures %.2f s, ffmpeg %.2f s)", name, stats.total_seconds, frame_seconds,
             stats.encode_seconds)
    return stats


PROTOCOL_CLIP_SIZE = (64, 64)
_protocol_clip: bytes | None = None
_protocol_lock = threading.Lock()


def protocol_clip() -> bytes:
    """A tiny valid MP4 (64x64, H.264 yuv420p, 24 frames at 24 fps, no audio), encoded once per process.

    The output of every task in protocol render mode: the API's behaviour without the cost of rendering.
    """
    global _protocol_clip
    with _protocol_lock:
        if _protocol_clip is None:
            _protocol_clip = _encode_protocol_clip()
        return _protocol_clip


def _encode_protocol_clip() -> bytes:
    w, h = PROTOCOL_CLIP_SIZE
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    frame = Image.fromarray(np.stack([x + 0 * y, y + 0 * x, 255 - (x + y) / 2], -1).astype(np.uint8))
    with tempfile.TemporaryDirectory(prefix="playground-protocol-") as tmp:
        graph = _Graph(Path(tmp))
        graph.parts.append(f"{graph.picture('frame', frame, 'yuv420p')},{_repeat(FPS)},{_TAG_BT709}[v]")
        out = Path(tmp) / "clip.mp4"
        _run_ffmpeg([*graph.inputs, "-filter_complex", graph.filters(), *_encoder_args(FPS, None, out)],
                    "the protocol clip", graph.stdin)
        data = out.read_bytes()
    log.info("protocol clip encoded: %d bytes", len(data))
    return data


def _tail(stderr_file, limit: int = 2000) -> str:
    stderr_file.flush()
    stderr_file.seek(0)
    text = stderr_file.read().decode("utf-8", "replace").strip()
    return text[-limit:] if text else "(no output on stderr)"


__all__ = ["RenderStats", "render_video", "protocol_clip", "plan_camera", "motion_from_prompt", "synthesize_audio",
           "fit_to_size", "crop_to_ratio", "CameraPath", "MOTIONS", "MAX_ZOOM"]
