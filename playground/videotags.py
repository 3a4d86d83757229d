"""What a saved video says about itself: its model, prompt, seed, job and task id in the MP4's own metadata, so a
file that travels on its own can still be made again (``seedance-playground info video.mp4`` reads them back).

>>> write_tags("job00007.mp4", job)          # the pipeline does this for every download   # doctest: +SKIP
>>> read_tags("job00007.mp4")["seed"]        # doctest: +SKIP
'4242'

Written with ffmpeg (imageio-ffmpeg's binary) as a stream copy: the picture and sound are not touched, only the
container's tags change (``-movflags use_metadata_tags``, which players and ``exiftool`` show as QuickTime keys).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "seedance_"
FIELDS = ("model", "prompt", "seed", "job_id", "request_id", "params")
_TIMEOUT_S = 60


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def tags_of(job: Any) -> dict[str, str]:
    """The tags for a ledger job (anything with ``model``, ``params``, ``seed``, ``id`` and ``request_id``)."""
    params = {k: v for k, v in dict(getattr(job, "params", None) or {}).items() if k not in ("image", "last_image")}
    tags = {"model": str(job.model), "prompt": str(params.pop("prompt", "") or ""),
            "seed": "" if job.seed is None else str(job.seed), "job_id": str(job.id),
            "request_id": str(getattr(job, "request_id", "") or ""), "params": json.dumps(params, sort_keys=True)}
    return {k: v for k, v in tags.items() if v}


def write_tags(path: str | os.PathLike, job: Any) -> bool:
    """Write ``job`` 's model, prompt, seed, job id, task id and fields into the MP4 at ``path`` in place (a stream
    copy). Never loses the video: on any failure the file stays as it was, untagged, and False comes back."""
    source = Path(path)
    tags = tags_of(job)
    temp = source.with_name(source.stem + ".tagging" + source.suffix)
    summary = f"Seedance Playground job {tags.get('job_id')}: {tags.get('model')}, seed {tags.get('seed', '?')}"
    command = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), "-map", "0",
               "-c", "copy", "-movflags", "+use_metadata_tags", "-metadata", f"comment={summary}"]
    for name, value in tags.items():
        command += ["-metadata", f"{PREFIX}{name}={value}"]
    command.append(str(temp))
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
        if done.returncode != 0 or not temp.is_file() or temp.stat().st_size == 0:
            log.warning("could not tag %s: ffmpeg said %s", source.name, done.stderr.decode(errors="replace")[-300:])
            return False
        os.replace(temp, source)
        return True
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not tag %s: %s", source.name, exc)
        return False
    finally:
        temp.unlink(missing_ok=True)


def read_tags(path: str | os.PathLike) -> dict[str, str]:
    """The Seedance tags of the MP4 at ``path`` (``model``, ``prompt``, ``seed``, ``job_id``, ``request_id``,
    ``params`` as JSON), or {} for a video that has none. FileNotFoundError / ValueError for a missing or unreadable
    file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    done = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(source),
                           "-f", "ffmetadata", "-"], capture_output=True, timeout=_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise ValueError(f"{source.name}: not a readable video")
    found = parse_ffmetadata(done.stdout.decode("utf-8", errors="replace"))
    return {key[len(PREFIX):]: value for key, value in found.items() if key.startswith(PREFIX)}


def parse_ffmetadata(text: str) -> dict[str, str]:
    """The global ``key=value`` pairs of ffmpeg's FFMETADATA1 text (backslash escapes undone, continued lines
    joined); sections such as ``[STREAM]`` end them.

    >>> parse_ffmetadata(";FFMETADATA1\\nseedance_prompt=a\\\\=b\\\\\\nnext\\n[STREAM]\\nx=1\\n")
    {'seedance_prompt': 'a=b\\nnext'}
    """
    pairs: dict[str, str] = {}
    lines = iter(text.split("\n")[1:] if text.startswith(";FFMETADATA") else text.split("\n"))
    for line in lines:
        if line.startswith("["):
            break
        if not line or line.startswith((";", "#")):
            continue
        while _continued(line):
            line = line[:-1] + "\n" + next(lines, "")
        key, _, value = _unescape_split(line)
        pairs[key] = value
    return pairs


def _continued(line: str) -> bool:
    """An odd number of trailing backslashes: the newline after it is part of the value."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _unescape_split(line: str) -> tuple[str, str, str]:
    out, key, escaped = [], None, False
    for char in line:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "=" and key is None:
            key, out = "".join(out), []
        else:
            out.append(char)
    return (key or "", "=", "".join(out)) if key is not None else ("".join(out), "", "")


def describe(tags: Mapping[str, str]) -> str:
    """What ``seedance-playground info`` prints: one field a line, and the command that makes the video again."""
    if not tags:
        return "no Seedance Playground metadata in this video"
    lines = [f"{name:<11} {tags[name]}" for name in FIELDS if tags.get(name)]
    try:
        params = json.loads(tags.get("params") or "{}")
    except ValueError:
        params = {}
    if tags.get("model") and tags.get("seed"):
        flags = [f"--model {tags['model']}", f"--seed {tags['seed']}"]
        if tags.get("prompt"):
            flags.append("--prompt " + shlex.quote(tags["prompt"]))
        for name, flag in (("resolution", "--resolution"), ("duration", "--duration"),
                           ("aspect_ratio", "--aspect-ratio"), ("camera_fixed", "--camera-fixed"),
                           ("generate_audio", "--audio")):
            if name in params:
                value = params[name]
                flags.append(f"{flag} {str(value).lower() if isinstance(value, bool) else value}")
        lines.append("again:      seedance-playground generate IMAGE " + " ".join(flags))
    return "\n".join(lines)


__all__ = ["write_tags", "read_tags", "tags_of", "parse_ffmetadata", "describe", "FIELDS"]
