"""Looking inside videos on disk: probe their streams and read frames (no ffprobe needed).

>>> info = probe("clip.mp4")  # doctest: +SKIP
>>> (info.width, info.height, info.fps, info.frames, info.has_audio)  # doctest: +SKIP
(864, 496, 24.0, 120, True)
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import OutputInvalid
from .status import COMPLETED

log = logging.getLogger(__name__)


class NotAVideo(OutputInvalid, ValueError):
    """:func:`probe` could not read the file as a video (a ValueError too, for callers that catch that)."""


_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as a player would report it."""

    path: str
    width: int
    height: int
    fps: float
    frames: int
    duration: float  # seconds, from the container
    has_audio: bool
    audio_channels: int | None
    audio_sample_rate: int | None
    video_codec: str
    pix_fmt: str
    size_bytes: int


def _ffmpeg_banner(path: Path) -> str:
    # Without an output ffmpeg exits non-zero after describing the input on stderr; that description is all we want.
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, timeout=60)
    return result.stderr.decode("utf-8", "replace")


def _parse_fps(video_line: str) -> float | None:
    for unit in ("fps", "tbr"):
        match = re.search(r"([\d.]+)(k?) " + unit + r"\b", video_line)
        if match:
            return float(match.group(1)) * (1000 if match.group(2) else 1)
    return None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe the video at ``path``: size, fps, exact frame count, duration, codec and audio stream.

    Raises FileNotFoundError when the file is missing and :class:`NotAVideo` naming the path when it is not a video.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    try:
        text = _ffmpeg_banner(p)
    except (OSError, subprocess.SubprocessError) as exc:
        raise NotAVideo(f"{p}: could not be read as a video ({type(exc).__name__})") from None
    input_match = re.search(r"^Input #0, ([^,]+(?:,[^ ]+)*), from", text, re.MULTILINE)
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)$", text, re.MULTILINE)
    if input_match is None or video is None:
        reason = text.strip().splitlines()[-1] if text.strip() else "ffmpeg could not read it"
        raise NotAVideo(f"{p}: not a video file ({reason})")
    demuxer = input_match.group(1)
    if any(part == "image2" or part.endswith("_pipe") for part in demuxer.split(",")):
        raise NotAVideo(f"{p}: is a still image ({demuxer}), not a video")
    video_line = video.group(1)
    codec = video_line.split(",")[0].split()[0]
    # The pixel format is the field after the codec, e.g. "yuv420p(tv, bt709, progressive)".
    pix_fmt_match = re.search(r"^[^,]+(?:\([^)]*\))*, ([a-z0-9_]+)", video_line)
    size_match = re.search(r"\b(\d{2,5})x(\d{2,5})\b", video_line)
    if size_match is None:
        raise NotAVideo(f"{p}: not a video file (no picture size in {video_line!r})")
    fps = _parse_fps(video_line)

    audio = re.search(r"Stream #0:\d+\S*: Audio: (.*)$", text, re.MULTILINE)
    channels = rate = None
    if audio is not None:
        audio_line = audio.group(1)
        rate_match = re.search(r"(\d+) Hz", audio_line)
        rate = int(rate_match.group(1)) if rate_match else None
        fields = [f.strip() for f in audio_line.split(",")]
        for f in fields:
            if f in _CHANNELS:
                channels = _CHANNELS[f]
                break
            count = re.fullmatch(r"(\d+) channels?(?: \(.*\))?", f)
            if count:
                channels = int(count.group(1))
                break

    duration_match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    try:
        frames, decoded_seconds = imageio_ffmpeg.count_frames_and_secs(str(p))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:  # ffmpeg gave up part way: a damaged file
        raise NotAVideo(f"{p}: the video cannot be decoded ({type(exc).__name__}: {str(exc)[:200]})") from None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    else:
        duration = float(decoded_seconds)
    return VideoInfo(
        path=str(p),
        width=int(size_match.group(1)),
        height=int(size_match.group(2)),
        fps=fps if fps is not None else (frames / duration if duration else 0.0),
        frames=int(frames),
        duration=duration,
        has_audio=audio is not None,
        audio_channels=channels,
        audio_sample_rate=rate,
        video_codec=codec,
        pix_fmt=pix_fmt_match.group(1) if pix_fmt_match else "",
        size_bytes=p.stat().st_size,
    )


