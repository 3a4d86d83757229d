"""The account's side of the API: balance, live prices, the webhook secret, and deleting predictions."""

from __future__ import annotations

from typing import Any

from ..errors import AuthError, ServerError, ValidationError, WaveSpeedError
from ..pricing import Quote, quote
from .transport import READ_TIMEOUT, RETRYABLE_STATUS, Transient, Transport, json_of, log, retry_after_of


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
        """The cost of a request: the API's own price when it answers, else the pricing table marked as estimate."""
        table = quote(model, params)
        if not live or not self.has_key:
            return table
        try:
            data = self._call("POST", "/api/v3/model/price", kind="price", json={"model_id": model, "inputs": params})
            value = data.get("discounted_price", data.get("price")) if isinstance(data, dict) else None
            if value is None:
                raise ServerError("no price in the reply")
            return Quote(float(value), True, "live price from the API")
        except (AuthError, ValidationError):
            raise
        except WaveSpeedError as exc:
            log.info("live price unavailable (%s); using the pricing table", exc)
            return Quote(table.usd, False, "estimate from the pricing table (the API did not answer)")

    def delete(self, ids: list[str] | str) -> None:
        """Cancel unfinished tasks or delete finished ones (generation may not stop at once)."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        self._call("POST", "/api/v3/predictions/delete", kind="delete", json={"ids": ids})


__all__ = ["Account"]
