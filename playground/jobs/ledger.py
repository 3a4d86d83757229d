"""The :class:`Ledger`: every paid request, reserved before its POST and updated at every change, over a store
(SQLite embedded, or PostgreSQL for several replicas: see :mod:`playground.jobs`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ..status import COMPLETED, LOST, PENDING, REUSED, TERMINAL, UNKNOWN, allowed_before
from .journal import JOURNAL_ENV
from .model import (
    NOT_CHARGED,
    UNSENT_STALE_S,
    UPLOAD_REUSE_S,
    Job,
    Reservation,
    SpentReader,
    default_home,
    encode_columns,
)
from .store import Connection, SqliteStore, Store

DATABASE_URL_ENV = "PLAYGROUND_DATABASE_URL"


def _spent_sql(since: float, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    # The billing's net charge once read (a failed task's deduction too, until its refund comes), else the estimate
    # the row was reserved with for a row that may be charged.
    sql = ("SELECT COALESCE(SUM(CASE WHEN charged_usd IS NOT NULL THEN charged_usd - COALESCE(refunded_usd, 0) "
           f"WHEN status NOT IN ({','.join('?' * len(NOT_CHARGED))}) THEN cost ELSE 0 END), 0) AS spent "
           "FROM jobs WHERE created_at >= ?")
    args: list[Any] = [*NOT_CHARGED, since]
    for col, value in filters.items():
        if value is not None:
            sql += f" AND {col} = ?"
            args.append(value)
    return sql, args


def _first(row: Any) -> Any:
    return next(iter(dict(row).values()))


class Ledger:
    """The ledger. ``Ledger()`` opens ``PLAYGROUND_HOME/ledger.sqlite3``, or the PostgreSQL database of
    ``PLAYGROUND_DATABASE_URL`` when it is set; ``Ledger(path)`` a given SQLite file, ``Ledger(url=...)`` a given
    database. ``home`` is where videos go (``PLAYGROUND_HOME`` for a database; the file's folder for SQLite), and
    ``journal`` (``"wal"`` or ``"delete"``) overrides SQLite's automatic choice."""

    def __init__(self, path: str | os.PathLike | None = None, *, url: str | None = None,
                 home: str | os.PathLike | None = None, journal: str | None = None):
        url = url if url is not None or path else os.environ.get(DATABASE_URL_ENV, "").strip() or None
        self.store: Store
        if url:
            from .postgres import PostgresStore  # psycopg is imported only when a database is used

            self.store, self.path = PostgresStore(url), None
            self._home = Path(home) if home else default_home()
        else:
            self.path = Path(path) if path else default_home() / "ledger.sqlite3"
            self.store = SqliteStore(self.path, journal=journal)
            self._home = Path(home) if home else self.path.parent

    def __repr__(self) -> str:
        return f"Ledger({self.store!r})"

    @property
    def home(self) -> Path:
        """The folder for this ledger's videos (``home / "outputs"``)."""
        return self._home

    def open_args(self) -> dict[str, str]:
        """Keyword arguments that open this same ledger in another process: ``Ledger(**ledger.open_args())``."""
        return {**self.store.open_args(), "home": str(self._home)}

    def environment(self) -> dict[str, str]:
        """The variables under which ``Ledger()`` in another process (the CLI, an app replica) opens this same
        ledger; the SQLite file must then be ``ledger.sqlite3`` in its home."""
        if self.path is None:
            return {DATABASE_URL_ENV: self.store.open_args()["url"], "PLAYGROUND_HOME": str(self._home)}
        if self.path.name != "ledger.sqlite3" or self.path.parent != self._home:
            raise ValueError(f"{self.path} is not PLAYGROUND_HOME/ledger.sqlite3 of any home")
        return {"PLAYGROUND_HOME": str(self._home), JOURNAL_ENV: self.store.open_args()["journal"]}

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
        No other writer (thread, process or replica) can commit between the check and the insert, so they never
        pass the same last cent, and an identical request is claimed once.

        >>> def at_most_a_dollar(spent):
        ...     if spent(account="a") >= 1.0:
        ...         raise CapExceeded("the dollar is spent")
        >>> ledger.reserve(base_url=url, model=m, params=p, fingerprint=fp, cost=0.1, account="a",
        ...                check=at_most_a_dollar)   # doctest: +SKIP
        """
        now = time.time()
        with self.store.transaction() as db:
            # Reservations whose process stopped before sending stop counting and can no longer be sent.
            db.execute("UPDATE jobs SET status = ?, updated_at = ?, error = ? WHERE status = ? AND sent_at IS NULL "
                       "AND updated_at < ?",
                       (LOST, now, "never sent: the process stopped before the POST; nothing was charged",
                        PENDING, now - UNSENT_STALE_S))
            if once:
                twin = self._twin(db, fingerprint, ignore)
                if twin is not None:
                    return Reservation(twin=twin)
            if check is not None:
                check(lambda **filters: self._spent_in(db, **filters))
            job_id = self.store.insert(
                db, "INSERT INTO jobs (created_at, updated_at, base_url, account, session, visitor, model, params,"
                    " fingerprint, seed, resolution, duration, audio, cost, status)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now, now, base_url, account, session, visitor, model, json.dumps(params, sort_keys=True),
                 fingerprint, params.get("seed"), params.get("resolution"), params.get("duration"),
                 None if params.get("generate_audio") is None else int(bool(params.get("generate_audio"))),
                 cost, PENDING))
            return Reservation(job_id=job_id)

    @staticmethod
    def _twin(db: Connection, fingerprint: str, ignore: Collection[int]) -> Job | None:
        for row in db.execute("SELECT * FROM jobs WHERE fingerprint = ? ORDER BY id DESC", (fingerprint,)).fetchall():
            job = Job.from_row(row)
            if job.id not in ignore and (job.in_flight or job.reusable):
                return job
        return None

    @staticmethod
    def _spent_in(db: Connection, *, since: float = 0.0, account: str | None = None, session: str | None = None,
                  visitor: str | None = None, base_url: str | None = None) -> float:
        sql, args = _spent_sql(since, {"account": account, "session": session, "visitor": visitor,
                                       "base_url": base_url})
        return float(_first(db.execute(sql, args).fetchone()))

    def record_reuse(self, original: Job, *, account: str = "", session: str = "", visitor: str = "") -> int:
        """A row of its own, free and ended (status ``reused``), for a run served by ``original`` 's paid video: the
        visitor's History shows the run. It never counts as spent, in flight or reusable. Returns its id."""
        now = time.time()
        with self.store.connect() as db:
            return self.store.insert(
                db, "INSERT INTO jobs (created_at, updated_at, finished_at, base_url, account, session, visitor, model,"
                    " params, fingerprint, seed, resolution, duration, audio, cost, status, outputs, nsfw,"
                    " inference_ms, video_path, reused_from) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now, now, now, original.base_url, account, session, visitor, original.model,
                 json.dumps(original.params, sort_keys=True), original.fingerprint, original.seed, original.resolution,
                 original.duration, None if original.audio is None else int(original.audio), 0.0, REUSED,
                 json.dumps(original.outputs), json.dumps(original.nsfw), original.inference_ms, original.video_path,
                 original.id))

    def mark_sending(self, job_id: int, params: dict[str, Any], sent_at: float) -> bool:
        """Record the final ``params`` (with upload URLs) and ``sent_at`` just before the POST, only while the row is
        pending and unsent. False: the reservation was given up (marked lost as stale), so it must not be sent."""
        with self.store.connect() as db:
            cur = db.execute("UPDATE jobs SET params = ?, sent_at = ?, updated_at = ? WHERE id = ? AND status = ? "
                             "AND sent_at IS NULL",
                             (json.dumps(params, sort_keys=True), sent_at, time.time(), job_id, PENDING))
            return cur.rowcount == 1

    def update(self, job_id: int, **changes: Any) -> None:
        """Change columns of a row other than its status (lists are stored as JSON); the status changes only
        through :meth:`move`."""
        if "status" in changes:
            raise KeyError("status: a row's status changes only through Ledger.move(), along its allowed moves")
        self._write(job_id, changes, None)

    def move(self, job_id: int, to_status: str, **columns: Any) -> bool:
        """Move a row to ``to_status`` and change ``columns`` with it, in one statement, only when the move is allowed
        from the row's status at that moment (:data:`playground.status.MOVES`; staying put is allowed): a job never
        moves backwards, and of two racing writers the later loses. Returns whether the row moved.

        >>> ledger.move(job_id, PROCESSING)                           # doctest: +SKIP
        True
        >>> ledger.move(job_id, CREATED)   # back to the queue: refused  # doctest: +SKIP
        False
        """
        return self._write(job_id, {**columns, "status": to_status}, allowed_before(to_status))

    def end(self, job_id: int, to_status: str, **columns: Any) -> bool:
        """Record how the row's task ended (a terminal status), exactly once across threads, processes and replicas:
        True for the one writer that moved the row from an unended status, False for every later one (the end was
        already recorded, e.g. by the replica that received the webhook). Only the winner should collect the video."""
        if to_status not in TERMINAL:
            raise ValueError(f"{to_status!r} is not the end of a task")
        before = tuple(s for s in allowed_before(to_status) if s not in TERMINAL)
        return self._write(job_id, {**columns, "status": to_status}, before)

    def _write(self, job_id: int, changes: dict[str, Any], before: tuple[str, ...] | None) -> bool:
        changes = encode_columns(changes)
        changes.setdefault("updated_at", time.time())
        sql = f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?"
        args = [*changes.values(), job_id]
        if before is not None:
            sql += f" AND status IN ({','.join('?' * len(before))})"
            args += before
        with self.store.connect() as db:
            return db.execute(sql, args).rowcount == 1

    def get(self, job_id: int) -> Job:
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id} in the ledger")
        return Job.from_row(row)

    def by_request_id(self, request_id: str) -> Job | None:
        with self.store.connect() as db:
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
        with self.store.connect() as db:
            return [Job.from_row(r) for r in db.execute(sql, args).fetchall()]

    def unfinished(self, base_url: str | None = None) -> list[Job]:
        """Rows that may still produce (or owe) a video: not yet ended, or ended without a local file."""
        return [j for j in self.jobs(base_url=base_url) if j.unfinished and j.status != LOST]

    def find_reusable(self, fp: str) -> Job | None:
        """The newest completed row for this fingerprint whose video is still on disk or still downloadable."""
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM jobs WHERE fingerprint = ? AND status = ? ORDER BY id DESC",
                              (fp, COMPLETED)).fetchall()
        for row in rows:
            job = Job.from_row(row)
            if job.reusable:
                return job
        return None

    def sent_without_task(self, account: str, *, since: float) -> int:
        """How many requests of ``account`` were sent since ``since`` and have no task id recorded yet (their reply
        is on its way, or was lost): a webhook delivery of an unknown task may belong to one of them."""
        with self.store.connect() as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE account = ? AND sent_at >= ? AND request_id IS NULL "
                             "AND status IN (?, ?)", (account, since, PENDING, UNKNOWN)).fetchone()
        return int(_first(row))

    def known_request_ids(self, base_url: str) -> set[str]:
        with self.store.connect() as db:
            rows = db.execute("SELECT request_id FROM jobs WHERE base_url = ? AND request_id IS NOT NULL",
                              (base_url,)).fetchall()
        return {_first(r) for r in rows}

    def spent(self, *, since: float = 0.0, account: str | None = None, session: str | None = None,
              base_url: str | None = None, visitor: str | None = None) -> float:
        """USD committed since ``since``: what the billing says each row cost net of refunds once read (a failed
        task's deduction included until its refund comes), else the estimate of every row that may be charged (all
        but rejected, failed, lost, ...), pending reservations included."""
        with self.store.connect() as db:
            return self._spent_in(db, since=since, account=account, session=session, base_url=base_url,
                                  visitor=visitor)

    def inference_stats(self, model: str, resolution: str | None, duration: int | None,
                        base_url: str | None = None, last: int = 20) -> tuple[float, float] | None:
        """Median and spread (median absolute deviation, at least 5%) in seconds of past runs, or None."""
        sql = "SELECT inference_ms FROM jobs WHERE model = ? AND status = ? AND inference_ms IS NOT NULL"
        args: list[Any] = [model, COMPLETED]
        for col, value in (("resolution", resolution), ("duration", duration), ("base_url", base_url)):
            if value is not None:
                sql += f" AND {col} = ?"
                args.append(value)
            elif col != "base_url":
                sql += f" AND {col} IS NULL"
        sql += f" ORDER BY id DESC LIMIT {int(last)}"
        with self.store.connect() as db:
            values = sorted(_first(r) / 1000.0 for r in db.execute(sql, args).fetchall())
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
        with self.store.connect() as db:
            row = db.execute("SELECT url, uploaded_at FROM uploads WHERE content_hash = ? AND base_url = ?",
                             (content_hash, base_url)).fetchone()
        if row and time.time() - row["uploaded_at"] < UPLOAD_REUSE_S:
            return row["url"]
        return None

    def upload_hash(self, url: str, base_url: str) -> str | None:
        """The content hash of a fresh upload of ours to ``base_url`` that lives at ``url``, else None: a request
        naming the uploaded URL is the same request as one giving the file."""
        with self.store.connect() as db:
            row = db.execute("SELECT content_hash, uploaded_at FROM uploads WHERE url = ? AND base_url = ?",
                             (url, base_url)).fetchone()
        if row and time.time() - row["uploaded_at"] < UPLOAD_REUSE_S:
            return row["content_hash"]
        return None

    def remember_upload(self, content_hash: str, base_url: str, url: str) -> None:
        with self.store.connect() as db:
            db.execute("INSERT INTO uploads (content_hash, base_url, url, uploaded_at) VALUES (?,?,?,?) "
                       "ON CONFLICT (content_hash, base_url) DO UPDATE SET url = excluded.url, "
                       "uploaded_at = excluded.uploaded_at", (content_hash, base_url, url, time.time()))

    def forget_upload(self, content_hash: str, base_url: str) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM uploads WHERE content_hash = ? AND base_url = ?", (content_hash, base_url))

    # ---- webhook deliveries ----------------------------------------------------------------------------------

    def record_delivery(self, task_id: str, prediction: dict[str, Any] | None = None) -> bool:
        """Record a verified webhook delivery for ``task_id``: True the first time it is recorded by any thread,
        process or replica sharing this ledger, False for every repeat (answer it as a duplicate). ``prediction``, the
        verified body, is kept for :meth:`delivery`, so a run waiting on another replica can read the end."""
        with self.store.connect() as db:
            cur = db.execute("INSERT INTO deliveries (task_id, received_at, prediction) VALUES (?,?,?) "
                             "ON CONFLICT (task_id) DO NOTHING",
                             (task_id, time.time(), json.dumps(prediction) if prediction is not None else ""))
            return cur.rowcount == 1

    def delivery(self, task_id: str) -> dict[str, Any] | None:
        """The verified prediction recorded for ``task_id`` by :meth:`record_delivery` (on any replica), or None."""
        with self.store.connect() as db:
            row = db.execute("SELECT prediction FROM deliveries WHERE task_id = ?", (task_id,)).fetchone()
        return json.loads(row["prediction"]) if row and row["prediction"] else None