def read_frames(path: str | os.PathLike, indices: list[int] | None = None) -> list[np.ndarray]:
    """Decoded RGB uint8 frames (height x width x 3) of the video at ``path``: all, or those at ``indices``.

    Negative indices count from the end, as in Python lists (-1 is the last frame). Frames come back in the order
    of ``indices``. Raises IndexError for an index past the end.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    wanted = None if indices is None else [int(i) for i in indices]
    keep_forward = set() if wanted is None else {i for i in wanted if i >= 0}
    tail_len = 0 if wanted is None else max([-i for i in wanted if i < 0], default=0)
    tail: collections.deque[np.ndarray] = collections.deque(maxlen=max(1, tail_len))
    kept: dict[int, np.ndarray] = {}
    everything: list[np.ndarray] = []
    try:
        reader = imageio_ffmpeg.read_frames(str(p), pix_fmt="rgb24")
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as exc:
        raise ValueError(f"{p}: not a readable video ({exc})") from None
    width, height = meta["size"]
    count = 0
    last_needed = max(keep_forward, default=-1)
    for count, raw in enumerate(reader, start=1):
        frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
        index = count - 1
        if wanted is None:
            everything.append(frame)
            continue
        if index in keep_forward:
            kept[index] = frame
        if tail_len:
            tail.append(frame)
        elif index >= last_needed:
            # Nothing left to keep: stop decoding early.
            reader.close()
            break
    if wanted is None:
        return everything
    result = []
    for i in wanted:
        if i >= 0:
            if i not in kept:
                raise IndexError(f"{p}: frame {i} is past the end ({count} frames)")
            result.append(kept[i])
        else:
            if -i > count:
                raise IndexError(f"{p}: frame {i} is before the start ({count} frames)")
            result.append(tail[len(tail) + i])
    return result


# ---- pictures of many clips: contact sheets, side-by-side videos, motion scores ---------------------------------

# The fields a clip's label may show besides its seed, in this order; only those that differ between clips are shown.
LABEL_FIELDS = ("model", "resolution", "duration", "aspect_ratio", "camera_fixed", "generate_audio", "prompt")
_LABEL_BG = (0, 0, 0)
_LABEL_FG = (255, 255, 255)


@dataclass(frozen=True)
class Clip:
    """A video to show, with what it is: its seed and the fields it was made with."""

    path: str
    seed: int | None = None
    params: dict | None = None

    def label(self, fields: tuple[str, ...] = ()) -> str:
        parts = [f"seed {self.seed}" if self.seed is not None else Path(self.path).name]
        params = self.params or {}
        for name in fields:
            parts.append(_field_text(name, params.get(name)))
        return " · ".join(parts)


def clips_of(results) -> list[Clip]:
    """The clips with a video on disk in a sweep DataFrame, a list of pipeline Results, Clips or paths."""
    clips: list[Clip] = []
    if hasattr(results, "to_dict") and hasattr(results, "columns"):  # a pandas DataFrame
        for row in results.to_dict("records"):
            path = row.get("output_path")
            if row.get("status", COMPLETED) != COMPLETED or not isinstance(path, str) or not path:
                continue
            seed = row.get("seed")
            clips.append(Clip(path, None if seed is None else int(seed),
                              {k: _plain_value(row.get(k)) for k in LABEL_FIELDS}))
        return clips
    for item in results:
        if isinstance(item, Clip):
            clips.append(item)
        elif isinstance(item, (str, os.PathLike)):
            clips.append(Clip(str(item)))
        elif hasattr(item, "video_path"):  # a pipeline Result
            clips.append(Clip(str(item.video_path), int(item.seed),
                              {**dict(item.params), "model": getattr(item, "model", None)}))
        else:
            raise TypeError(f"results: expected a sweep DataFrame, Results, Clips or paths, got {type(item).__name__}")
    return clips


def varied_fields(clips: list[Clip]) -> tuple[str, ...]:
    """The label fields whose values differ between ``clips`` (a seed sweep has none)."""
    return tuple(name for name in LABEL_FIELDS
                 if len({repr((c.params or {}).get(name)) for c in clips}) > 1)


def contact_sheet(results, frames: int = 6, *, tile_width: int = 256) -> Image.Image:
    """A labelled grid: one row per clip, ``frames`` evenly spaced frames across (first and last included).

    The sheet is exactly ``frames * tile_width`` wide and ``len(clips) * tile_height`` high, where tile_height is
    ``round(tile_width * height / width)`` of the tallest clip; frames of other shapes are letterboxed. Each row's
    first tile carries its label: the seed and the fields that vary between the clips. Rows of failed jobs are left
    out. ``results``: a sweep DataFrame or a list of pipeline Results (or Clips or paths).
    """
    clips = clips_of(results)
    if not clips:
        raise ValueError("results: no completed clip with a video on disk to show")
    if frames < 1:
        raise ValueError(f"frames: {frames} is not allowed; use 1 or more")
    sizes = [_video_size(c.path) for c in clips]
    tile_w = int(tile_width)
    tile_h = max(1, round(tile_w * max(h / w for w, h in sizes)))
    fields = varied_fields(clips)
    sheet = Image.new("RGB", (frames * tile_w, len(clips) * tile_h), (24, 24, 24))
    for row, (clip, size) in enumerate(zip(clips, sizes, strict=True)):
        fit = _fit(size, (tile_w, tile_h))
        thumbs = list(_decode_scaled(clip.path, fit))
        if not thumbs:
            raise ValueError(f"{clip.path}: has no frames")
        for col, index in enumerate(spaced_indices(len(thumbs), frames)):
            tile = Image.fromarray(thumbs[index])
            sheet.paste(tile, (col * tile_w + (tile_w - fit[0]) // 2, row * tile_h + (tile_h - fit[1]) // 2))
        label = _label_patch(clip.label(fields), max_width=frames * tile_w, height=max(14, tile_h // 8))
        sheet.paste(label, (0, row * tile_h))
    sheet.info["layout"] = {"rows": len(clips), "columns": frames, "tile": (tile_w, tile_h)}
    return sheet


def side_by_side(results, out_path: str | os.PathLike, *, columns: int | None = None, max_width: int = 1280,
                 labels: bool = True, crf: int = 23) -> Path:
    """One MP4 tiling the clips in a grid so they play in sync (H.264, yuv420p, even dimensions, no audio).

    Each cell is at most the clip's own size and the whole picture at most ``max_width`` wide; clips of other shapes
    are letterboxed; a clip shorter than the longest holds its last frame. Returns the path, written atomically.
    """
    clips = clips_of(results)
    if not clips:
        raise ValueError("results: no completed clip with a video on disk to tile")
    n = len(clips)
    cols = int(columns) if columns else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    sizes = [_video_size(c.path) for c in clips]
    fps = _video_fps(clips[0].path) or 24.0
    cell_w = max(2, min(max(w for w, _ in sizes), max_width // cols) // 2 * 2)  # even, within max_width
    cell_h = _even(cell_w * max(h / w for w, h in sizes))
    canvas_size = (cols * cell_w, rows * cell_h)
    fields = varied_fields(clips)
    fits = [_even_size(_fit(size, (cell_w, cell_h))) for size in sizes]
    origins = [((i % cols) * cell_w + (cell_w - f[0]) // 2, (i // cols) * cell_h + (cell_h - f[1]) // 2)
               for i, f in enumerate(fits)]
    patches = [np.asarray(_label_patch(c.label(fields), max_width=cell_w, height=max(14, cell_h // 12)))
               for c in clips] if labels else []

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    readers = [_decode_scaled(c.path, f) for c, f in zip(clips, fits, strict=True)]
    last: list[np.ndarray | None] = [None] * n
    writer = imageio_ffmpeg.write_frames(
        str(tmp), canvas_size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=None,
        macro_block_size=1, output_params=["-preset", "veryfast", "-crf", str(int(crf)), "-movflags", "+faststart"])
    writer.send(None)
    try:
        canvas = np.full((canvas_size[1], canvas_size[0], 3), 16, dtype=np.uint8)
        while True:
            advanced = False
            for i, reader in enumerate(readers):
                frame = next(reader, None)
                if frame is not None:
                    last[i], advanced = frame, True
            if not advanced:
                break
            for i, frame in enumerate(last):
                if frame is None:
                    continue
                x, y = origins[i]
                canvas[y:y + frame.shape[0], x:x + frame.shape[1]] = frame
                if patches:
                    patch = patches[i]
                    cx, cy = (i % cols) * cell_w, (i // cols) * cell_h
                    canvas[cy:cy + patch.shape[0], cx:cx + patch.shape[1]] = patch
            writer.send(canvas.tobytes())
        writer.close()
        os.replace(tmp, out)
    finally:
        for reader in readers:
            reader.close()
        if tmp.exists():
            writer.close()
            tmp.unlink()
    return out


def motion_energy(path: str | os.PathLike, *, width: int = 160) -> float:
    """How much the picture moves: the mean absolute change between consecutive frames, 0 (still) to 1.

    Measured on a small grey copy of every frame, so it is cheap and ignores fine noise. A simple, predictable score
    for picking a sweep's liveliest clip.
    """
    w, h = _video_size(path)
    size = _even_size((width, max(2, round(width * h / w))))
    previous = None
    total, count = 0.0, 0
    for frame in _decode_scaled(path, size):
        grey = frame.astype(np.int16).sum(axis=2)
        if previous is not None:
            total += float(np.abs(grey - previous).mean()) / (3 * 255)
            count += 1
        previous = grey
    return total / count if count else 0.0


def poster(path: str | os.PathLike, *, width: int = 320, before_end_s: float = 1.5) -> Path | None:
    """A JPEG thumbnail beside the video (``<name>-poster.jpg``): the frame ``before_end_s`` before its end (its
    first frame is the input image, the same for every clip of a sweep). None when it cannot be made."""
    source = Path(path)
    out = source.with_name(source.stem + "-poster.jpg")
    if out.is_file():
        return out
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-sseof", f"-{before_end_s}", "-i", str(source), "-frames:v", "1", "-vf", f"scale={int(width)}:-2",
               "-q:v", "4", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("no poster for %s: %s", source.name, exc)
        return None
    if done.returncode != 0 or not out.is_file():
        log.warning("no poster for %s: %s", source.name, done.stderr.decode(errors="replace")[-200:])
        out.unlink(missing_ok=True)
        return None
    return out


def spaced_indices(count: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``count`` frames, first and last included.

    >>> spaced_indices(96, 4)
    [0, 32, 63, 95]
    """
    if count <= 0:
        return []
    if wanted == 1:
        return [count // 2]
    return [round(k * (count - 1) / (wanted - 1)) for k in range(wanted)]


def _video_size(path: str | os.PathLike) -> tuple[int, int]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)$", _ffmpeg_banner(p), re.MULTILINE)
    size = re.search(r"\b(\d{2,5})x(\d{2,5})\b", video.group(1)) if video else None
    if size is None:
        raise ValueError(f"{p}: not a video file")
    return int(size.group(1)), int(size.group(2))


