"""The served app: the Gradio page and the webhook receiver in one FastAPI app, one process (a Space's entry).

>>> app = create_app()          # the page at "/", the receiver at POST /webhooks/wavespeed     # doctest: +SKIP
>>> serve(app)                  # uvicorn on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (127.0.0.1:7860)   # doctest: +SKIP

Served for strangers, every protection Gradio has is on, as under ``demo.launch()``: only files uploaded to this page
are read by an event (``gr.mount_gradio_app`` alone never marks the page launched, and Gradio then skips that
check), only the ledger's ``outputs`` folder and the samples are served, uploads are capped at
:data:`MAX_UPLOAD_BYTES`, exception texts never reach a visitor, and a request body other than an upload is capped at
:data:`MAX_BODY_BYTES` before anything parses it. ``tests/test_attack_surface.py`` proves it by attacking every event.

Deliveries only arrive when the service can reach the app: set ``PLAYGROUND_PUBLIC_URL`` to its public address (on a
Hugging Face Space ``https://$SPACE_HOST`` is used by itself); otherwise runs poll, as they always can.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from .contract import IMAGE_LIMITS
from .receiver import add_receiver
from .ui import build_app, launch_kwargs

log = logging.getLogger(__name__)

# One uploaded file: the contract's per-image limit (30 MB); Gradio refuses a larger upload before any handler runs.
MAX_UPLOAD_BYTES = IMAGE_LIMITS.max_bytes
# Any other request body (an event's JSON, a webhook): a form's values are a few KB; a prompt at most 5,000 characters.
MAX_BODY_BYTES = 1 << 20
_UPLOAD_PATH = "/gradio_api/upload"
_MULTIPART_SLACK = 64 << 10  # an upload's boundaries and part headers around the file itself
SHUTDOWN_GRACE_S = 5  # seconds a stopping app gives open connections


def create_app(demo: gr.Blocks | None = None) -> FastAPI:
    """A FastAPI app serving ``demo`` (default: :func:`playground.ui.build_app`) at ``/`` and its playground's
    webhook receiver at :data:`~playground.webhooks.RECEIVER_PATH`."""
    demo = demo or build_app()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_receiver(app, demo.playground.receiver())
    ledger = demo.playground.ledger
    kwargs = {**launch_kwargs(demo), "show_error": False, "max_file_size": MAX_UPLOAD_BYTES,
              "blocked_paths": [str(ledger.path), f"{ledger.path}-wal", f"{ledger.path}-shm", f"{ledger.path}-journal"]}
    app = gr.mount_gradio_app(app, demo, path="/", **kwargs)
    # Gradio checks that a file an event reads was uploaded to this page only once the Blocks count as launched, which
    # mounting never does; the page is being served from here on, so it is launched.
    demo.has_launched = True
    # An upload may be as large as Gradio's own cap allows (plus its multipart framing); one over it is refused from its
    # declared length or as it streams in, before Gradio reads any of it (Gradio's own cap refuses it too, a little
    # later: a 60 MB one cost the app 0.34 CPU-s there, 0.18 here).
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, paths={_UPLOAD_PATH: MAX_UPLOAD_BYTES + _MULTIPART_SLACK})
    return app


class BodyLimit:
    """Refuses (413) a request whose body is over ``limit`` bytes, declared or streamed, before the app reads it; a path
    starting with a key of ``paths`` (the upload route) has that limit instead."""

    def __init__(self, app: ASGIApp, limit: int, paths: dict[str, int] | None = None):
        self.app, self.default, self.paths = app, limit, dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((n for prefix, n in self.paths.items() if path.startswith(prefix)), self.default)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        replied = False

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked(message: dict) -> None:
            nonlocal replied
            replied = replied or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except _TooLarge:
            if not replied:
                await _too_large(send, limit)


class _TooLarge(Exception):
    """A streamed body passed the limit."""


async def _too_large(send: Send, limit: int) -> None:
    body = (f'{{"message": "This request is over {limit // 2**20} MB, far more than any form of this page '
            f'sends."}}').encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (what a Space, Docker or systemd sends) ends the process like Ctrl-C does: uvicorn shuts down, then
    raises the signal again for the handler it found, and this one turns it into a normal exit, so the at-exit
    cleanup runs (the embedded local API deletes its uploads and renders)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def exit_now(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


def serve(app: FastAPI | None = None, *, host: str | None = None, port: int | None = None, **uvicorn_kwargs: Any
          ) -> None:
    """Serve ``app`` (default: :func:`create_app`) with uvicorn until stopped.

    uvicorn never rewrites the client address from ``X-Forwarded-For`` (it would believe any loopback peer): who a
    visitor is comes from :func:`playground.caps.visitor_id`, which believes only ``PLAYGROUND_TRUSTED_PROXIES`` hops.
    """
    import uvicorn

    app = app or create_app()
    _exit_cleanly_on_sigterm()
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = int(port or os.environ.get("GRADIO_SERVER_PORT") or 7860)
    uvicorn_kwargs.setdefault("proxy_headers", False)
    # A page keeps a stream open for as long as it is shown: without a limit, a SIGTERM would wait for every visitor
    # to leave (and a host's SIGKILL would come first, with no cleanup).
    uvicorn_kwargs.setdefault("timeout_graceful_shutdown", SHUTDOWN_GRACE_S)
    # uvicorn's "info" level says where the page is ("Uvicorn running on http://..."), as `python app.py` users expect.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, **uvicorn_kwargs)


__all__ = ["create_app", "add_receiver", "serve", "BodyLimit", "MAX_UPLOAD_BYTES", "MAX_BODY_BYTES"]
