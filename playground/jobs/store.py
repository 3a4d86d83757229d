"""Where the ledger's rows live: the :class:`Store` the :class:`~playground.jobs.Ledger` talks to, and its embedded
SQLite implementation. (PostgreSQL, for several replicas, is in :mod:`playground.jobs.postgres`.)

Statements are written once with ``?`` placeholders; a store runs them on its connections. ``transaction()`` is the
one serialised write transaction a reservation needs: no other writer can commit between its check and its insert.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from .journal import DELETE, choose_journal

log = logging.getLogger(__name__)

SQLITE_SCHEMA = """
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
    reused_from INTEGER,
    charged_usd REAL,
    refunded_usd REAL,
    extends INTEGER
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
CREATE TABLE IF NOT EXISTS deliveries (
    task_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    prediction TEXT NOT NULL DEFAULT ''
);
"""

# Columns added after the first release, for ledgers written by an older version.
LATER_COLUMNS = {"candidates": "TEXT NOT NULL DEFAULT '[]'", "visitor": "TEXT NOT NULL DEFAULT ''",
                 "completed_by": "TEXT NOT NULL DEFAULT ''", "draft_of": "INTEGER", "reused_from": "INTEGER",
                 "charged_usd": "REAL", "refunded_usd": "REAL", "extends": "INTEGER"}


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ...) -> Cursor: ...


class Store(Protocol):
    """What a ledger backend provides. Rows come back as mappings of column names."""

    kind: str

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection whose statements each commit on their own."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction, serialised with every other one on this ledger (all processes and replicas):
        committed when the block ends, rolled back when it raises."""

    def insert(self, db: Connection, sql: str, args: Sequence[Any]) -> int:
        """Run an ``INSERT`` of one row and return its new integer ``id``."""

    def open_args(self) -> dict[str, str]:
        """Keyword arguments that open this same store again (``Ledger(**args)``), e.g. in another process."""


class SqliteStore:
    """The embedded default: one SQLite file, one short-lived connection per operation, safe across threads and
    processes. WAL where the folder's filesystem shares memory, else the rollback journal (see :mod:`.journal`)."""

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike, *, journal: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = choose_journal(self.path.parent, journal=journal)
        # WAL's commits are safe with NORMAL; the rollback journal needs FULL to survive a power cut.
        self._synchronous = "FULL" if self.journal == DELETE else "NORMAL"
        with self.connect() as db:
            db.execute(f"PRAGMA journal_mode={self.journal.upper()}")
            db.executescript(SQLITE_SCHEMA)
            _add_missing_columns(db)

    def __repr__(self) -> str:
        return repr(str(self.path))

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock now, so no other writer commits before we do
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def insert(self, db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
        return int(db.execute(sql, args).lastrowid)

    def open_args(self) -> dict[str, str]:
        return {"path": str(self.path), "journal": self.journal}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for name, decl in LATER_COLUMNS.items():
        if name not in have:
            try:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
            except sqlite3.OperationalError:  # another process added it first
                pass
