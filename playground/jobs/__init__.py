"""The ledger: every paid request, its id, status, cost and local files.

A row is written *before* the submit POST (state ``pending``) and updated after it and at every status change, so a
crash at any point leaves a row that :func:`playground.pipeline.resume` can finish. The key is never stored: rows
carry ``account``, a short one-way fingerprint of it, so spending can be summed per key.

Where it lives: by default one SQLite file under ``PLAYGROUND_HOME`` (WAL journal, or the rollback journal on a
network or FUSE filesystem such as a Space's bucket: :mod:`playground.jobs.journal`), safe across threads and
processes; with ``PLAYGROUND_DATABASE_URL=postgresql://...``, a PostgreSQL database that several replicas share
(:mod:`playground.jobs.postgres`, needs the ``postgres`` extra). One :class:`Ledger`, the same guarantees on both.
"""

from __future__ import annotations

from ..contract import fingerprint as fingerprint  # the ledger's identity of a request, re-exported
from ..status import LOST as LOST
from ..status import PENDING as PENDING
from ..status import REJECTED as REJECTED  # re-exported: the ledger's states are importable from here
from ..status import UNKNOWN as UNKNOWN
from .journal import choose_journal, journal_for_mounts
from .ledger import DATABASE_URL_ENV, Ledger
from .model import (
    NOT_CHARGED,
    SPACE_PERSISTENT_STORAGE,
    UNSENT_STALE_S,
    UPLOAD_LIFETIME_S,
    UPLOAD_REUSE_S,
    Job,
    Reservation,
    SpentReader,
    account_tag,
    default_home,
)
from .store import SqliteStore, Store

__all__ = ["Ledger", "Job", "Reservation", "SpentReader", "Store", "SqliteStore", "account_tag", "default_home",
           "fingerprint", "choose_journal", "journal_for_mounts", "DATABASE_URL_ENV", "NOT_CHARGED",
           "SPACE_PERSISTENT_STORAGE", "UNSENT_STALE_S", "UPLOAD_LIFETIME_S", "UPLOAD_REUSE_S", "PENDING", "LOST",
           "REJECTED", "UNKNOWN"]
