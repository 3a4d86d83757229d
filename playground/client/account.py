"""The account's side of the API: balance, live prices, the webhook secret, and deleting predictions."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import AuthError, ServerError, ValidationError, WaveSpeedError
from ..pricing import Quote, quote
from .transport import READ_TIMEOUT, RETRYABLE_STATUS, Transient, Transport, json_of, log, retry_after_of

# How long an answer of the price endpoints is kept, per (API, model, inputs).
QUOTE_TTL_S = 60.0
_QUOTES: dict[tuple[str, str, str], tuple[float, Quote]] = {}
_QUOTES_LOCK = threading.Lock()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Account(Transport):
    """Balance, price, webhook secret and delete (a room of :class:`playground.client.Client`)."""

    def balance(self) -> float:
        """The account's balance in USD."""
        data = self._call("GET", "/api/v3/balance", kind="balance")
        return float((data or {}).get("balance", 0.0))

    def webhook_secret(self) -> str:
        """The secret this key's webhook deliveries are signed with (``GET /api/v3/webhook/secret``; the reply may be
        enveloped or a bare ``{"secret": ...}``). This client never logs or stores it."""
        def attempt() -> str:
            response = self._send("GET", "/api/v3/webhook/secret", kind="webhook_secret", timeout=READ_TIMEOUT["get"])
            if response.status_code in RETRYABLE_STATUS:
                raise Transient(self._http_error(response), retry_after_of(response))
            body = json_of(response) if response.status_code == 200 else None
            data = body if isinstance(body, dict) and "secret" in body else self._unwrap(response)
            secret = data.get("secret") if isinstance(data, dict) else None
            if not isinstance(secret, str) or not secret:
                raise ServerError("The API's webhook secret reply carried no secret.")
            return secret

        return self._retrying("GET /api/v3/webhook/secret", attempt, lambda exc: ServerError(
            f"Fetching the webhook secret failed ({type(exc).__name__}); check the network or the API's status"))

    def price(self, model: str, params: dict[str, Any], *, live: bool = True) -> Quote:
        """The cost of a request with ``params`` (omitted fields priced at their defaults), surest first: the API's
        ``POST /api/v3/model/price`` (the charge is ``discounted_price`` when above 0, else ``price``, the list
        price), else the legacy ``/api/v3/model/pricing`` (``unit_price``), else offline: the pricing table (an
        estimate, as the API did not confirm it) or the catalogue's ``base_price`` as a floor. Answers are kept
        :data:`QUOTE_TTL_S` seconds per (API, model, inputs), so a live price label does not hammer the API."""
        self.model_spec(model)  # a catalogue's model is looked up before it is priced
        table = quote(model, params)
        if not live or not self.has_key:
            return table
        key = (self.base_url, model, json.dumps(params, sort_keys=True, default=str))
        cache = self._quote_cache()
        with _QUOTES_LOCK:
            hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < QUOTE_TTL_S:
            return hit[1]
        body = {"model_id": model, "inputs": params}
        try:
            live_quote = self._live_price(body)
        except (AuthError, ValidationError):
            raise
        except WaveSpeedError as exc:
            log.info("live price unavailable (%s); using the offline price", exc)
            if table.kind != "exact":
                return table
            return Quote(table.usd, False, "estimate from the pricing table (the API did not answer)")
        with _QUOTES_LOCK:
            cache[key] = (time.monotonic(), live_quote)
        return live_quote

    def _quote_cache(self) -> dict[tuple[str, str, str], tuple[float, Quote]]:
        """The process's price answers; a loopback API's only for this client (its port may be another server's)."""
        host = urlsplit(self.base_url).hostname or ""
        if not (host in ("localhost", "::1") or host.startswith("127.")):
            return _QUOTES
        if not hasattr(self, "_own_quotes"):
            self._own_quotes: dict[tuple[str, str, str], tuple[float, Quote]] = {}
        return self._own_quotes

    def _live_price(self, body: dict[str, Any]) -> Quote:
        try:
            data = self._call("POST", "/api/v3/model/price", kind="price", json=body)
        except (AuthError, ValidationError):
            raise
        except WaveSpeedError as exc:  # an API without the current endpoint, or one failing now: the legacy one
            log.info("POST /api/v3/model/price failed (%s); asking /api/v3/model/pricing", exc)
            data = None
        if isinstance(data, dict) and _number(data.get("price")) is not None:
            listed = float(data["price"])
            discounted = _number(data.get("discounted_price"))
            charged = float(discounted) if discounted is not None and discounted > 0 else listed
            return Quote(charged, True, "live price from the API", "exact", listed)
        data = self._call("POST", "/api/v3/model/pricing", kind="price", json=body)
        unit = _number(data.get("unit_price")) if isinstance(data, dict) else None
        if unit is None:
            raise ServerError("no price in the API's reply")
        return Quote(float(unit), True, "live unit price from the API (legacy endpoint)")

    def delete(self, ids: list[str] | str) -> None:
        """Remove predictions from the API's history for good (``POST /api/v3/predictions/delete``). No source says
        this stops a running task or refunds it: it is not a cancel (the API documents none)."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        self._call("POST", "/api/v3/predictions/delete", kind="delete", json={"ids": ids})


__all__ = ["Account", "QUOTE_TTL_S"]
