"""The ledger: every paid request, its id, status, cost and local files, in SQLite under ``PLAYGROUND_HOME``.

A row is written *before* the submit POST (state ``pending``) and updated after it and at every status change, so a
crash at any point leaves a row that :func:`playground.pipeline.resume` can finish. WAL mode and one short-lived
connection per operation make it safe across threads and processes. The key is never stored: rows carry
``account``, a short one-way fingerprint of it, so spending can be summed per key.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .contract import fingerprint as fingerprint  # noqa: F811 (the ledger's identity of a request, re-exported)
from .status import COMPLETED, LOST, PENDING, REUSED, UNCHARGED, UNFINISHED
from .status import REJECTED as REJECTED  # re-exported: the ledger's states are importable from here
from .status import UNKNOWN as UNKNOWN

# Statuses that cannot be charged: excluded from spending (a fixed order for the SQL's placeholders).
NOT_CHARGED = tuple(sorted(UNCHARGED))
# A reserved row not sent within this long was left by a process that stopped while uploading (an upload's read
# timeout is 2 minutes, and there are at most two): it is marked lost, stops counting, and can never be sent.
UNSENT_STALE_S = 600.0
UPLOAD_LIFETIME_S = 7 * 24 * 3600
UPLOAD_REUSE_S = 6 * 24 * 3600  # a day's margin before the API forgets an upload

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    finished_at REAL,
    base_url TEXT NOT NULL,
    account TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seed INTEGER,
    resolution TEXT,
    duration INTEGER,
    audio INTEGER,
    cost REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    request_id TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    nsfw TEXT NOT NULL DEFAULT '[]',
    inference_ms INTEGER,
    error TEXT NOT NULL DEFAULT '',
    error_code INTEGER,
    video_path TEXT,
    candidates TEXT NOT NULL DEFAULT '[]',
    visitor TEXT NOT NULL DEFAULT '',
    completed_by TEXT NOT NULL DEFAULT '',
    draft_of INTEGER,
    reused_from INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs (fingerprint, status);
CREATE INDEX IF NOT EXISTS jobs_request ON jobs (request_id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS uploads (
    content_hash TEXT NOT NULL,
    base_url TEXT NOT NULL,
    url TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (content_hash, base_url)
);
"""


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
    def from_row(cls, row: sqlite3.Row) -> Job:
        d = dict(row)
        d["params"] = json.loads(d["params"])
        d["outputs"] = json.loads(d["outputs"])
        d["nsfw"] = json.loads(d["nsfw"])
        d["candidates"] = json.loads(d.get("candidates") or "[]")
        d["audio"] = None if d["audio"] is None else bool(d["audio"])
        return cls(**d)


_COLUMNS = {f.name for f in fields(Job)}
# Columns added after the first release, for ledgers written by an older version.
_LATER_COLUMNS = {"candidates": "TEXT NOT NULL DEFAULT '[]'", "visitor": "TEXT NOT NULL DEFAULT ''",
                  "completed_by": "TEXT NOT NULL DEFAULT ''", "draft_of": "INTEGER",
                  "reused_from": "INTEGER"}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for name, decl in _LATER_COLUMNS.items():
        if name not in have:
            try:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
            except sqlite3.OperationalError:  # another process added it first
                pass


SpentReader = Callable[..., float]


@dataclass(frozen=True)
class Reservation:
    """What :meth:`Ledger.reserve` did: wrote a pending row (``job_id``), or found an identical request (``twin``)
    already in flight or completed, and wrote nothing."""

    job_id: int | None = None
    twin: Job | None = None


