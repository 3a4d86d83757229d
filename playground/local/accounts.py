"""Accounts of the local service: balances, charges and refunds, the per-minute submit limit and the per-key slots.

Keys are never stored: an account is named by :func:`account_id`, a digest of its key. An :class:`Accounts` is not
locked on its own; the service calls it under its one lock.
"""

from __future__ import annotations

import collections
import hashlib
import math
from dataclasses import dataclass, field

from .errors import InsufficientCredits, RateLimited

RATE_WINDOW_S = 60.0


def account_id(key: str) -> str:
    """The name an account is kept under: a digest, so the key itself is never held or logged."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass
class Account:
    balance: float
    submits: collections.deque[float] = field(default_factory=collections.deque)  # monotonic, for the rpm limit
    in_flight: int = 0  # tasks processing now
    max_in_flight: int = 0


class Accounts:
    """Every account of one server, created on first use with ``starting_balance`` USD.

    ``concurrency`` is how many tasks of one account may process at once, ``rpm`` how many submits one account may
    make per minute (None: no limit).
    """

    def __init__(self, starting_balance: float, *, concurrency: int, rpm: int | None):
        self.starting_balance = round(float(starting_balance), 6)
        self.concurrency = concurrency
        self.rpm = rpm
        self._accounts: dict[str, Account] = {}
        self._in_flight_all = 0
        self._max_in_flight_all = 0

    def _get(self, account: str) -> Account:
        acc = self._accounts.get(account)
        if acc is None:
            acc = self._accounts[account] = Account(self.starting_balance)
        return acc

    # --- money ---

    def balance(self, account: str) -> float:
        return self._get(account).balance

    def set_balance(self, account: str, usd: float) -> None:
        self._get(account).balance = round(float(usd), 6)

    def charge(self, account: str, usd: float) -> None:
        """Take ``usd`` from the balance; InsufficientCredits (nothing taken) when it is not there."""
        acc = self._get(account)
        if acc.balance + 1e-9 < usd:
            raise InsufficientCredits("insufficient credits")
        acc.balance = round(acc.balance - usd, 6)

    def refund(self, account: str, usd: float) -> None:
        acc = self._get(account)
        acc.balance = round(acc.balance + usd, 6)

    # --- limits ---

    def count_submit(self, account: str, now: float) -> None:
        """Count one submit at ``now`` (monotonic) against the per-minute limit; RateLimited when over it."""
        if self.rpm is None:
            return
        window = self._get(account).submits
        while window and now - window[0] >= RATE_WINDOW_S:
            window.popleft()
        if len(window) >= self.rpm:
            retry_after = max(1, math.ceil(RATE_WINDOW_S - (now - window[0])))
            raise RateLimited(f"rate limit exceeded: at most {self.rpm} submits per minute for this key; "
                              f"retry after {retry_after} s", retry_after)
        window.append(now)

    def has_slot(self, account: str) -> bool:
        return self._get(account).in_flight < self.concurrency

    def occupy(self, account: str) -> None:
        """One more task of ``account`` processing."""
        acc = self._get(account)
        acc.in_flight += 1
        acc.max_in_flight = max(acc.max_in_flight, acc.in_flight)
        self._in_flight_all += 1
        self._max_in_flight_all = max(self._max_in_flight_all, self._in_flight_all)

    def release(self, account: str) -> None:
        """One task of ``account`` stopped processing."""
        self._get(account).in_flight -= 1
        self._in_flight_all -= 1

    def max_in_flight(self, account: str | None = None) -> int:
        """The most tasks ever processing at once for ``account`` (None: for all accounts together)."""
        if account is None:
            return self._max_in_flight_all
        acc = self._accounts.get(account)
        return acc.max_in_flight if acc else 0
