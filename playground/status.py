"""Every status a job can have, in one place: the API's task statuses and the ledger's own states.

The API reports ``created``, ``processing``, ``completed``, ``failed`` (and ``cancelled``, ``timeout``, ``deleted``).
Before, around and instead of the API the ledger adds ``pending`` (reserved, not yet answered), ``unknown`` (the
submit's reply was lost), ``rejected`` (refused by the API: nothing created) and ``lost`` (never sent, or no task was
created); a page run that reused an earlier paid video gets a row of its own, ``reused``. A sweep row that never
reached the ledger is ``error``.

>>> COMPLETED in TERMINAL, PENDING in UNFINISHED, REJECTED in UNCHARGED
(True, True, True)
"""

from __future__ import annotations

# The API's task statuses (V).
CREATED = "created"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMEOUT = "timeout"
DELETED = "deleted"

# The ledger's own states.
PENDING = "pending"
UNKNOWN = "unknown"
REJECTED = "rejected"
LOST = "lost"
# A page run served from the ledger: the visitor's own row for a video an identical request paid for earlier.
REUSED = "reused"

# A sweep row for a job that never got as far as the ledger.
ERROR = "error"

# The task has ended at the API; polling it again changes nothing.
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, TIMEOUT, DELETED})
# At the API and not yet ended: what a runner's concurrency bounds.
IN_FLIGHT = frozenset({CREATED, PROCESSING})
# Not yet ended, the ledger's states before and around the submit included: may still produce a video.
UNFINISHED = (PENDING, UNKNOWN, CREATED, PROCESSING)
# Never charged, or refunded: such rows count nothing against a budget.
UNCHARGED = frozenset({REJECTED, FAILED, CANCELLED, LOST, TIMEOUT, DELETED, ERROR, REUSED})

# A ledger row's allowed moves, from -> to (the only writer is playground.jobs.Ledger.move). A row may always stay
# where it is (only its columns change); nothing ever moves back towards pending, and an ended row stays ended.
MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({UNKNOWN, REJECTED, LOST, CREATED, PROCESSING, *TERMINAL}),
    UNKNOWN: frozenset({LOST, CREATED, PROCESSING, *TERMINAL}),
    CREATED: frozenset({PROCESSING, LOST, *TERMINAL}),
    PROCESSING: frozenset({LOST, *TERMINAL}),
    **{ended: frozenset() for ended in (*TERMINAL, REJECTED, LOST, REUSED)},
}


def allowed_before(to: str) -> tuple[str, ...]:
    """The statuses a row may be in to move to ``to`` (``to`` itself included), in a fixed order.

    >>> allowed_before(PROCESSING)
    ('created', 'pending', 'processing', 'unknown')
    """
    if to not in MOVES:
        raise ValueError(f"{to!r} is not a ledger status")
    return tuple(sorted({before for before, after in MOVES.items() if to in after} | {to}))

__all__ = ["CREATED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "DELETED", "PENDING", "UNKNOWN",
           "REJECTED", "LOST", "REUSED", "ERROR", "TERMINAL", "IN_FLIGHT", "UNFINISHED", "UNCHARGED", "MOVES",
           "allowed_before"]
