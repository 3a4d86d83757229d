"""Looking inside videos on disk: probe their streams and read frames (no ffprobe needed).

>>> info = probe("clip.mp4")  # doctest: +SKIP
>>> (info.width, info.height, info.fps, info.frames, info.has_audio)  # doctest: +SKIP
(864, 496, 24.0, 120, True)
"""

from __future__ import annotations

import collections
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from ..errors import OutputInvalid

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


def _audio_of(audio_line: str) -> tuple[int | None, int | None]:
    """The channel count and sample rate ffmpeg's banner gives for an audio stream (None where it says nothing)."""
    rate_match = re.search(r"(\d+) Hz", audio_line)
    rate = int(rate_match.group(1)) if rate_match else None
    for f in (f.strip() for f in audio_line.split(",")):
        if f in _CHANNELS:
            return _CHANNELS[f], rate
        count = re.fullmatch(r"(\d+) channels?(?: \(.*\))?", f)
        if count:
            return int(count.group(1)), rate
    return None, rate


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
    channels, rate = _audio_of(audio.group(1)) if audio is not None else (None, None)

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


def video_size(path: str | os.PathLike) -> tuple[int, int]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)$", _ffmpeg_banner(p), re.MULTILINE)
    size = re.search(r"\b(\d{2,5})x(\d{2,5})\b", video.group(1)) if video else None
    if size is None:
        raise ValueError(f"{p}: not a video file")
    return int(size.group(1)), int(size.group(2))


def video_fps(path: str | os.PathLike) -> float | None:
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)$", _ffmpeg_banner(Path(path)), re.MULTILINE)
    return _parse_fps(video.group(1)) if video else None

