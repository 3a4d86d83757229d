"""The HTTP edge of the local API: reply envelopes, how service refusals map to statuses, and the ASGI layer in front
of the app that logs each request (never its headers), injects the faults of the server's :class:`FaultPlan` and can
drop a connection without a reply.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

from fastapi.responses import JSONResponse

from .errors import InsufficientCredits, InvalidRequest, NotFound, RateLimited, ServiceError, TooLarge, UploadRefused
from .faults import HTTP_ERRORS, FaultPlan

DROP_REPLY = "playground.drop_reply"  # scope flag: the handler asks for its reply to be replaced by a dropped socket
REQUEST_LOG_LIMIT = 10_000
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}
# (HTTP status, body code) of each refusal of the service; the code is the status unless the contract names one.
SERVICE_ERRORS: dict[type[ServiceError], tuple[int, int | None]] = {
    InvalidRequest: (400, None),
    InsufficientCredits: (400, 1407),
    UploadRefused: (403, None),
    NotFound: (404, None),
    TooLarge: (413, None),
    RateLimited: (429, None),
}


class ApiError(Exception):
    """An error reply: HTTP ``status``, the body's ``code`` and ``message``, optional extra headers."""

    def __init__(self, status: int, message: str, *, code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code if code is not None else status
        self.message = message
        self.headers = headers or {}

    @classmethod
    def of(cls, exc: ServiceError) -> ApiError:
        """The reply to a refusal of the service."""
        status, code = next((v for k, v in SERVICE_ERRORS.items() if isinstance(exc, k)), (500, None))
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return cls(status, exc.message, code=code, headers=headers)


def envelope(data: Any) -> JSONResponse:
    return JSONResponse({"code": 200, "message": "success", "data": data})


def error_reply(status: int, message: str, *, code: int | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code if code is not None else status, "message": message, "data": None},
                        status_code=status, headers=headers)


def classify(method: str, path: str) -> str:
    """The endpoint name faults and counts use for a request: submit, result, upload, models, billing, ..., or
    "other"."""
    if path.startswith("/media/put/"):
        return "upload"
    if path.startswith("/media/"):
        return "download" if method in ("GET", "HEAD") else "other"
    if not path.startswith("/api/v3/"):
        return "other"
    rest = path[len("/api/v3/"):].rstrip("/")
    if method == "GET":
        if rest in ("balance", "models"):
            return rest
        if rest.startswith("predictions/"):
            return "result"
        return "other"
    if method != "POST":
        return "other"
    fixed = {"media/uploads": "upload", "media/upload/binary": "upload", "model/price": "price",
             "model/pricing": "price", "predictions": "history", "predictions/delete": "delete",
             "billings/search": "billing"}
    return fixed.get(rest, "submit")


def _abort_connection(send) -> bool:
    """Close the client's socket at once, without a reply (uvicorn's send is bound to its request cycle)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


class Gateway:
    """ASGI layer in front of the app: request log, injected faults, dropped replies."""

    def __init__(self, app, faults: FaultPlan):
        self.app = app
        self.faults = faults
        self.lock = threading.Lock()
        # [method, path, endpoint, status]; status None: connection dropped
        self.entries: collections.deque[list[Any]] = collections.deque(maxlen=REQUEST_LOG_LIMIT)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        endpoint = classify(method, path)
        entry = [method, path, endpoint, None]
        with self.lock:
            self.entries.append(entry)

        if endpoint != "other":
            delay = self.faults.take_delay(endpoint)
            if delay:
                await asyncio.sleep(delay)
            fault = self.faults.take(endpoint, ("drop",) + HTTP_ERRORS)
            if fault is not None and fault.action == "drop":
                await self._drop(send)
                return
            if fault is not None:
                status = int(fault.action)
                headers = {"Retry-After": f"{fault.retry_after:g}"} if status == 429 else None
                entry[3] = status
                await error_reply(status, f"{_REASONS[status]} (injected fault on {endpoint})",
                                  headers=headers)(scope, receive, send)
                return

        dropped = False

        async def guarded_send(message) -> None:
            nonlocal dropped
            if dropped:
                return
            if message["type"] == "http.response.start":
                if scope.get(DROP_REPLY):
                    dropped = True
                    await self._drop(send)
                    return
                entry[3] = message["status"]
            await send(message)

        await self.app(scope, receive, guarded_send)

    @staticmethod
    async def _drop(send) -> None:
        if not _abort_connection(send):
            # Unknown server: announce a body, send none and fail, which makes the server close the connection.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
            raise ConnectionAbortedError("reply dropped on purpose (injected fault)")
        # Let the server notice the closed socket before the app returns, so it does not try to answer.
        for _ in range(3):
            await asyncio.sleep(0)

    def log_snapshot(self) -> list[tuple[str, str, int | None]]:
        with self.lock:
            return [(m, p, s) for m, p, _, s in self.entries]

    def count(self, method: str | None = None, path_prefix: str = "", endpoint: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, p, e, _ in self.entries
                       if (method is None or m == method.upper()) and p.startswith(path_prefix)
                       and (endpoint is None or e == endpoint))
