"""What a task produces: a full render of its inputs, or (protocol mode) one tiny clip shared by every task.

What is rendered follows the task's :class:`~.catalogue.RenderPlan`: an image-to-video preview moves the camera over
its image; a text-to-video one over a landscape drawn from the prompt and seed; a video-extend one starts on the last
frame of the given clip and continues it (same look, no grade, so the join is seamless).

Protocol mode still reads each task's inputs (image headers, clip bytes), so unreachable or invalid ones fail the
task with the same codes as a full render, but nothing is rendered: thousands of tasks cost next to nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from PIL import Image

from .catalogue import RenderPlan
from .config import RENDERS
from .tasks import Task

PROTOCOL_FILE = "protocol-clip.mp4"  # not a task id, so never served under its own name
TEXT_RATIO = "16:9"  # a text-to-video model without an aspect_ratio field


class LoadInput(Protocol):
    def __call__(self, url: str, field: str, *, decode: bool = True) -> Image.Image: ...


class LoadVideo(Protocol):
    def __call__(self, url: str, field: str) -> bytes: ...


class Outputs:
    """Makes tasks' output files in ``directory`` (``<task id>.mp4``, or the shared clip in protocol mode)."""

    def __init__(self, directory: Path, *, mode: str, load_input: LoadInput, load_video: LoadVideo):
        if mode not in RENDERS:
            raise ValueError(f"render: {mode!r} is not known; choose one of {', '.join(RENDERS)}")
        self.directory = directory
        self.mode = mode
        self.load_input = load_input
        self.load_video = load_video
        self._shared: Path | None = None
        self._shared_lock = threading.Lock()

    def path_for(self, task_id: str) -> Path:
        return self.directory / f"{task_id}.mp4"

    def make(self, task: Task) -> tuple[Path, bool]:
        """(the file, whether it is the task's own) for ``task``; InputError when an input cannot be used."""
        plan = task.plan
        if self.mode == "protocol":
            for field, url, kind in plan.inputs:
                if kind == "video":
                    self.load_video(url, field)
                else:
                    self.load_input(url, field, decode=False)
            return self.shared_clip(), False
        path = self.path_for(task.id)
        render(plan, self._first_frame(plan), path,
               last_image=self.load_input(plan.last_image[1], plan.last_image[0]) if plan.last_image else None)
        return path, True

    def _first_frame(self, plan: RenderPlan) -> Image.Image:
        from .pictures import last_frame, prompt_picture
        from .render import SOURCE_MARGIN

        if plan.kind == "extend":
            return last_frame(self.load_video(plan.source[1], plan.source[0]), plan.source[0])
        if plan.kind == "image":
            return self.load_input(plan.source[1], plan.source[0])
        w, h = plan.sizes[plan.resolution][plan.aspect_ratio or TEXT_RATIO]
        return prompt_picture(plan.prompt, plan.seed, (round(w * SOURCE_MARGIN), round(h * SOURCE_MARGIN)))

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


def render(plan: RenderPlan, first: Image.Image, path: Path, *, last_image: Image.Image | None = None) -> None:
    """Render ``plan`` from its first frame ``first`` to ``path``."""
    from .render import render_video  # numpy and the renderer only where a video is really made

    ratio = plan.aspect_ratio or (TEXT_RATIO if plan.kind == "text" else None)
    render_video(
        first, path, resolution=plan.resolution, aspect_ratio=ratio, duration=plan.duration, seed=plan.seed,
        prompt=plan.prompt, camera_fixed=plan.camera_fixed, last_image=last_image, generate_audio=plan.audio,
        sizes=plan.sizes, model_id=plan.model, continuation=plan.kind == "extend",
    )
