"""The account's side of the local API: the catalogue, prices, billing, balance and the webhook secret.

- ``GET /api/v3/models``: every model of the catalogue in one envelope, no paging (no key needed).
- ``POST /api/v3/model/price`` ``{model_id, inputs}`` -> ``{model_id, price, discounted_price, discount_rate,
  currency}`` and the legacy ``POST /api/v3/model/pricing`` (same body) -> ``{model_id, unit_price, currency}``:
  omitted fields are priced at their defaults, unknown keys ignored, a refused value named.
- ``POST /api/v3/billings/search``: the key's deductions and refunds, paged (:mod:`.billing`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from .billing import BillingQuery
from .bodies import json_object
from .gateway import ApiError, envelope
from .media import Media, authorize
from .state import LocalState

EXAMPLE_MODEL = "bytedance/seedance-v1.5-pro/image-to-video-spicy"


async def _price_request(request: Request, limit: int) -> tuple[str, dict[str, Any]]:
    body = await json_object(request, limit)
    model_id = body.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise ApiError(400, f"model_id: is required (e.g. {EXAMPLE_MODEL})")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ApiError(400, f"inputs: expected a JSON object of the model's inputs, got {inputs!r}")
    return model_id, inputs


def add_account_routes(app: FastAPI, state: LocalState, media: Media) -> None:
    """Add the account's routes to ``app``."""
    config = state.config

    @app.get("/api/v3/webhook/secret")
    async def webhook_secret(request: Request):
        return envelope({"secret": state.webhook_secrets.of(authorize(request, config))})

    @app.get("/api/v3/balance")
    async def balance(request: Request):
        return envelope({"balance": state.balance(authorize(request, config))})

    @app.get("/api/v3/models")
    async def models(request: Request):
        base = media.base_url(request)
        return envelope([entry.served(base) for entry in state.catalogue])

    @app.post("/api/v3/model/price")
    async def price(request: Request):
        authorize(request, config)
        model_id, inputs = await _price_request(request, config.json_max_bytes)
        listed, discounted, rate = state.quote(model_id, inputs)
        return envelope({"model_id": model_id, "price": listed, "discounted_price": discounted,
                         "discount_rate": rate, "currency": "USD"})

    @app.post("/api/v3/model/pricing")
    async def pricing(request: Request):
        authorize(request, config)
        model_id, inputs = await _price_request(request, config.json_max_bytes)
        # The legacy figure is what a run costs this key: the price after its discount (I: no source says).
        return envelope({"model_id": model_id, "unit_price": state.quote(model_id, inputs)[1], "currency": "USD"})

    @app.post("/api/v3/billings/search")
    async def billings(request: Request):
        account = authorize(request, config)
        query = BillingQuery.from_body(await json_object(request, config.json_max_bytes))
        total, items = state.billings(account, query)
        return envelope({"page": query.page, "page_size": query.page_size, "total": total,
                         "has_more": query.page * query.page_size < total, "items": items})
