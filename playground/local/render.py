"""The local renderer: turns a first frame (and optionally a last one) into an MP4 shaped like a Seedance clip.

It stands in for the real video model inside the embedded WaveSpeed-compatible API: same sizes, 24 fps,
``duration x 24`` frames, H.264 + AAC mono, seeded camera motion steered by the prompt. Frames are made with PIL
in this process and piped as raw RGB to an ``ffmpeg`` child, so making frames and encoding them overlap.

>>> from PIL import Image
>>> stats = render_video(Image.new("RGB", (1280, 720), "teal"), "clip.mp4", resolution="480p", seed=7)  # doctest: +SKIP
>>> (stats.width, stats.height, stats.frames)  # doctest: +SKIP
(864, 496, 120)
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageChops

from playground.contract import ASPECT_RATIOS, FPS, RESOLUTIONS, SPICY, frame_count, output_size

log = logging.getLogger(__name__)

AUDIO_SAMPLE_RATE = 48_000
# veryfast costs little more than ultrafast here (frame making dominates) and makes files about 5x smaller.
X264_PRESET = "veryfast"
X264_CRF = 20
# A fixed thread count keeps x264's output identical from run to run.
X264_THREADS = 2
# The source is kept this much larger than the output so zoomed-in views are still downscaled, hence sharp.
SOURCE_MARGIN = 1.3
MAX_ZOOM = 1.5
# Share of the clip spent crossfading into last_image.
LAST_IMAGE_FADE = 1 / 3

MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit", "dolly")

# Prompt phrases that choose the camera move; checked in order, first match wins.
_PROMPT_MOTIONS: tuple[tuple[str, str], ...] = (
    (r"\b(static|still|locked|locked[- ]off|fixed camera|tripod)\b", "static"),
    (r"\b(zoom(s|ing)? out|pull(s|ing)? (back|out)|dolly(ing)? out|wide(ns|ning)? out)\b", "zoom_out"),
    (r"\b(zoom(s|ing)? in|push(es|ing)? in|dolly(ing)? in|close[- ]up)\b", "zoom_in"),
    (r"\bpan(s|ning)? (to the )?left\b", "pan_left"),
    (r"\bpan(s|ning)? (to the )?right\b", "pan_right"),
    (r"\btilt(s|ing)? up\b", "tilt_up"),
    (r"\btilt(s|ing)? down\b", "tilt_down"),
    (r"\b(orbit(s|ing)?|arc(s|ing)?|circl(e|es|ing)|rotat(e|es|ing) around)\b", "orbit"),
    (r"\b(dolly|tracking shot|track(s|ing)?)\b", "dolly"),
)


@dataclass
class RenderStats:
    """What one render produced and where its time went."""

    width: int
    height: int
    frames: int
    fps: int
    has_audio: bool
    frame_seconds: float  # time spent making frames (PIL/numpy) and the audio track
    encode_seconds: float  # wall time not spent making frames: waiting on ffmpeg to encode and mux
    motion: str = ""

    @property
    def total_seconds(self) -> float:
        return self.frame_seconds + self.encode_seconds


@dataclass(frozen=True)
class CameraPath:
    """A camera move as zoom and view centre over normalised time t in [0, 1].

    ``x``/``y`` run from -1 to 1 across the slack the zoom leaves (so the view never leaves the image); the
    ``wobble_*`` terms add a slow seeded drift so two seeds with the same move still differ.
    """

    name: str
    zoom0: float = 1.0
    zoom1: float = 1.0
    x0: float = 0.0
    x1: float = 0.0
    y0: float = 0.0
    y1: float = 0.0
    orbit_radius: float = 0.0
    orbit_turns: float = 0.0
    phase: float = 0.0
    wobble: float = 0.0
    wobble_freq: float = 1.0

    def at(self, t: float) -> tuple[float, float, float]:
        e = _ease(t)
        zoom = self.zoom0 + (self.zoom1 - self.zoom0) * e
        angle = self.phase + 2 * math.pi * self.orbit_turns * e
        x = self.x0 + (self.x1 - self.x0) * e + self.orbit_radius * math.cos(angle)
        y = self.y0 + (self.y1 - self.y0) * e + self.orbit_radius * math.sin(angle)
        # The wobble starts at zero so frame 0 is exactly the path's start.
        w = self.wobble * math.sin(2 * math.pi * self.wobble_freq * t)
        x += w * math.cos(self.phase * 1.7)
        y += w * math.sin(self.phase * 1.3)
        return zoom, max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y))


def _ease(t: float) -> float:
    """Cosine ease-in-out: the camera starts and stops gently."""
    return 0.5 - 0.5 * math.cos(math.pi * max(0.0, min(1.0, t)))


def motion_from_prompt(prompt: str | None) -> str | None:
    """The camera move a prompt asks for ("zoom in", "pan left", "static", ...), or None to let the seed choose."""
    if not prompt:
        return None
    text = prompt.lower()
    for pattern, motion in _PROMPT_MOTIONS:
        if re.search(pattern, text):
            return motion
    return None


def _speed_from_prompt(prompt: str | None) -> float:
    if not prompt:
        return 1.0
    text = prompt.lower()
    if re.search(r"\b(slow(ly)?|gentle|gently|subtle|subtly)\b", text):
        return 0.6
    if re.search(r"\b(fast|quick(ly)?|rapid(ly)?|dramatic|swift(ly)?)\b", text):
        return 1.4
    return 1.0


def plan_camera(seed: int, prompt: str | None = None, camera_fixed: bool = False) -> CameraPath:
    """The seeded camera move for a clip; the prompt may name the move, ``camera_fixed`` or "static" stop it."""
    rng = np.random.default_rng(seed)
    # Draw every random number up front so the prompt changes the move, not the rest of the seeded choices.
    pick = MOTIONS[int(rng.integers(len(MOTIONS)))]
    amount = float(rng.uniform(0.18, 0.32))
    drift_x, drift_y = (float(v) for v in rng.uniform(-0.35, 0.35, size=2))
    phase = float(rng.uniform(0, 2 * math.pi))
    turns = float(rng.uniform(0.35, 0.7)) * (1 if rng.random() < 0.5 else -1)
    wobble = float(rng.uniform(0.04, 0.12))
    wobble_freq = float(rng.uniform(0.4, 1.2))
    side = 1.0 if rng.random() < 0.5 else -1.0

    asked = motion_from_prompt(prompt)
    if camera_fixed or asked == "static":
        return CameraPath("static")
    name = asked or pick
    amount = min(MAX_ZOOM - 1, amount * _speed_from_prompt(prompt))
    # Prompted moves keep their drift small so the asked-for direction dominates.
    drift = 0.4 if asked else 1.0
    common = {"phase": phase, "wobble": wobble * drift, "wobble_freq": wobble_freq}
    z = 1 + amount
    span = min(1.0, 0.35 + 2.5 * amount)
    if name == "zoom_in":
        return CameraPath(name, 1.0, z, 0, drift_x * drift, 0, drift_y * drift, **common)
    if name == "zoom_out":
        return CameraPath(name, z, 1.0, drift_x * drift, 0, drift_y * drift, 0, **common)
    if name in ("pan_left", "pan_right"):
        sign = -1 if name == "pan_left" else 1
        return CameraPath(name, z, z, -sign * span, sign * span, drift_y * drift, -drift_y * drift, **common)
    if name in ("tilt_up", "tilt_down"):
        sign = -1 if name == "tilt_up" else 1
        return CameraPath(name, z, z, drift_x * drift, -drift_x * drift, -sign * span, sign * span, **common)
    if name == "orbit":
        # Circle around the centre; the clamp in CameraPath.at keeps the view inside the image.
        return CameraPath(name, z, z + 0.05 * side, orbit_radius=0.75, orbit_turns=turns, **common)
    return CameraPath("dolly", 1.0, min(MAX_ZOOM, 1 + amount * 1.3), 0, side * 0.8, 0, drift_y * drift, **common)


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


class _LightSweep:
    """A soft band of light drifting across a fixed frame, so a locked-off clip is not a still."""

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
        strip_w = 2 * (w + self.margin)
        xs = np.arange(strip_w, dtype=np.float32)[None, :] + slant * (np.arange(h, dtype=np.float32)[:, None] - h / 2)
        profile = np.exp(-(((xs - strip_w / 2) / width) ** 2)) * amplitude
        strip = (profile[:, :, None] * tint[None, None, :]).clip(0, 255).astype(np.uint8)
        self.strip = Image.fromarray(strip, "RGB")

    def apply(self, frame: Image.Image, t: float) -> Image.Image:
        w, h = self.size
        # Each frame shows a w-wide window of the strip; moving the window walks the band across the picture.
        progress = t if self.direction > 0 else 1 - t
        centre = -self.margin + progress * (w + 2 * self.margin)
        left = int(round(self.strip.width / 2 - centre))
        return ImageChops.add(frame, self.strip.crop((left, 0, left + w, h)))


def synthesize_audio(seed: int, seconds: float, sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A seeded ambient pad (a few sine tones) over band-passed noise, mono int16, exactly ``seconds`` long."""
    rng = np.random.default_rng([seed, 0xA0D10])
    n = int(round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
    intervals = [0, int(rng.choice([3, 4])), 7, 12 + int(rng.choice([0, 2, 7]))]
    signal = np.zeros(n)
    for semitones in intervals:
        freq = root * 2 ** (semitones / 12) * (1 + rng.uniform(-0.002, 0.002))
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
        signal += swell * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) / len(intervals)
    # Noise band-passed in the frequency domain (no per-sample loop) sounds like air or distant surf.
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    centre, width = rng.uniform(300, 1500), rng.uniform(200, 800)
    spectrum *= np.exp(-(((freqs - centre) / width) ** 2))
    noise = np.fft.irfft(spectrum, n)
    noise /= max(1e-9, float(np.abs(noise).max()))
    surf = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.08, 0.25) * t + rng.uniform(0, 2 * np.pi))
    signal = 0.7 * signal + 0.3 * noise * surf
    fade = np.minimum(1.0, np.minimum(t / 0.3, (seconds - t) / 0.5))
    signal *= np.clip(fade, 0.0, 1.0)
    peak = max(1e-9, float(np.abs(signal).max()))
    return (signal / peak * 0.35 * 32767).astype(np.int16)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.tobytes())


