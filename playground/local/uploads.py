"""Uploads of the local service: signed tickets, stored files, per-run ids and expiry.

Every upload of one server run carries the run's ``instance`` id, so a file reference issued by an earlier run (even
on the same port and data_dir) is unknown here instead of quietly reaching a file this run never accepted.
Thread-safe on its own lock. The URLs of tickets and files are composed by the server from the data returned here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, TooLarge, UploadRefused

log = logging.getLogger(__name__)


@dataclass
class Upload:
    id: str
    filename: str
    size: int
    content_type: str
    token: str
    expires_at: float  # epoch: the end of the ticket (the PUT URL)
    path: Path
    done: bool = False
    stored_at: float | None = None  # epoch: when the bytes arrived; served for ``lifetime`` seconds from then

    @property
    def kind(self) -> str:
        """"image", "video", "audio" or "file", as the legacy upload reply names it."""
        major = self.content_type.split("/")[0]
        return major if major in ("image", "video", "audio") else "file"


def safe_filename(name: str) -> str:
    base = re.split(r"[\\/]", name.strip())[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[:120]


class UploadStore:
    """The files uploaded to one server run, under ``root/<instance>/<upload id>/<name>``."""

    def __init__(self, root: Path, *, max_bytes: int, ticket_seconds: float, lifetime_seconds: float):
        self.root = root
        self.max_bytes = max_bytes
        self.ticket_seconds = ticket_seconds
        self.lifetime_seconds = lifetime_seconds
        self.instance = secrets.token_hex(8)
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}

    def new_ticket(self, filename: Any, size: Any, content_type: Any) -> Upload:
        """A ticket to PUT one file of ``size`` bytes; InvalidRequest naming the field when the request is wrong."""
        if not isinstance(filename, str) or not filename.strip():
            raise InvalidRequest("filename: is required (the name of the file to upload)")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidRequest(f"size: expected the file's size in bytes as a whole number, got {size!r}")
        if not 0 < size <= self.max_bytes:
            raise InvalidRequest(f"size: {size} is out of range; allowed 1 to {self.max_bytes} bytes")
        if content_type is not None and (not isinstance(content_type, str) or "/" not in content_type):
            raise InvalidRequest(f"content_type: expected a MIME type such as image/png, got {content_type!r}")
        name = safe_filename(filename)
        ctype = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload_id = uuid.uuid4().hex
        expires = time.time() + self.ticket_seconds
        token = hmac.new(self._secret, f"{upload_id}:{int(expires)}".encode(), hashlib.sha256).hexdigest()
        upload = Upload(upload_id, name, size, ctype, token, expires, self._path(upload_id, name))
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def for_put(self, upload_id: str, token: str, expires: str) -> Upload:
        """The upload a PUT is for; UploadRefused when its ticket is unknown, forged or expired."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        valid = upload is not None and hmac.compare_digest(upload.token, token or "")
        if not valid or expires != str(int(upload.expires_at)):
            raise UploadRefused("upload URL is not valid: ask POST /api/v3/media/uploads for a new one")
        if time.time() > upload.expires_at:
            raise UploadRefused("upload URL has expired: ask POST /api/v3/media/uploads for a new one")
        return upload

    def finish(self, upload: Upload, received: int, tmp_path: Path) -> None:
        """Keep the ``received`` bytes at ``tmp_path`` as the upload's file; InvalidRequest when the size is off."""
        if received != upload.size:
            tmp_path.unlink(missing_ok=True)
            raise InvalidRequest(f"size: the upload has {received} bytes but the ticket declared {upload.size}; "
                                 "ask for a new ticket with the right size")
        upload.path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path.replace(upload.path)
        with self._lock:
            upload.done = True
            upload.stored_at = time.time()
        log.info("upload %s stored (%d bytes)", upload.id, received)

    def store(self, filename: str, data: bytes) -> Upload:
        """Keep ``data`` at once (the legacy binary upload); InvalidRequest when empty, TooLarge over the limit."""
        if not data:
            raise InvalidRequest("file: is empty")
        if len(data) > self.max_bytes:
            raise TooLarge(f"file: {len(data)} bytes is over the limit of {self.max_bytes}")
        name = safe_filename(filename or "upload")
        upload_id = uuid.uuid4().hex
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        now = time.time()
        upload = Upload(upload_id, name, len(data), ctype, "", now, self._path(upload_id, name), done=True,
                        stored_at=now)
        upload.path.parent.mkdir(parents=True, exist_ok=True)
        upload.path.write_bytes(data)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def file(self, instance: str, upload_id: str, filename: str) -> tuple[Path | None, str]:
        """(path, content type) of a finished, unexpired upload of this run; path None when there is none."""
        if instance != self.instance:
            return None, ""
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None or not upload.done or upload.filename != filename or upload.stored_at is None:
                return None, ""
            if time.time() - upload.stored_at > self.lifetime_seconds:
                del self._uploads[upload_id]
                upload.path.unlink(missing_ok=True)
                log.info("upload %s expired and was removed", upload_id)
                return None, ""
        return (upload.path, upload.content_type) if upload.path.is_file() else (None, "")

    def _path(self, upload_id: str, name: str) -> Path:
        return self.root / self.instance / upload_id / name
