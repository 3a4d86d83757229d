"""Webhooks of the local API: the final prediction is POSTed to a loopback URL given with the submit."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from .inputs import is_loopback

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = (5.0, 10.0)


def webhook_allowed(url: str) -> bool:
    """Only loopback http(s) URLs: anything else would let a submitter make this server call out."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname)


class WebhookSender:
    """Posts payloads from a small pool, so a slow receiver never holds up the service."""

    def __init__(self, workers: int = 2):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="playground-local-webhook")

    def send(self, url: str, payload: dict[str, Any]) -> None:
        try:
            self._pool.submit(_post, url, payload)
        except RuntimeError:  # shutting down
            pass

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _post(url: str, payload: dict[str, Any]) -> None:
    import requests

    try:
        requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("webhook for task %s failed: %s", payload["data"]["id"], type(exc).__name__)
