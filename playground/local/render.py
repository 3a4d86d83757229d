"""The local renderer: turns a first frame (and optionally a last one) into an MP4 shaped like a Seedance clip.

It stands in for the real video model inside the embedded WaveSpeed-compatible API: same sizes, 24 fps,
``duration x 24`` frames, H.264 + AAC mono, seeded camera motion steered by the prompt. One ``ffmpeg`` child is
started at once; while it loads, Python prepares each picture once (crop, grade, the light band of a fixed camera)
and the audio track, for the filter graph :mod:`.framegraph` built; then ffmpeg does the rest: it repeats the still,
moves the camera over it frame by frame (a window cut from the still, driven by a command file computed from the
seeded :class:`~.camera.CameraPath`, and scaled to the output), crossfades into ``last_image`` and encodes. So
encoding, not drawing, sets the pace.

>>> from PIL import Image
>>> stats = render_video(Image.new("RGB", (1280, 720), "teal"), "clip.mp4", resolution="480p", seed=7)  # doctest: +SKIP
>>> (stats.width, stats.height, stats.frames)  # doctest: +SKIP
(864, 496, 120)
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from playground.contract import ASPECT_RATIOS, FPS, OUTPUT_SIZES, RESOLUTIONS, closest_ratio, frame_count

from .camera import MAX_ZOOM, MOTIONS, CameraPath, motion_from_prompt, plan_camera
from .framegraph import SOURCE_MARGIN, TAG_BT709, FrameGraph, build_graph, crop_to_ratio, fit_to_size, repeat
from .looks import PLAIN_MODEL, look_for
from .sound import AUDIO_SAMPLE_RATE, soundtrack, synthesize_audio

log = logging.getLogger(__name__)

# Encoding sets the pace: ultrafast plus the few tools that pay for themselves on a camera move over a still
# (7 B-frames, adaptive quantisation, sub-pixel motion) took about 35% less CPU than superfast with 3 B-frames, for
# files about 15% smaller at an SSIM 0.001-0.002 lower (plain ultrafast: files 3x larger). Most frames of a smooth
# move are cheap B-frames; none is kept as a reference (b-pyramid off): about 4% less CPU for the same size and SSIM.
# Fixed quantiser ratios between frame types (B-frames' 2.5x P-frames', I-frames' 1/1.6 of them) replace
# macroblock-tree rate control and its lookahead: 17% less encoder CPU at 480p, 24% at 720p, for files 5% (orbit) to
# 25% (pan) larger at an SSIM as high or higher (0.978 and 0.983 at 480p against the unencoded frames, 0.977 and
# 0.982 before; with neither, files twice as large).
# With no lookahead no slice-type decision depends on thread timing (sync-lookahead=0 would keep it so if one came
# back): the same seed gives the same clip on a busy machine too.
X264_PRESET = "ultrafast"
X264_PARAMS = "mbtree=0:rc-lookahead=0:pbratio=2.5:ipratio=1.6:bframes=7:b-pyramid=0:aq-mode=1:subme=1:sync-lookahead=0"
X264_CRF = 20
# A fixed thread count keeps x264's output identical from run to run.
X264_THREADS = 2

Sizes = dict[str, dict[str, tuple[int, int]]]


@dataclass
class RenderStats:
    """What one render produced and where its time went."""

    width: int
    height: int
    frames: int
    fps: int
    has_audio: bool
    frame_seconds: float  # Python's, until the still is sent: pictures and audio (ffmpeg loads meanwhile)
    encode_seconds: float  # then ffmpeg's: repeating the still, the camera move, the crossfade, encoding
    motion: str = ""

    @property
    def total_seconds(self) -> float:
        return self.frame_seconds + self.encode_seconds


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
        # The fast coder takes about a third of the default's CPU for a file of the same size; a mono ambient pad
        # needs no more than 64 kb/s (a quarter less CPU than 96).
        args += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "64k", "-ac", "1", "-ar", str(AUDIO_SAMPLE_RATE)]
    return args + ["-movflags", "+faststart", "-f", "mp4", str(out)]


class _Ffmpeg:
    """One ffmpeg child, started before its inputs are ready: it loads (tens of milliseconds) while Python makes the
    pictures, then reads the still from its standard input. Killed if the render fails before it is fed."""

    def __init__(self, args: list[str], what: str) -> None:
        # One thread per filter graph: slicing each frame's scale over threads costs more in waiting than it saves
        # (the encoder has its own threads), and much more on a busy machine. So does spreading the frames over two
        # graphs (every other frame each, in threads of their own): drawing alone took a fifth less wall time at
        # 480p, but a render 0.04 CPU-s more and about as much more wall time.
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
               "-filter_complex_threads", "1", *args]
        self.what = what
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def __enter__(self) -> _Ffmpeg:
        return self

    def feed(self, stdin: bytes) -> None:
        """Send ``stdin``, wait for ffmpeg to finish; RuntimeError with its message if it failed."""
        try:
            self.process.stdin.write(stdin)
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its exit code and message say why
        code = self.process.wait()
        if code != 0:
            raise RuntimeError(f"ffmpeg failed with exit code {code} writing {self.what}: {_tail(self.stderr)}")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        self.stderr.close()


def _run_ffmpeg(args: list[str], what: str, stdin: bytes) -> None:
    with _Ffmpeg(args, what) as ffmpeg:
        ffmpeg.feed(stdin)


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
    with (tempfile.TemporaryDirectory(prefix=f".{out.stem if out else 'render'}.", dir=out and out.parent) as tmp,
          ThreadPoolExecutor(1, thread_name_prefix="playground-local-audio") as pool):
        # The soundtrack is made while ffmpeg starts and the pictures are made (numpy and PIL let go of the GIL).
        track = pool.submit(soundtrack, seed, duration) if generate_audio else None
        graph = build_graph(Path(tmp), image, size, n, camera, seed, last_image, look, track)
        part = Path(tmp) / "clip.mp4" if out is not None else None
        with _Ffmpeg([*graph.inputs, "-filter_complex", graph.filters(), *_encoder_args(n, graph.audio, part)],
                     name) as ffmpeg:
            still, prepared = graph.write_inputs(), time.perf_counter()
            ffmpeg.feed(still)
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
        graph = FrameGraph(Path(tmp))
        graph.parts.append(f"{graph.picture('frame', frame.size, lambda: frame, 'yuv420p')},{repeat(FPS)},"
                           f"{TAG_BT709}[v]")
        out = Path(tmp) / "clip.mp4"
        args = [*graph.inputs, "-filter_complex", graph.filters(), *_encoder_args(FPS, None, out)]
        _run_ffmpeg(args, "the protocol clip", graph.write_inputs())
        data = out.read_bytes()
    log.info("protocol clip encoded: %d bytes", len(data))
    return data


def _tail(stderr_file, limit: int = 2000) -> str:
    stderr_file.flush()
    stderr_file.seek(0)
    text = stderr_file.read().decode("utf-8", "replace").strip()
    return text[-limit:] if text else "(no output on stderr)"


__all__ = ["RenderStats", "render_video", "protocol_clip", "plan_camera", "motion_from_prompt", "synthesize_audio",
           "fit_to_size", "crop_to_ratio", "CameraPath", "MOTIONS", "MAX_ZOOM", "SOURCE_MARGIN"]
