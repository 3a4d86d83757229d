"""Finding tasks through the API's history: a page of predictions, and the task a lost submit reply created,
claimed only when it is provably ours (its recorded inputs match the request's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .prediction import Prediction
from .transport import Transport, log

RECONCILE_MAX_PAGES = 10  # of 100 history items each


@dataclass(frozen=True)
class Reconciled:
    """What :meth:`Client.reconcile` found for a submit whose reply was lost.

    ``claimed`` is the task proven ours (None when none could be); ``candidates`` are the tasks that may be ours,
    one or several, for a person to choose from (empty when claimed, and when no task was created at all).
    """

    claimed: Prediction | None = None
    candidates: tuple[Prediction, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.claimed is None and bool(self.candidates)

    @property
    def nothing(self) -> bool:
        """No task at all could be ours: the submit created none, so nothing was charged."""
        return self.claimed is None and not self.candidates

    @property
    def candidate_ids(self) -> list[str]:
        return [p.id for p in self.candidates]


class History(Transport):
    """The history endpoint and reconciling a lost submit (a room of :class:`playground.client.Client`)."""

    def history(self, *, page: int = 1, page_size: int = 50, created_after: float | None = None,
                created_before: float | None = None, model: str | None = None,
                status: str | None = None) -> tuple[list[Prediction], int]:
        """One page of the account's predictions, newest first, and the total count."""
        body: dict[str, Any] = {"page": page, "page_size": page_size}
        if created_after is not None:
            body["created_after"] = _iso(created_after)
        if created_before is not None:
            body["created_before"] = _iso(created_before)
        if model:
            body["model"] = model
        if status:
            body["status"] = status
        data = self._call("POST", "/api/v3/predictions", kind="history", json=body) or {}
        items = [Prediction.from_api(item) for item in data.get("items") or []]
        return items, int(data.get("total") or len(items))

    def reconcile(self, model: str, *, sent_at: float, params: dict[str, Any] | None = None,
                  exclude: set[str] | frozenset[str] | Callable[[], set[str]] = frozenset(),
                  window: float = 300.0, skew: float | None = None) -> Reconciled:
        """Find the task a submit whose reply was lost created, claiming only a task that is provably ours.

        Candidates are the tasks of ``model`` created from ``sent_at - skew`` (default ``clock_skew``) to
        ``sent_at + window``, minus ``exclude`` (ids the ledger already holds, under any backend; a callable is asked
        after the history is read, so a task another client recorded meanwhile is left out too). A candidate whose
        history item carries an ``input`` that differs from ``params`` in any field is someone else's; one whose
        input holds every field of ``params`` with the same values (image URLs included) is proven ours. The task is
        claimed only when exactly one proven candidate remains and no unproven one. Otherwise (history without
        inputs included, whatever the number or timing of its tasks) nothing is claimed and the candidates are
        returned for a person to choose (:func:`playground.pipeline.claim`). No candidate at all means no task was
        created.
        """
        skew = self.clock_skew if skew is None else float(skew)
        start, end = sent_at - skew, sent_at + window
        items = self._window(model, start, end)
        excluded = exclude() if callable(exclude) else exclude
        proven: list[Prediction] = []
        unproven: list[Prediction] = []
        seen: set[str] = set()
        for pred in items:
            if not pred.id or pred.id in seen or pred.id in excluded or (pred.model and pred.model != model):
                continue
            seen.add(pred.id)
            ts = pred.created_ts
            if ts is not None and not start <= ts <= end:  # in case the API ignored the time filter
                continue
            verdict = _input_verdict(pred.raw.get("input"), params)
            if verdict is not False:
                (proven if verdict else unproven).append(pred)
        if len(proven) == 1 and not unproven:
            return Reconciled(proven[0])
        return Reconciled(None, tuple(sorted(proven + unproven, key=lambda p: (p.created_ts or sent_at, p.id))))

    def _window(self, model: str, start: float, end: float) -> list[Prediction]:
        """The history's tasks of ``model`` created between ``start`` and ``end``, newest first, a bounded number."""
        items: list[Prediction] = []
        for page in range(1, RECONCILE_MAX_PAGES + 1):
            batch, total = self.history(page=page, page_size=100, created_after=start, created_before=end,
                                        model=model)
            items.extend(batch)
            if not batch or len(items) >= total:
                return items
        log.warning("reconcile: more than %d tasks in the window; looked at the newest only", len(items))
        return items


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _input_verdict(recorded: Any, params: dict[str, Any] | None) -> bool | None:
    """True when ``recorded`` holds every field of ``params`` with the same value, False when any field it holds
    differs, None when it cannot tell (no input recorded, or fields missing)."""
    if params is None or not isinstance(recorded, dict):
        return None
    complete = True
    for key, value in params.items():
        if key not in recorded:
            complete = False
        elif not _same_value(recorded[key], value):
            return False
    return True if complete else None


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


__all__ = ["History", "Reconciled", "RECONCILE_MAX_PAGES"]
