"""Moving files: uploads to the API (ticket and PUT, or the legacy multipart endpoint) and checked downloads of
outputs (only a playable video from an allowed host, never the key, never a partial file)."""

from __future__ import annotations

import io
import mimetypes
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ..errors import NotFound, OutputExpired, OutputInvalid, ServerError, UnsafeURL, ValidationError
from ..netsafe import check_fetchable, is_link_local
from .transport import (
    CONNECT_TIMEOUT,
    DROPPED,
    READ_TIMEOUT,
    RETRYABLE_STATUS,
    Transient,
    Transport,
    log,
    retry_after_of,
)

MAX_REDIRECTS = 5
# Content types that are never a video: an error page or an API message served in place of the output.
_NOT_VIDEO_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")


class Transfers(Transport):
    """Uploads and checked downloads (a room of :class:`playground.client.Client`)."""

    def upload(self, source: str | os.PathLike | bytes | Any, *, filename: str | None = None) -> str:
        """Upload a file, bytes or PIL image; return its download URL (valid 7 days).

        Uses the ticket endpoint (POST ticket, then PUT the bytes without the key); falls back to the legacy
        multipart endpoint when the ticket endpoint does not exist (404/405).
        """
        data, filename, content_type = _read_upload(source, filename)
        try:
            ticket = self._call("POST", "/api/v3/media/uploads", kind="upload", timeout=READ_TIMEOUT["upload"],
                                json={"filename": filename, "size": len(data), "content_type": content_type})
        except NotFound:
            ticket = None
        except ServerError as exc:
            if exc.status != 405:
                raise
            ticket = None
        if ticket is None:
            log.info("ticket upload unavailable; using the legacy multipart endpoint")
            data_ = self._call("POST", "/api/v3/media/upload/binary", kind="upload", timeout=READ_TIMEOUT["upload"],
                               files={"file": (filename, data, content_type)})
            url = (data_ or {}).get("download_url")
            if not url:
                raise ServerError("The legacy upload answered without a download_url; try again.")
            return url
        instruction = (ticket or {}).get("upload") or {}
        if str(instruction.get("method", "")).upper() != "PUT" or not instruction.get("url"):
            raise ServerError("The upload ticket had no PUT instruction; try again or report the API change.")
        headers = {str(k): str(v) for k, v in (instruction.get("headers") or {}).items()}

        def put() -> None:
            self._count("upload_put")
            # A pre-signed URL: exactly the ticket's headers, and never our key.
            answer = requests.put(instruction["url"], data=data, headers=headers,
                                  timeout=(CONNECT_TIMEOUT, READ_TIMEOUT["upload"]))
            if not 200 <= answer.status_code < 300:
                error = ServerError(f"The upload PUT answered HTTP {answer.status_code}; try again.")
                if answer.status_code not in RETRYABLE_STATUS:
                    raise error
                raise Transient(error, retry_after_of(answer))

        self._retrying("upload PUT", put,
                       lambda exc: ServerError(f"The upload PUT failed ({type(exc).__name__}); try again."))
        url = ticket.get("download_url")
        if not url:
            raise ServerError("The upload ticket had no download_url; try again.")
        return url

    def download(self, url: str, dest: str | os.PathLike, *, task_id: str | None = None,
                 check: Callable[[Path], Any] | None = None) -> Path:
        """Fetch an output to ``dest`` only if it is what we paid for: a playable video, not too large, from an
        allowed host.

        Every URL, and every redirect hop, passes :func:`playground.netsafe.check_fetchable` (``https`` and public
        hosts only, unless ``allow_private_outputs``). The body streams to a temporary file beside ``dest`` and stops
        as soon as it passes ``max_download_bytes``; the file is checked (``check``, default :func:`check_video`)
        before it is moved into place. Refusals raise :class:`UnsafeURL` or :class:`OutputInvalid`, an answer that
        is gone :class:`OutputExpired`, transport trouble (after retries) :class:`ServerError`; no partial file is
        left behind.
        """
        dest = Path(dest)
        what = f"the output of task {task_id or '?'}"
        self._check_output_url(url, what)
        dest.parent.mkdir(parents=True, exist_ok=True)

        def fetch() -> Path:
            self._count("download")
            try:
                with self._open_output(url, what, task_id) as r:
                    if r.status_code in (403, 404, 410):
                        raise OutputExpired(
                            f"The output of task {task_id or '?'} no longer answers (HTTP {r.status_code}): outputs "
                            "are kept 7 days. The ledger keeps the task id; run the request again to get a new "
                            "video.", task_id=task_id, status=r.status_code)
                    if r.status_code in RETRYABLE_STATUS:
                        raise Transient(ServerError(f"Downloading the output answered HTTP {r.status_code}",
                                                     task_id=task_id), retry_after_of(r))
                    if r.status_code != 200:
                        raise ServerError(f"Downloading the output answered HTTP {r.status_code}; try again.",
                                          task_id=task_id, status=r.status_code)
                    self._save_output(r, dest, what, task_id, check or check_video)
                    return dest
            except ServerError as exc:
                if exc.status is None or exc.status in RETRYABLE_STATUS:  # truncated, empty, a bad redirect: again
                    raise Transient(exc) from None
                raise
            except DROPPED:
                raise
            except requests.RequestException as exc:  # a URL requests cannot use at all: retrying will not help
                raise ServerError(f"Downloading {what} failed ({type(exc).__name__}); the API gave an output URL "
                                  "this client cannot fetch.", task_id=task_id) from None

        return self._retrying(f"downloading {what}", fetch, lambda exc: ServerError(
            f"Downloading {what} failed ({type(exc).__name__}); try again.", task_id=task_id))

    def _check_output_url(self, url: str, what: str) -> None:
        check_fetchable(url, what=what, allow_private=self.allow_private_outputs)
        host = urlsplit(url).hostname or ""
        # Even for the embedded API, link-local hosts (cloud metadata at 169.254.169.254) are never an output.
        if is_link_local(host):
            raise UnsafeURL(f"{what}: the host {host!r} is link-local (cloud metadata); refused")

    def _open_output(self, url: str, what: str, task_id: str | None) -> requests.Response:
        """GET ``url`` following at most MAX_REDIRECTS redirects by hand, each hop checked before it is fetched."""
        for _ in range(MAX_REDIRECTS + 1):
            # Output URLs live on a CDN: no key goes there (a plain requests.get, not our session).
            r = requests.get(url, stream=True, allow_redirects=False,
                             timeout=(CONNECT_TIMEOUT, READ_TIMEOUT["upload"]))
            if r.status_code not in (301, 302, 303, 307, 308):
                return r
            location = r.headers.get("Location")
            r.close()
            if not location:
                raise ServerError(f"Downloading {what} answered a redirect without a Location; try again.",
                                  task_id=task_id, status=502)
            url = urljoin(url, location)
            self._check_output_url(url, f"{what} (redirected)")
        raise ServerError(f"Downloading {what} was redirected more than {MAX_REDIRECTS} times; refused.",
                          task_id=task_id, status=508)

    def _save_output(self, r: requests.Response, dest: Path, what: str, task_id: str | None,
                     check: Callable[[Path], Any]) -> None:
        cap = self.max_download_bytes
        kind = (r.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind.startswith(_NOT_VIDEO_TYPES):
            raise OutputInvalid(f"{what.capitalize()} answered {kind!r}, not a video; nothing was saved. Resume "
                                "later to try again.", task_id=task_id)
        expected = r.headers.get("Content-Length")
        expected_n = int(expected) if expected and expected.isdigit() else None
        if expected_n is not None and expected_n > cap:
            raise OutputInvalid(f"{what.capitalize()} is {expected_n} bytes, over the {cap}-byte download cap "
                                "(max_download_bytes / PLAYGROUND_MAX_DOWNLOAD_MB); nothing was saved.",
                                task_id=task_id)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        written = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in r.iter_content(1 << 16):
                    written += len(chunk)
                    if written > cap:
                        raise OutputInvalid(f"{what.capitalize()} passed the {cap}-byte download cap "
                                            "(max_download_bytes / PLAYGROUND_MAX_DOWNLOAD_MB); stopped, nothing "
                                            "was saved.", task_id=task_id)
                    fh.write(chunk)
            if expected_n is not None and expected_n != written:
                raise ServerError(f"The download of task {task_id or '?'} stopped at {written} of "
                                  f"{expected_n} bytes", task_id=task_id)
            if written == 0:
                raise ServerError(f"The output of task {task_id or '?'} was empty", task_id=task_id)
            try:
                check(Path(tmp))
            except OutputInvalid as exc:
                raise OutputInvalid(f"{what.capitalize()} is not a playable video ({exc}); nothing was saved. "
                                    "Resume later to try again.", task_id=task_id) from None
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def check_video(path: str | os.PathLike) -> None:
    """Raise :class:`OutputInvalid` unless ``path`` is a video container (MP4/MOV or WebM/Matroska) from which at
    least one frame decodes. Cheap: reads the header and decodes a single frame."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise OutputInvalid(f"{p.name}: cannot be read ({type(exc).__name__})") from None
    if not (head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3"):
        raise OutputInvalid(f"{p.name}: not an MP4 or WebM file")
    import imageio_ffmpeg  # only here: the client needs ffmpeg for this one check

    frames = None
    try:
        frames = imageio_ffmpeg.read_frames(str(p))
        meta = next(frames)
        if not meta.get("size"):
            raise OutputInvalid(f"{p.name}: has no video stream")
        next(frames)
    except StopIteration:
        raise OutputInvalid(f"{p.name}: no frame decodes") from None
    except (OSError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OutputInvalid(f"{p.name}: ffmpeg cannot read it ({reason})") from None
    finally:
        if frames is not None:
            frames.close()


def _read_upload(source: Any, filename: str | None) -> tuple[bytes, str, str]:
    """Bytes, a filename and a content type for a path, bytes or PIL image."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = path.read_bytes()
        filename = filename or path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        filename = filename or "upload.bin"
    elif hasattr(source, "save") and hasattr(source, "size"):
        buf = io.BytesIO()
        source.save(buf, format="PNG")
        data = buf.getvalue()
        filename = filename or "image.png"
    else:
        raise ValidationError(f"upload: expected a path, bytes or a PIL image, got {type(source).__name__}")
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return data, filename, content_type


__all__ = ["Transfers", "check_video", "MAX_REDIRECTS"]
