"""The served app: the Gradio page and the webhook receiver in one FastAPI app, one process (a Space's entry).

>>> app = create_app()          # the page at "/", the receiver at POST /webhooks/wavespeed     # doctest: +SKIP
>>> serve(app)                  # uvicorn on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (127.0.0.1:7860)   # doctest: +SKIP

Deliveries only arrive when the service can reach the app: set ``PLAYGROUND_PUBLIC_URL`` to its public address (on a
Hugging Face Space ``https://$SPACE_HOST`` is used by itself); otherwise runs poll, as they always can.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .receiver import WebhookReceiver
from .ui import build_app, launch_kwargs
from .webhooks import MAX_BODY_BYTES, RECEIVER_PATH

log = logging.getLogger(__name__)


def create_app(demo: gr.Blocks | None = None) -> FastAPI:
    """A FastAPI app serving ``demo`` (default: :func:`playground.ui.build_app`) at ``/`` and its playground's
    webhook receiver at :data:`~playground.webhooks.RECEIVER_PATH`."""
    demo = demo or build_app()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_receiver(app, demo.playground.receiver())
    return gr.mount_gradio_app(app, demo, path="/", **launch_kwargs(demo))


def add_receiver(app: FastAPI, receiver: WebhookReceiver, path: str = RECEIVER_PATH) -> None:
    """Serve ``receiver`` at ``POST path`` in ``app`` (any FastAPI app), stopping it with the app."""
    app.state.receiver = receiver

    @app.post(path, include_in_schema=False)
    async def webhook(request: Request) -> JSONResponse:
        body = await _read_at_most(request, MAX_BODY_BYTES)
        if body is None:
            return JSONResponse({"message": f"webhook: the body is over {MAX_BODY_BYTES} bytes"}, status_code=413)
        answer = await run_in_threadpool(receiver.handle, dict(request.headers), body)
        return JSONResponse({"message": answer.message}, status_code=answer.status)

    app.router.on_shutdown.append(receiver.stop)


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over ``limit`` bytes (never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def serve(app: FastAPI | None = None, *, host: str | None = None, port: int | None = None, **uvicorn_kwargs: Any
          ) -> None:
    """Serve ``app`` (default: :func:`create_app`) with uvicorn until stopped."""
    import uvicorn

    app = app or create_app()
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = int(port or os.environ.get("GRADIO_SERVER_PORT") or 7860)
    # uvicorn's "info" level says where the page is ("Uvicorn running on http://..."), as `python app.py` users expect.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, **uvicorn_kwargs)


__all__ = ["create_app", "add_receiver", "serve"]