def _video_fps(path: str | os.PathLike) -> float | None:
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)$", _ffmpeg_banner(Path(path)), re.MULTILINE)
    return _parse_fps(video.group(1)) if video else None


class _ScaledReadNotice(logging.Filter):
    """Drops imageio-ffmpeg's warning that frames are read at another size than stored: here that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("The frame size for reading")


_SCALED_READ_NOTICE = _ScaledReadNotice()


def _decode_scaled(path: str | os.PathLike, size: tuple[int, int]):
    """Every frame of ``path`` as RGB arrays of exactly ``size`` (ffmpeg scales them while decoding)."""
    w, h = size
    logging.getLogger("imageio_ffmpeg").addFilter(_SCALED_READ_NOTICE)  # adding the same filter twice is a no-op
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24",
                                        output_params=["-vf", f"scale={w}:{h}:flags=area", "-an"])
    try:
        next(reader)  # the metadata
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    finally:
        reader.close()


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled to fit inside ``box`` keeping its shape."""
    w, h = size
    scale = min(box[0] / w, box[1] / h)
    return max(1, min(box[0], round(w * scale))), max(1, min(box[1], round(h * scale)))


def _even(value: float) -> int:
    """The nearest even whole number (H.264 in yuv420p needs even sides), at least 2."""
    return max(2, round(value / 2) * 2)


