"""What a task produces: a full render of its inputs, or (protocol mode) one tiny clip shared by every task.

Protocol mode still reads each task's inputs (headers only), so unreachable or invalid images fail the task with the
same codes as a full render, but nothing is rendered: thousands of tasks cost next to nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from PIL import Image

from playground import contract

from .config import RENDERS
from .tasks import Task

PROTOCOL_FILE = "protocol-clip.mp4"  # not a task id, so never served under its own name


class LoadInput(Protocol):
    def __call__(self, url: str, field: str, *, decode: bool = True) -> Image.Image: ...


class Outputs:
    """Makes tasks' output files in ``directory`` (``<task id>.mp4``, or the shared clip in protocol mode)."""

    def __init__(self, directory: Path, *, mode: str, load_input: LoadInput):
        if mode not in RENDERS:
            raise ValueError(f"render: {mode!r} is not known; choose one of {', '.join(RENDERS)}")
        self.directory = directory
        self.mode = mode
        self.load_input = load_input
        self._shared: Path | None = None
        self._shared_lock = threading.Lock()

    def path_for(self, task_id: str) -> Path:
        return self.directory / f"{task_id}.mp4"

    def make(self, task: Task) -> tuple[Path, bool]:
        """(the file, whether it is the task's own) for ``task``; InputError when an input cannot be used."""
        params = task.params
        if self.mode == "protocol":
            self.load_input(params["image"], "image", decode=False)
            if params.get("last_image"):
                self.load_input(params["last_image"], "last_image", decode=False)
            return self.shared_clip(), False
        from .render import render_video  # numpy and the renderer only where a video is really made

        image = self.load_input(params["image"], "image")
        last = self.load_input(params["last_image"], "last_image") if params.get("last_image") else None
        spec = contract.get_model(task.model)
        path = self.path_for(task.id)
        render_video(
            image, path,
            resolution=params["resolution"], aspect_ratio=params.get("aspect_ratio"),
            duration=int(params["duration"]), seed=int(params["seed"]),
            prompt=params.get("prompt"), camera_fixed=bool(params.get("camera_fixed", False)),
            last_image=last, generate_audio=spec.has_audio and bool(params.get("generate_audio", False)),
            sizes=spec.sizes, model_id=task.model,
        )
        return path, True

    def shared_clip(self) -> Path:
        """The protocol clip in this directory, written on first use."""
        with self._shared_lock:
            if self._shared is None or not self._shared.is_file():
                from .render import protocol_clip

                path = self.directory / PROTOCOL_FILE
                fd, tmp = tempfile.mkstemp(prefix=".protocol-", suffix=".part", dir=self.directory)
                with os.fdopen(fd, "wb") as out:
                    out.write(protocol_clip())
                os.replace(tmp, path)
                self._shared = path
            return self._shared
