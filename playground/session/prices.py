"""What a run costs, as the Run button says it: the vendor's price for a key, else the table."""

from __future__ import annotations

import json
import time

from ..client import RetryPolicy
from ..contract import MODELS, get_model, validate
from ..errors import ValidationError, WaveSpeedError
from ..pricing import Quote, quote
from .payers import Payer

QUOTE_TTL_S = 600.0  # the vendor's price for a key, model and setting is asked again after this


class Prices:
    """The part of :class:`~playground.session.Playground` that prices a request (cached per key and setting)."""

    def quote(self, model: str, fields: dict, payer: Payer | None) -> Quote:
        """What one request costs, as the Run button says it: with a key, the vendor's price endpoint (asked once per
        key, model and priced fields, then kept for :data:`QUOTE_TTL_S`); otherwise the table, marked as an estimate
        where the contract does not confirm it. ValidationError for fields the model refuses."""
        spec = get_model(model)
        media = {p.name for p in spec.media_fields} | {"image", "last_image"}
        priced = {k: v for k, v in fields.items() if k not in ("seed", "prompt", *media)}
        # The price does not depend on the prompt or the media: a form without them yet still shows it.
        present = {p.name: (["https://placeholder.invalid/m"] if p.type is list else "https://placeholder.invalid/m")
                   for p in spec.media_fields if p.required}
        problems = validate(model, {**present, **({"prompt": "-"} if spec.has("prompt") else {}), **priced})
        if problems:
            raise ValidationError(problems)
        table = quote(model, priced)
        # A catalogue's model has no table here: the local preview's own price is asked too (it is free).
        if payer is None or (payer.kind != "api" and model in MODELS):
            return table
        cache_key = (payer.account, model, json.dumps(priced, sort_keys=True))
        with self._lock:
            hit = self._quotes.get(cache_key)
        if hit is not None and time.monotonic() - hit[0] < QUOTE_TTL_S:
            return hit[1]
        client = self.client(payer)
        client.retry = RetryPolicy(attempts=1)  # the page waits for this: one try, then the table
        try:
            live = client.price(model, priced)
        except WaveSpeedError:
            live = table
        finally:
            client.close()
        with self._lock:
            self._quotes[cache_key] = (time.monotonic(), live)
        return live