def _even_size(size: tuple[int, int]) -> tuple[int, int]:
    return _even(size[0]), _even(size[1])


def _label_patch(text: str, *, max_width: int, height: int) -> Image.Image:
    """White text on a black band, as wide as the text needs (at most ``max_width``)."""
    font = _font(max(10, int(height * 0.75)))
    pad = max(2, height // 6)
    probe_draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while True:
        left, _, right, _ = probe_draw.textbbox((0, 0), text, font=font)
        if right - left + 2 * pad <= max_width or len(text) <= 4:
            break
        text = text[:-4] + "…"
    width = min(max_width, right - left + 2 * pad)
    patch = Image.new("RGB", (max(1, width), height), _LABEL_BG)
    ImageDraw.Draw(patch).text((pad - left, height // 2), text, font=font, fill=_LABEL_FG, anchor="lm")
    return patch


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _field_text(name: str, value) -> str:
    if name == "model":
        from .contract import MODELS

        spec = MODELS.get(value) if isinstance(value, str) else None
        return spec.title.replace("Seedance ", "").replace(" Image-to-Video", "") if spec else str(value)
    if name == "duration":
        return f"{value} s"
    if name == "camera_fixed":
        return "fixed camera" if value else "moving camera"
    if name == "generate_audio":
        return "audio on" if value else "audio off"
    if name == "aspect_ratio":
        return str(value) if value else "ratio of the image"
    if name == "prompt":
        text = str(value or "")
        return f'"{text[:24]}…"' if len(text) > 25 else f'"{text}"'
    return str(value)


def _plain_value(value):
    """numpy/pandas scalars as plain Python values; NaN and NA as None."""
    if value is None:
        return None
    try:
        if value != value:
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") and callable(value.item) else value
