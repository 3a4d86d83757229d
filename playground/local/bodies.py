"""Reading request bodies within bounds: a declared or streamed body over its limit gets 413, malformed or too deeply
nested JSON gets 400 (as :class:`ApiError`, before anything walks it).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from .gateway import ApiError

JSON_MAX_DEPTH = 32  # the contract's bodies are 2 levels deep; deeper ones are refused before anything walks them


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Payload Too Large: the request body is over the limit of {limit} bytes")


def capped_receive(request: Request, limit: int, *, shown_limit: int | None = None):
    """``request``'s ASGI receive, raising ApiError 413 once the body passes ``limit`` bytes (chunked bodies too).

    A declared Content-Length over the limit is refused before any of the body is read.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "Content-Length: is not a number of bytes")
        if int(declared) > limit:
            raise _too_large(shown_limit or limit)
    received = 0

    async def receive():
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(shown_limit or limit)
        return message

    return receive


async def read_body(request: Request, limit: int) -> bytes:
    capped = Request(request.scope, capped_receive(request, limit))
    return b"".join([chunk async for chunk in capped.stream()])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth_over(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


async def json_object(request: Request, limit: int, what: str = "body") -> dict[str, Any]:
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError(400, f"{what}: the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"{what}: is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"{what}: expected a JSON object, got {type(body).__name__}")
    if _depth_over(body, JSON_MAX_DEPTH):
        raise ApiError(400, f"{what}: the JSON is nested too deeply (at most {JSON_MAX_DEPTH} levels)")
    return body


def pop_flag(body: dict[str, Any], name: str) -> bool:
    value = body.pop(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"{name}: expected true or false, got {value!r}")
    return value