def _ffmpeg_command(size: tuple[int, int], out: Path, audio: Path | None) -> list[str]:
    w, h = size
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "pipe:0",
    ]
    if audio is not None:
        cmd += ["-i", str(audio)]
    cmd += ["-map", "0:v:0"]
    if audio is not None:
        cmd += ["-map", "1:a:0"]
    cmd += [
        # Convert with the BT.709 matrix and say so, so browsers show the colours we made.
        "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
               "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-threads", str(X264_THREADS),
        # A keyframe every 2 s keeps seeking in the browser snappy.
        "-g", str(2 * FPS),
    ]
    if audio is not None:
        cmd += ["-c:a", "aac", "-b:a", "96k", "-ac", "1", "-ar", str(AUDIO_SAMPLE_RATE)]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(out)]
    return cmd


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
    out_path: str | Path,
    *,
    resolution: str = "720p",
    aspect_ratio: str | None = None,
    duration: int = 5,
    seed: int = 0,
    prompt: str | None = None,
    camera_fixed: bool = False,
    last_image: Image.Image | None = None,
    generate_audio: bool = True,
    model_id: str = SPICY,
) -> RenderStats:
    """Render a clip from ``image`` to ``out_path`` (MP4, H.264 yuv420p, 24 fps, AAC mono when audio is on).

    The size follows the contract for ``model_id`` (``aspect_ratio`` omitted: the ratio closest to the image);
    the image is centre-cropped to it. The camera move is chosen by ``seed`` and steered by words in ``prompt``
    ("zoom in", "pan left", "static", ...). With ``last_image`` the clip crossfades into it and ends on it.
    The file appears at ``out_path`` only once complete. Raises ValueError for unsupported parameters and
    RuntimeError when ffmpeg fails.

    >>> render_video(img, "out.mp4", resolution="480p", aspect_ratio="16:9", prompt="slow zoom in")  # doctest: +SKIP
    """
    _check_request(resolution, aspect_ratio, duration, seed)
    size = output_size(resolution, aspect_ratio, image_size=image.size, model_id=model_id)
    w, h = size
    n = frame_count(duration)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    camera = plan_camera(seed, prompt, camera_fixed)
    log.info("rendering %s: %dx%d, %d frames, seed %d, camera %s, audio %s, last_image %s",
             out.name, w, h, n, seed, camera.name, generate_audio, last_image is not None)

    wall_start = time.perf_counter()
    frame_seconds = 0.0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".part.mp4", dir=out.parent)
    os.close(fd)
    tmp_video = Path(tmp_name)
    tmp_audio: Path | None = None
    try:
        if generate_audio:
            started = time.perf_counter()
            fd, audio_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".wav", dir=out.parent)
            os.close(fd)
            tmp_audio = Path(audio_name)
            _write_wav(tmp_audio, synthesize_audio(seed, float(duration)), AUDIO_SAMPLE_RATE)
            frame_seconds += time.perf_counter() - started

        frames = _frames(image, size, n, camera, seed, last_image)
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(_ffmpeg_command(size, tmp_video, tmp_audio), stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                while True:
                    started = time.perf_counter()
                    frame = next(frames, None)
                    data = frame.tobytes() if frame is not None else b""
                    frame_seconds += time.perf_counter() - started
                    if frame is None:
                        break
                    proc.stdin.write(data)
                proc.stdin.close()
            except (BrokenPipeError, OSError) as exc:
                # ffmpeg closed its input because it is exiting; let it finish writing why before reading stderr.
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise RuntimeError(f"ffmpeg stopped while receiving frames ({exc}): {_tail(stderr)}") from None
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            code = proc.wait()
            if code != 0:
                raise RuntimeError(f"ffmpeg failed with exit code {code} writing {out.name}: {_tail(stderr)}")
        os.replace(tmp_video, out)
    finally:
        tmp_video.unlink(missing_ok=True)
        if tmp_audio is not None:
            tmp_audio.unlink(missing_ok=True)

    wall = time.perf_counter() - wall_start
    stats = RenderStats(w, h, n, FPS, generate_audio, frame_seconds, max(0.0, wall - frame_seconds), camera.name)
    log.info("rendered %s in %.2f s (frames %.2f s, encode %.2f s)", out.name, wall, frame_seconds,
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
    frame = np.stack([x + 0 * y, y + 0 * x, 255 - (x + y) / 2], -1).astype(np.uint8).tobytes()
    with tempfile.TemporaryDirectory(prefix="playground-protocol-") as tmp:
        out = Path(tmp) / "clip.mp4"
        with tempfile.TemporaryFile() as stderr:
            done = subprocess.run(_ffmpeg_command(PROTOCOL_CLIP_SIZE, out, None), input=frame * FPS,
                                  stdout=subprocess.DEVNULL, stderr=stderr, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"ffmpeg failed with exit code {done.returncode} writing the protocol clip: "
                                   f"{_tail(stderr)}")
        data = out.read_bytes()
    log.info("protocol clip encoded: %d bytes", len(data))
    return data


def _frames(image: Image.Image, size: tuple[int, int], n: int, camera: CameraPath, seed: int,
            last_image: Image.Image | None) -> Iterator[Image.Image]:
    """The clip's frames in order; preparation happens on the first ``next`` so it counts as frame time."""
    w, h = size
    first = crop_to_ratio(image.convert("RGB"), w / h)
    if camera.name != "static":
        source = first.resize((round(w * SOURCE_MARGIN), round(h * SOURCE_MARGIN)), Image.Resampling.LANCZOS)
        sweep = still = None
    else:
        source = None
        still = first.resize(size, Image.Resampling.LANCZOS)
        sweep = _LightSweep(size, np.random.default_rng([seed, 0x5EEB]))
    target = fit_to_size(last_image, size) if last_image is not None else None
    fade_start = n - max(1, round(n * LAST_IMAGE_FADE)) if target is not None else n
    for i in range(n):
        t = i / (n - 1) if n > 1 else 1.0
        frame = _camera_frame(source, size, camera.at(t)) if source is not None else sweep.apply(still, t)
        if target is not None and i >= fade_start:
            if i == n - 1:
                # The last frame is last_image itself, untouched by motion or blending.
                frame = target
            else:
                frame = Image.blend(frame, target, _ease((i - fade_start + 1) / (n - fade_start)))
        yield frame


def _camera_frame(source: Image.Image, size: tuple[int, int], view: tuple[float, float, float]) -> Image.Image:
    zoom, x, y = view
    sw, sh = source.size
    vw, vh = sw / zoom, sh / zoom
    # x and y span the slack the view leaves inside the source, so the view never shows past the image's edge.
    cx = sw / 2 + x * (sw - vw) / 2
    cy = sh / 2 + y * (sh - vh) / 2
    box = (cx - vw / 2, cy - vh / 2, cx + vw / 2, cy + vh / 2)
    return source.resize(size, Image.Resampling.BILINEAR, box=box)


def _tail(stderr_file, limit: int = 2000) -> str:
    stderr_file.flush()
    stderr_file.seek(0)
    text = stderr_file.read().decode("utf-8", "replace").strip()
    return text[-limit:] if text else "(no output on stderr)"


__all__ = ["RenderStats", "render_video", "protocol_clip", "plan_camera", "motion_from_prompt", "synthesize_audio",
           "fit_to_size", "crop_to_ratio", "CameraPath", "MOTIONS"]
