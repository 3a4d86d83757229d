"""A task at the API as the result endpoint describes it, and the error for one that ended without a video."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..errors import TASK_ERROR_CODES, TaskFailed
from ..status import COMPLETED, CREATED, TERMINAL

TERMINAL_STATUSES = TERMINAL  # the statuses in which a task has ended (playground.status)


@dataclass(frozen=True)
class Prediction:
    """A task at the API, as the result endpoint describes it."""

    id: str
    model: str = ""
    status: str = CREATED
    outputs: tuple[str, ...] = ()
    has_nsfw_contents: tuple[bool, ...] = ()
    error: str = ""
    code: int | None = None
    inference_ms: int | None = None
    created_at: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def nsfw(self) -> bool:
        return any(self.has_nsfw_contents)

    @property
    def created_ts(self) -> float | None:
        """``created_at`` as a Unix timestamp, or None when the API gave none."""
        if not self.created_at:
            return None
        try:
            return datetime.fromisoformat(self.created_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None

    @classmethod
    def from_api(cls, data: dict) -> Prediction:
        timings = data.get("timings") or {}
        inference = timings.get("inference") if isinstance(timings, dict) else None
        code = data.get("code")
        return cls(
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            status=str(data.get("status") or CREATED),
            outputs=tuple(data.get("outputs") or ()),
            has_nsfw_contents=tuple(bool(x) for x in (data.get("has_nsfw_contents") or ())),
            error=str(data.get("error") or ""),
            code=int(code) if isinstance(code, int | float) and not isinstance(code, bool) else None,
            inference_ms=int(inference) if isinstance(inference, int | float) else None,
            created_at=str(data.get("created_at") or ""),
            raw=data,
        )


def task_failed(pred: Prediction) -> TaskFailed:
    """The error for a task that ended without a video, with a readable reason."""
    reason = TASK_ERROR_CODES.get(pred.code or 0, "")
    detail = pred.error or reason or "no reason given"
    hint = {
        1200: "Change the image or prompt.",
        1402: "Upload the image again (uploads last 7 days) or check its URL.",
    }.get(pred.code or 0, "Try again or change the inputs.")
    hint += " Failed runs are refunded."
    code = f" code {pred.code}" if pred.code else ""
    return TaskFailed(f"Task {pred.id} {pred.status}{code}: {detail}. {hint}", task_id=pred.id, code=pred.code)


__all__ = ["Prediction", "TERMINAL_STATUSES", "task_failed"]
