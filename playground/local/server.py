"""The HTTP side of the local API: FastAPI routes in the WaveSpeed v3 shape, served by uvicorn in a thread.

Every JSON reply is the contract's envelope ``{"code", "message", "data"}``. The ASGI layer of :mod:`.gateway` in
front of the app logs each request (never its headers), injects the faults of the server's :class:`FaultPlan` and
can drop a connection without a reply.

Bodies are bounded (:mod:`.bodies`): a declared or streamed body over its limit gets 413 (JSON: 1 MB, a submit: the
contract's 64 MB, an upload: the 30 MB image limit), malformed or too deeply nested JSON gets 400, and a client that
hangs up mid-request is logged as such, not as a server error.

The server layer (this module with :mod:`.routes_account`, :mod:`.media`, :mod:`.gateway` and :mod:`.bodies`) is the
only one that knows HTTP, and :mod:`.media` the only one that knows URLs: the service (:class:`LocalState` and its
parts) returns plain data and raises :class:`~.errors.ServiceError`, which :data:`.gateway.SERVICE_ERRORS` maps to
statuses; :class:`~.media.Media` composes every URL the API hands out and maps this server's own URLs back to files.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .accounts import account_id
from .bodies import json_object, pop_flag
from .config import LocalConfig
from .errors import ServiceError
from .faults import FaultPlan
from .gateway import DROP_REPLY, ApiError, Gateway, envelope, error_reply
from .history import HistoryQuery
from .media import Media, authorize
from .routes_account import add_account_routes
from .routes_files import add_file_routes
from .state import LocalState
from .tasks import TERMINAL, TaskView
from .webhooks import Delivery, WebhookSender, webhook_allowed

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 2048  # a benchmark may open a thousand connections at once


def _add_error_handlers(app: FastAPI) -> None:
    """Every error the app can meet answers as the contract's envelope (never a traceback)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_reply(exc.status, exc.message, code=exc.code, headers=exc.headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        error = ApiError.of(exc)
        return error_reply(error.status, error.message, code=error.code, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = {404: "Not Found: no such endpoint", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
        return error_reply(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = ["{}: {}".format(".".join(str(x) for x in e.get("loc", ())[1:]) or "request", e.get("msg"))
                    for e in exc.errors()]
        return error_reply(400, "; ".join(problems))

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect):
        # Nobody is left to read a reply: an ordinary event, not a server error.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_reply(500, f"internal error of the local API: {type(exc).__name__}")


def build_app(state: LocalState, media: Media, faults: FaultPlan) -> FastAPI:
    """The FastAPI app of one server (without the gateway layer)."""
    app = FastAPI(title="playground local WaveSpeed-compatible API", docs_url=None, redoc_url=None,
                  openapi_url=None)

    _add_error_handlers(app)
    add_file_routes(app, state, media, faults)
    add_account_routes(app, state, media)
    _add_prediction_routes(app, state, media, faults)
    return app


def _add_prediction_routes(app: FastAPI, state: LocalState, media: Media, faults: FaultPlan) -> None:
    """Submit, result, history and delete."""
    config = state.config

    @app.post("/api/v3/predictions/delete")
    async def delete(request: Request):
        account = authorize(request, config)
        body = await json_object(request, config.json_max_bytes)
        return envelope(state.delete(account, body.get("ids")))

    @app.post("/api/v3/predictions")
    async def history(request: Request):
        account = authorize(request, config)
        query = HistoryQuery.from_body(await json_object(request, config.json_max_bytes))
        total, views = state.history(account, query)
        base = media.base_url(request)
        items = []
        for view in views:
            item = media.prediction(view, base)
            if config.history_inputs:
                item["input"] = dict(view.input)
            items.append(item)
        return envelope({"page": query.page, "page_size": query.page_size, "total": total, "items": items})

    @app.get("/api/v3/predictions/{task_id}/result")
    async def result(task_id: str, request: Request):
        return envelope(media.prediction(state.get(authorize(request, config), task_id), media.base_url(request)))

    @app.get("/api/v3/predictions/{task_id}")
    async def prediction(task_id: str, request: Request):
        return envelope(media.prediction(state.get(authorize(request, config), task_id), media.base_url(request)))

    @app.post("/api/v3/{model_id:path}")
    async def submit(model_id: str, request: Request):
        account = authorize(request, config)
        state.check_rate(account)
        body = await json_object(request, config.submit_max_bytes)
        sync = pop_flag(body, "enable_sync_mode")
        pop_flag(body, "enable_base64_output")  # accepted; outputs stay URLs (a video as base64 helps no one)
        webhook = request.query_params.get("webhook")
        if webhook and not webhook_allowed(webhook):
            log.warning("webhook ignored: the local API only calls loopback URLs")
            webhook = None
        base = media.base_url(request)
        task = state.submit(account, model_id.strip("/"), body, webhook=webhook)
        if faults.take("submit", ("drop_after_accept",)) is not None:
            request.scope[DROP_REPLY] = True
            return Response()
        held = faults.take("submit", ("slow_reply",))
        if held is not None:  # the task runs (and may end, webhook and all) while the reply waits
            await asyncio.sleep(held.delay)
        if sync:
            return envelope(await _wait_for_end(state, media, account, task.id, base, config.sync_wait))
        return envelope(media.prediction(task, base))


async def _wait_for_end(state: LocalState, media: Media, account: str, task_id: str, base: str,
                        wait: float) -> dict[str, Any]:
    """Hold a sync-mode submit until the task ends; past ``wait`` answer "processing" with code 5004."""
    deadline = time.monotonic() + wait
    while not state.stopping:
        status = state.status(task_id)
        if status is None or status in TERMINAL:
            break
        if time.monotonic() >= deadline:
            data = media.prediction(state.get(account, task_id), base)
            data.update(status="processing", code=5004, error=f"Sync mode timed out after {wait:g} seconds")
            return data
        await asyncio.sleep(0.05)
    return media.prediction(state.get(account, task_id), base)


class LocalServer:
    """A running local API. Use :func:`start_server`; stop with :meth:`stop` or a ``with`` block."""

    def __init__(self, config: LocalConfig, host: str, port: int):
        self.config = config
        self._socket = _bind(host, port)  # first: a taken port fails before anything else exists
        bound_port = self._socket.getsockname()[1]
        self.faults: FaultPlan = config.faults.copy() if isinstance(config.faults, FaultPlan) else FaultPlan()
        self.host, self.port = host, bound_port
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        self.url = f"http://[{shown}]:{bound_port}" if ":" in shown else f"http://{shown}:{bound_port}"
        self._media = Media(config)
        self._media.own_port = bound_port
        try:
            self._state = LocalState(config, self.faults, load_input=self._media.load_input,
                                     load_video=self._media.load_video, notify=self._notify)
        except BaseException:  # a catalogue entry that cannot be served: no server, no open port
            self._socket.close()
            raise
        self._webhooks = WebhookSender(self._state.webhook_secrets, self.faults, attempts=config.webhook_attempts,
                                       backoff=config.webhook_backoff)
        self._media.state = self._state
        self._gateway = Gateway(build_app(self._state, self._media, self.faults), self.faults)
        uv_config = uvicorn.Config(self._gateway, log_config=None, access_log=False, http="h11", ws="none",
                                   lifespan="off", loop="asyncio", timeout_graceful_shutdown=3,
                                   log_level="warning")
        self._uvicorn = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._serve, name=f"playground-local-http-{bound_port}", daemon=True)
        self._error: BaseException | None = None
        self._stopped = False

    def _notify(self, webhook: str, account: str, view: TaskView) -> None:
        self._webhooks.send(webhook, account, Media.prediction(view, self.url))

    def _serve(self) -> None:
        try:
            self._uvicorn.run(sockets=[self._socket])
        except BaseException as exc:  # reported to start() or stop()
            self._error = exc

    def _start(self, timeout: float = 15.0) -> None:
        self._state.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the local API did not start on port {self.port}: {self._error!r}")
            time.sleep(0.01)
        log.info("local API listening at %s (%s timing, %s render)", self.url, self.config.timing,
                 self.config.render)

    def stop(self) -> None:
        """Stop serving, finish or cancel renders, join every thread, close the socket and remove temp files."""
        if self._stopped:
            return
        self._stopped = True
        self._state.stop_accepting()
        self._uvicorn.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._socket.close()
        self._state.stop()
        self._webhooks.stop()
        log.info("local API at %s stopped", self.url)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer({self.url!r}, timing={self.config.timing!r}, render={self.config.render!r})"

    # --- introspection for tests (in-process) ---

    def count(self, method: str, path_prefix: str = "") -> int:
        """Requests received with ``method`` whose path starts with ``path_prefix`` (dropped replies included)."""
        return self._gateway.count(method, path_prefix)

    def count_endpoint(self, endpoint: str) -> int:
        """Requests received for an endpoint name: submit, result, upload, balance, price, history, delete, download."""
        return self._gateway.count(endpoint=endpoint)

    @property
    def submits(self) -> int:
        """Submit POSTs received, including rejected ones and ones whose reply was dropped."""
        return self._gateway.count(endpoint="submit")

    @property
    def requests_log(self) -> list[tuple[str, str, int | None]]:
        """(method, path, status) per request; status None when the connection was dropped on purpose."""
        return self._gateway.log_snapshot()

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the server holds, as prediction objects, oldest first."""
        return [Media.prediction(view, self.url) for view in self._state.tasks()]

    def webhook_deliveries(self, task_id: str | None = None) -> list[Delivery]:
        """Every webhook delivery attempt so far (of one task when given), oldest first."""
        return self._webhooks.deliveries(task_id)

    def webhook_secret(self, key: str) -> str:
        """The secret the deliveries of ``key`` 's tasks are signed with."""
        return self._state.webhook_secrets.of(account_id(key))

    def finished_at(self, task_id: str) -> float | None:
        """``time.monotonic()`` (this process's clock) when the task ended; None while it runs."""
        return self._state.finished_at(task_id)

    def balance(self, key: str) -> float:
        return self._state.balance(account_id(key))

    def set_balance(self, key: str, usd: float) -> None:
        self._state.set_balance(account_id(key), usd)

    def max_in_flight(self, key: str | None = None) -> int:
        """The most tasks ever processing at once for ``key`` (None: for all keys together)."""
        return self._state.max_in_flight(None if key is None else account_id(key))

    @property
    def data_dir(self) -> Path:
        return self._state.data_dir


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def start_server(config: LocalConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> LocalServer:
    """Start a local API in background threads and return once it answers; port 0 lets the OS pick one.

    >>> with start_server(LocalConfig(timing="instant")) as server:   # doctest: +SKIP
    ...     Client(api_key="any", base_url=server.url).run(SPICY, {"image": url})
    """
    server = LocalServer(config or LocalConfig(), host, port)
    server._start()
    return server
