"""This server's URLs and keys: :class:`Media` composes every URL the API hands out and maps its own URLs back to files
(so task inputs on them are read from disk), and :func:`authorize` turns a request's bearer key into its account.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request

from .accounts import account_id
from .config import LocalConfig
from .gateway import ApiError
from .history import iso_time
from .inputs import FetchPolicy, load_image, load_video
from .tasks import TaskView
from .uploads import Upload

if TYPE_CHECKING:
    from .state import LocalState

MAX_OWN_NETLOCS = 64


def _duration_text(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


class Media:
    """This server's URLs: composes every URL the API hands out, and maps its own back to files for task inputs."""

    def __init__(self, config: LocalConfig):
        self.state: LocalState | None = None  # set once the state exists (the state reads inputs through us)
        self.own_port = 0
        self.own_netlocs: set[str] = set()
        self.policy = FetchPolicy(allow_public=config.allow_fetch, allow_private=config.allow_private_fetch,
                                  timeout=config.fetch_timeout,
                                  upload_lifetime=_duration_text(config.upload_lifetime_seconds))

    def base_url(self, request: Request) -> str:
        """The request's base URL, remembered as one of ours (so task inputs on it are read from disk)."""
        base = str(request.base_url).rstrip("/")
        if len(self.own_netlocs) < MAX_OWN_NETLOCS:  # Host headers are the client's to choose: keep the set bounded
            self.own_netlocs.add(base.split("://", 1)[1].lower())
        return base

    @staticmethod
    def prediction(view: TaskView, base: str) -> dict[str, Any]:
        """The prediction object exactly as the contract shows it (plus ``code`` when the task did not succeed)."""
        done = view.completed
        data: dict[str, Any] = {
            "id": view.id,
            "model": view.model,
            "outputs": [f"{base}/media/outputs/{view.id}.mp4"] if done else [],
            "urls": {"get": f"{base}/api/v3/predictions/{view.id}/result"},
            "has_nsfw_contents": [view.nsfw] if done else [],
            "status": view.status,
            "created_at": iso_time(view.created_at),
            "error": view.error,
            "timings": {"inference": view.inference_ms},
        }
        if view.code is not None:
            data["code"] = view.code
        return data

    def download_url(self, base: str, upload: Upload) -> str:
        return f"{base}/media/uploads/{self.state.uploads.instance}/{upload.id}/{upload.filename}"

    @staticmethod
    def put_url(base: str, upload: Upload) -> str:
        return f"{base}/media/put/{upload.id}?expires={int(upload.expires_at)}&token={upload.token}"

    @staticmethod
    def output_task_id(name: str) -> str | None:
        """The task id of an output file name ``<id>.mp4``, else None."""
        match = re.fullmatch(r"([0-9a-f]{32})\.mp4", name)
        return match.group(1) if match else None

    def local_file(self, url_path: str) -> Path | None:
        """The file behind one of this server's own media URL paths, for reading task inputs without HTTP."""
        parts = url_path.strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["media", "uploads"]:
            return self.state.uploads.file(parts[2], parts[3], parts[4])[0]
        if len(parts) == 3 and parts[:2] == ["media", "outputs"]:
            task_id = self.output_task_id(parts[2])
            return self.state.output_path(task_id) if task_id else None
        return None

    def load_input(self, url: str, field: str, *, decode: bool = True):
        return load_image(url, field=field, own_netlocs=self.own_netlocs, own_port=self.own_port,
                          local_file=self.local_file, policy=self.policy, decode=decode)

    def load_video(self, url: str, field: str) -> bytes:
        return load_video(url, field=field, own_netlocs=self.own_netlocs, own_port=self.own_port,
                          local_file=self.local_file, policy=self.policy)


def authorize(request: Request, config: LocalConfig) -> str:
    """The account of the request's bearer key; ApiError 401 when it is missing, empty or not accepted."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or (config.keys is not None and key not in config.keys):
        raise ApiError(401, "Unauthorized")
    return account_id(key)
