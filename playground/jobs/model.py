"""What the ledger holds: a :class:`Job` row, a :class:`Reservation`, where the ledger lives, and how keys are
tagged without being stored."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..status import COMPLETED, UNCHARGED, UNFINISHED

# Statuses that cannot be charged: excluded from spending (a fixed order for the SQL's placeholders).
NOT_CHARGED = tuple(sorted(UNCHARGED))
# A reserved row not sent within this long was left by a process that stopped while uploading (an upload's read
# timeout is 2 minutes, and there are at most two): it is marked lost, stops counting, and can never be sent.
UNSENT_STALE_S = 600.0
UPLOAD_LIFETIME_S = 7 * 24 * 3600
UPLOAD_REUSE_S = 6 * 24 * 3600  # a day's margin before the API forgets an upload

SPACE_PERSISTENT_STORAGE = Path("/data")


def default_home() -> Path:
    """``PLAYGROUND_HOME``; else, on a Hugging Face Space with persistent storage (a writable ``/data``), a folder
    there, so history and paid videos survive restarts; else the per-user data dir
    (``~/.local/share/seedance-playground`` on Linux)."""
    env = os.environ.get("PLAYGROUND_HOME")
    if env:
        return Path(env).expanduser()
    if os.environ.get("SPACE_ID") and SPACE_PERSISTENT_STORAGE.is_dir() and \
            os.access(SPACE_PERSISTENT_STORAGE, os.W_OK):
        return SPACE_PERSISTENT_STORAGE / "seedance-playground"
    try:
        from platformdirs import user_data_dir

        return Path(user_data_dir("seedance-playground", appauthor=False))
    except ImportError:  # platformdirs comes with gradio; this is only a fallback
        return Path.home() / ".local" / "share" / "seedance-playground"


def account_tag(api_key: str | None) -> str:
    """A short one-way fingerprint of a key, so spending can be grouped without storing the key."""
    if not api_key:
        return ""
    return hashlib.sha256(("seedance-playground:" + api_key).encode()).hexdigest()[:12]


@dataclass
class Job:
    """One row of the ledger."""

    id: int
    created_at: float
    updated_at: float
    sent_at: float | None
    finished_at: float | None
    base_url: str
    account: str
    session: str
    model: str
    params: dict
    fingerprint: str
    seed: int | None
    resolution: str | None
    duration: int | None
    audio: bool | None
    cost: float
    status: str
    request_id: str | None
    outputs: list
    nsfw: list
    inference_ms: int | None
    error: str
    error_code: int | None
    video_path: str | None
    # Task ids a lost submit may have created, when reconciling could not prove which one is ours.
    candidates: list = field(default_factory=list)
    # Who asked, for per-visitor caps on a hosted app (the client address Gradio sees), else "".
    visitor: str = ""
    # How the end became known: "webhook" when a verified delivery said so, else "" (polled).
    completed_by: str = ""
    # A final's draft: the job whose model, image, prompt and seed it rendered again at a higher setting.
    draft_of: int | None = None
    # A page run served from the ledger (status "reused"): the paid job whose video it showed.
    reused_from: int | None = None
    # What the API's billing says it deducted for the task and refunded, once read (None: not read yet).
    charged_usd: float | None = None
    refunded_usd: float | None = None
    # An extension's parent: the job whose clip it continues.
    extends: int | None = None

    @property
    def net_charge(self) -> float | None:
        """What the task really cost once the billing was read (deducted less refunded), else None."""
        return None if self.charged_usd is None else round(self.charged_usd - (self.refunded_usd or 0.0), 6)

    @property
    def charge_differs(self) -> bool:
        """The billing's net charge is known and is not the estimate the row was reserved with."""
        net = self.net_charge
        return net is not None and abs(net - self.cost) > 1e-6

    @property
    def completed(self) -> bool:
        """The task ended with a video at the API (it may not be on disk yet)."""
        return self.status == COMPLETED

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED or (self.status == COMPLETED and not self.has_video)

    @property
    def has_video(self) -> bool:
        return bool(self.video_path) and Path(self.video_path).exists()

    @property
    def reusable(self) -> bool:
        """Completed, with its video on disk or an output URL the API still serves."""
        return self.status == COMPLETED and (
            self.has_video or (bool(self.outputs) and time.time() - (self.finished_at or 0) < UPLOAD_REUSE_S))

    @property
    def in_flight(self) -> bool:
        """Reserved or sent and not yet ended at the API: an identical request waits for it rather than paying."""
        return self.status in UNFINISHED

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        d = dict(row)
        d["params"] = json.loads(d["params"])
        d["outputs"] = json.loads(d["outputs"])
        d["nsfw"] = json.loads(d["nsfw"])
        d["candidates"] = json.loads(d.get("candidates") or "[]")
        d["audio"] = None if d["audio"] is None else bool(d["audio"])
        return cls(**d)


COLUMNS = frozenset(f.name for f in fields(Job))
JSON_COLUMNS = ("outputs", "nsfw", "params", "candidates")

SpentReader = Callable[..., float]


@dataclass(frozen=True)
class Reservation:
    """What :meth:`Ledger.reserve` did: wrote a pending row (``job_id``), or found an identical request (``twin``)
    already in flight or completed, and wrote nothing."""

    job_id: int | None = None
    twin: Job | None = None


def encode_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Column values as stored: lists and params as JSON, audio as 0/1. Unknown columns are refused."""
    unknown = set(changes) - COLUMNS
    if unknown:
        raise KeyError(f"not ledger columns: {sorted(unknown)}")
    stored = dict(changes)
    for key in JSON_COLUMNS:
        if key in stored:
            stored[key] = json.dumps(list(stored[key]) if key != "params" else stored[key],
                                     sort_keys=key == "params")
    if stored.get("audio") is not None:
        stored["audio"] = int(bool(stored["audio"]))
    return stored
