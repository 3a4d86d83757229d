"""Who pays for a run: the visitor's key, the host's key within the caps, or the free local preview."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .. import backend as backends
from ..caps import start_of_utc_day
from ..client import DEFAULT_BASE_URL, Client
from ..errors import ValidationError, WaveSpeedError
from ..jobs import Job, account_tag
from ..pricing import format_usd
from ..snippets import LOCAL_URL

LOCAL_LABEL = "Local preview (free)"
API_LABEL = "WaveSpeed API"

ClientFactory = Callable[[str, str], Client]
"""``client_factory(kind, key)``: a Client for ``"local"`` or ``"api"``; ``key`` is "" for the local preview."""


@dataclass
class Payer:
    """Which backend and key a run uses, and whether the operator's caps bind it."""

    kind: str          # "local" or "api"
    key: str           # "" for the local preview
    capped: bool       # True when spending the host's key
    label: str         # for the page

    @property
    def account(self) -> str:
        return account_tag(self.key) if self.kind == "api" else ""


def default_client_factory(kind: str, key: str) -> Client:
    return backends.connect(key or None, backend=kind)


class Payers:
    """The part of :class:`~playground.session.Playground` that knows who pays and what they may spend."""

    def payer(self, backend: str | None, user_key: str | None) -> Payer:
        """Who pays for a run on ``backend`` with the visitor's ``user_key`` (may be empty)."""
        user_key = (user_key or "").strip()
        if backend == LOCAL_LABEL:
            return Payer("local", "", False, "the local preview")
        if user_key:
            return Payer("api", user_key, False, "the WaveSpeed API with your key")
        if self._owner_key:
            return Payer("api", self._owner_key, self.caps.any, "the WaveSpeed API with the host's key"
                         + (", within the host's limits" if self.caps.any else ""))
        raise WaveSpeedError("The WaveSpeed API needs a key: enter yours under Backend, or choose the local preview.")

    def client(self, payer: Payer) -> Client:
        return self.client_factory(payer.kind, payer.key)

    def payer_for_job(self, job: Job, user_key: str | None) -> Payer:
        """The backend and key that own ``job``: needed to resume or cancel it."""
        if job.base_url == backends.LOCAL:
            return Payer("local", "", False, "the local preview")
        user_key = (user_key or "").strip()
        if user_key and account_tag(user_key) == job.account:
            return Payer("api", user_key, False, "your key")
        if self._owner_key and account_tag(self._owner_key) == job.account:
            return Payer("api", self._owner_key, self.caps.any, "the host's key")
        raise ValidationError(f"job {job.id} was paid with another key: enter that key under Backend to reach it")

    def code_target(self, payer: Payer | None) -> tuple[str, bool]:
        """Where the Code tab's snippets send their requests, and whether that is the free local preview: the real
        API for a key; for the local preview on a private machine the playground's own (it runs as shown while the
        app does), on a public host the one ``seedance-playground local --port 8000`` serves (a Space's own preview
        is out of a visitor's reach)."""
        if payer is None or payer.kind != "local":
            return DEFAULT_BASE_URL, False
        if self.caps.public:
            return LOCAL_URL, True
        with self._lock:
            known = self._local_url
        if known is None:
            client = self.client(payer)
            known = client.base_url
            client.close()
            with self._lock:
                self._local_url = known
        return known, True

    def warm_local(self) -> None:
        """Start the embedded local API in the background (while the visitor picks an image), when it is ours."""
        if self.default_factory:
            threading.Thread(target=backends.local_server, name="warm-local-api", daemon=True).start()

    def balance_text(self, payer: Payer, session: str) -> str:
        """What the page says about the money behind the current backend."""
        if payer.kind == "local":
            return "Free procedural previews rendered on this machine, no key needed."
        if payer.capped or payer.key == self._owner_key:
            return self.budget_text(session)
        client = self.client(payer)
        try:
            return f"Balance of your key: **{format_usd(client.balance())}**"
        finally:
            client.close()

    def budget_text(self, session: str) -> str:
        """The host key's remaining budget for this visitor (never its balance), counting refunds come since."""
        caps, account = self.caps, account_tag(self._owner_key)
        if caps.any:
            self.settle_late([Payer("api", self._owner_key, True, "the host's key")])
        parts = []
        if caps.max_cost_per_day is not None:
            left = max(0.0, caps.max_cost_per_day - self.ledger.spent(since=start_of_utc_day(), account=account))
            parts.append(f"{format_usd(left)} left today")
        if caps.max_cost_per_session is not None:
            spent = self.ledger.spent(account=account, session=session)
            parts.append(f"{format_usd(max(0.0, caps.max_cost_per_session - spent))} left on this browser")
        limits = "; ".join(caps.describe()) or "no limits set by the host"
        left = (" · " + ", ".join(parts)) if parts else ""
        return f"Host's key: {limits}{left}."