def _spent_sql(since: float, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    sql = (f"SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE created_at >= ? AND status NOT IN "
           f"({','.join('?' * len(NOT_CHARGED))})")
    args: list[Any] = [since, *NOT_CHARGED]
    for col, value in filters.items():
        if value is not None:
            sql += f" AND {col} = ?"
            args.append(value)
    return sql, args


class Ledger:
    """The SQLite ledger. ``Ledger()`` opens ``PLAYGROUND_HOME/ledger.sqlite3``."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_home() / "ledger.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            _add_missing_columns(db)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @property
    def home(self) -> Path:
        return self.path.parent

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield db
        finally:
            db.close()

    # ---- jobs ------------------------------------------------------------------------------------------------

    def record_pending(self, *, base_url: str, model: str, params: dict[str, Any], fingerprint: str, cost: float,
                       account: str = "", session: str = "", visitor: str = "") -> int:
        """Write the row for a request about to be sent, with no check. Returns its id."""
        reservation = self.reserve(base_url=base_url, model=model, params=params, fingerprint=fingerprint, cost=cost,
                                   account=account, session=session, visitor=visitor)
        assert reservation.job_id is not None
        return reservation.job_id

    def reserve(self, *, base_url: str, model: str, params: dict[str, Any], fingerprint: str, cost: float,
                account: str = "", session: str = "", visitor: str = "", once: bool = False,
                check: Callable[[SpentReader], None] | None = None, ignore: Collection[int] = ()) -> Reservation:
        """Reserve a request in ONE write transaction: the pending row *is* the reservation of its cost.

        With ``once``, an identical request (same ``fingerprint``) in flight or completed and reusable is returned as
        the ``twin`` and nothing is written (rows whose ids are in ``ignore`` excepted). Otherwise ``check(spent)``
        runs (it may raise, e.g. CapExceeded, and then nothing is written) with ``spent(since=..., account=...,
        session=..., visitor=...)`` summing as :meth:`spent` does within this transaction, and the row is inserted.
        No other connection can write between the check and the insert, so processes never pass the same last cent.

        >>> def at_most_a_dollar(spent):
        ...     if spent(account="a") >= 1.0:
        ...         raise CapExceeded("the dollar is spent")
        >>> ledger.reserve(base_url=url, model=m, params=p, fingerprint=fp, cost=0.1, account="a",
        ...                check=at_most_a_dollar)   # doctest: +SKIP
        """
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                # Reservations whose process stopped before sending stop counting and can no longer be sent.
                db.execute("UPDATE jobs SET status = ?, updated_at = ?, error = ? WHERE status = ? AND sent_at IS "
                           "NULL AND updated_at < ?",
                           (LOST, now, "never sent: the process stopped before the POST; nothing was charged",
                            PENDING, now - UNSENT_STALE_S))
                if once:
                    for row in db.execute("SELECT * FROM jobs WHERE fingerprint = ? ORDER BY id DESC",
                                          (fingerprint,)).fetchall():
                        job = Job.from_row(row)
                        if job.id not in ignore and (job.in_flight or job.reusable):
                            db.execute("COMMIT")
                            return Reservation(twin=job)
                if check is not None:
                    def spent(*, since: float = 0.0, account: str | None = None, session: str | None = None,
                              visitor: str | None = None) -> float:
                        sql, args = _spent_sql(since, {"account": account, "session": session, "visitor": visitor})
                        return float(db.execute(sql, args).fetchone()[0])

                    check(spent)
                cur = db.execute(
                    "INSERT INTO jobs (created_at, updated_at, base_url, account, session, visitor, model, params,"
                    " fingerprint, seed, resolution, duration, audio, cost, status)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (now, now, base_url, account, session, visitor, model, json.dumps(params, sort_keys=True),
                     fingerprint, params.get("seed"), params.get("resolution"), params.get("duration"),
                     None if params.get("generate_audio") is None else int(bool(params.get("generate_audio"))),
                     cost, PENDING),
                )
                db.execute("COMMIT")
                return Reservation(job_id=int(cur.lastrowid))
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def record_reuse(self, original: Job, *, account: str = "", session: str = "", visitor: str = "") -> int:
        """A row of its own, free and ended (status ``reused``), for a run served by ``original`` 's paid video: the
        visitor's History shows the run. It never counts as spent, in flight or reusable. Returns its id."""
        now = time.time()
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO jobs (created_at, updated_at, finished_at, base_url, account, session, visitor, model,"
                " params, fingerprint, seed, resolution, duration, audio, cost, status, outputs, nsfw, inference_ms,"
                " video_path, reused_from) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now, now, now, original.base_url, account, session, visitor, original.model,
                 json.dumps(original.params, sort_keys=True), original.fingerprint, original.seed, original.resolution,
                 original.duration, None if original.audio is None else int(original.audio), 0.0, REUSED,
                 json.dumps(original.outputs), json.dumps(original.nsfw), original.inference_ms, original.video_path,
                 original.id))
            return int(cur.lastrowid)

    def mark_sending(self, job_id: int, params: dict[str, Any], sent_at: float) -> bool:
        """Record the final ``params`` (with upload URLs) and ``sent_at`` just before the POST, only while the row is
        pending and unsent. False: the reservation was given up (marked lost as stale), so it must not be sent."""
        with self._connect() as db:
            cur = db.execute("UPDATE jobs SET params = ?, sent_at = ?, updated_at = ? WHERE id = ? AND status = ? "
                             "AND sent_at IS NULL",
                             (json.dumps(params, sort_keys=True), sent_at, time.time(), job_id, PENDING))
            return cur.rowcount == 1

    def update(self, job_id: int, **changes: Any) -> None:
        """Change columns of a row (lists are stored as JSON)."""
        unknown = set(changes) - _COLUMNS
        if unknown:
            raise KeyError(f"not ledger columns: {sorted(unknown)}")
        changes["updated_at"] = time.time()
        for key in ("outputs", "nsfw", "params", "candidates"):
            if key in changes:
                changes[key] = json.dumps(list(changes[key]) if key != "params" else changes[key])
        if "audio" in changes and changes["audio"] is not None:
            changes["audio"] = int(bool(changes["audio"]))
        assignments = ", ".join(f"{k} = ?" for k in changes)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*changes.values(), job_id))

    def get(self, job_id: int) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id} in the ledger")
        return Job.from_row(row)

    def by_request_id(self, request_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                             (request_id,)).fetchone()
        return Job.from_row(row) if row else None

    def jobs(self, *, limit: int | None = None, base_url: str | None = None, session: str | None = None,
             account: str | None = None) -> list[Job]:
        """Rows, newest first, optionally only one backend's, session's or account's."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        for col, value in (("base_url", base_url), ("session", session), ("account", account)):
            if value is not None:
                sql += f" AND {col} = ?"
                args.append(value)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as db:
            return [Job.from_row(r) for r in db.execute(sql, args).fetchall()]

    def unfinished(self, base_url: str | None = None) -> list[Job]:
        """Rows that may still produce (or owe) a video: not yet ended, or ended without a local file."""
        return [j for j in self.jobs(base_url=base_url) if j.unfinished and j.status != LOST]

    def find_reusable(self, fp: str) -> Job | None:
        """The newest completed row for this fingerprint whose video is still on disk or still downloadable."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs WHERE fingerprint = ? AND status = 'completed' ORDER BY id DESC",
                              (fp,)).fetchall()
        for row in rows:
            job = Job.from_row(row)
            if job.reusable:
                return job
        return None

    def sent_without_task(self, account: str, *, since: float) -> int:
        """How many requests of ``account`` were sent since ``since`` and have no task id recorded yet (their reply
        is on its way, or was lost): a webhook delivery of an unknown task may belong to one of them."""
        with self._connect() as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE account = ? AND sent_at >= ? AND request_id IS NULL "
                             "AND status IN (?, ?)", (account, since, PENDING, UNKNOWN)).fetchone()
        return int(row[0])

    def known_request_ids(self, base_url: str) -> set[str]:
        with self._connect() as db:
            rows = db.execute("SELECT request_id FROM jobs WHERE base_url = ? AND request_id IS NOT NULL",
                              (base_url,)).fetchall()
        return {r[0] for r in rows}

    def spent(self, *, since: float = 0.0, account: str | None = None, session: str | None = None,
              base_url: str | None = None, visitor: str | None = None) -> float:
        """USD committed since ``since``: every row that may be charged (all but rejected, failed, lost, ...),
        pending reservations included."""
        sql, args = _spent_sql(since, {"account": account, "session": session, "base_url": base_url,
                                       "visitor": visitor})
        with self._connect() as db:
            return float(db.execute(sql, args).fetchone()[0])

    def inference_stats(self, model: str, resolution: str | None, duration: int | None,
                        base_url: str | None = None, last: int = 20) -> tuple[float, float] | None:
        """Median and spread (median absolute deviation, at least 5%) in seconds of past runs, or None."""
        sql = ("SELECT inference_ms FROM jobs WHERE model = ? AND resolution IS ? AND duration IS ? AND "
               "status = 'completed' AND inference_ms IS NOT NULL")
        args: list[Any] = [model, resolution, duration]
        if base_url is not None:
            sql += " AND base_url = ?"
            args.append(base_url)
        sql += f" ORDER BY id DESC LIMIT {int(last)}"
        with self._connect() as db:
            values = sorted(r[0] / 1000.0 for r in db.execute(sql, args).fetchall())
        if not values:
            return None
        median = values[len(values) // 2]
        mad = sorted(abs(v - median) for v in values)[len(values) // 2]
        return median, max(mad, 0.05 * median)

    def history(self, limit: int | None = None, **filters: Any):
        """The ledger as a pandas DataFrame, newest first."""
        import pandas as pd

        columns = ["id", "created_at", "status", "request_id", "model", "resolution", "duration", "audio", "seed",
                   "cost", "inference_ms", "nsfw", "error", "error_code", "video_path", "base_url"]
        rows = []
        for job in self.jobs(limit=limit, **filters):
            row = {c: getattr(job, c) for c in columns}
            row["created_at"] = pd.Timestamp(job.created_at, unit="s", tz="UTC")
            row["nsfw"] = any(job.nsfw)
            row["prompt"] = job.params.get("prompt") or ""
            rows.append(row)
        return pd.DataFrame(rows, columns=[*columns, "prompt"])

    # ---- uploads ---------------------------------------------------------------------------------------------

    def cached_upload(self, content_hash: str, base_url: str) -> str | None:
        """The URL of an earlier upload of the same bytes to the same API, while it is still fresh."""
        with self._connect() as db:
            row = db.execute("SELECT url, uploaded_at FROM uploads WHERE content_hash = ? AND base_url = ?",
                             (content_hash, base_url)).fetchone()
        if row and time.time() - row["uploaded_at"] < UPLOAD_REUSE_S:
            return row["url"]
        return None

    def upload_hash(self, url: str, base_url: str) -> str | None:
        """The content hash of a fresh upload of ours to ``base_url`` that lives at ``url``, else None: a request
        naming the uploaded URL is the same request as one giving the file."""
        with self._connect() as db:
            row = db.execute("SELECT content_hash, uploaded_at FROM uploads WHERE url = ? AND base_url = ?",
                             (url, base_url)).fetchone()
        if row and time.time() - row["uploaded_at"] < UPLOAD_REUSE_S:
            return row["content_hash"]
        return None

    def remember_upload(self, content_hash: str, base_url: str, url: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO uploads VALUES (?,?,?,?)", (content_hash, base_url, url, time.time()))

    def forget_upload(self, content_hash: str, base_url: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM uploads WHERE content_hash = ? AND base_url = ?", (content_hash, base_url))
