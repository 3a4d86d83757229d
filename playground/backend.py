"""Which API to talk to: the real WaveSpeed API when a key is at hand, else the embedded local API.

The local API is started once per process, on a free loopback port, the first time it is needed. It renders free
procedural previews from the input image, so the playground and the notebooks work on a machine with no key and no
network. ``PLAYGROUND_LOCAL_TIMING`` (``instant`` or ``realistic``) and ``PLAYGROUND_LOCAL_SPEED`` tune it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from .client import Client, PollSchedule

log = logging.getLogger(__name__)

LOCAL = "local"
API = "api"
LOCAL_KEY = "local-preview"
# The local API's times are the renderer's (instant) or scaled by PLAYGROUND_LOCAL_SPEED, not the contract's typical
# seconds, so the first poll of a job the ledger has no history for is not put off by up to 30 s.
LOCAL_FIRST_POLL_MAX_S = 1.0

_local_server: Any = None
_local_lock = threading.Lock()


def local_server():
    """The process's embedded local API, started on first use and stopped at exit."""
    global _local_server
    with _local_lock:
        if _local_server is None:
            from .local import LocalConfig, start_server

            # PLAYGROUND_LOCAL_* (timing, render, speed, concurrency, balance, faults, ...) over these defaults.
            config = LocalConfig.from_env(timing="instant", concurrency=4, balance=100.0)
            _local_server = start_server(config)
            atexit.register(_stop_local)
            log.info("embedded local API at %s (%s timing, %s render)", _local_server.url, config.timing,
                     config.render)
        return _local_server


def _stop_local() -> None:
    global _local_server
    with _local_lock:
        if _local_server is not None:
            _local_server.stop()
            _local_server = None


def env_key() -> str:
    """The key from ``WAVESPEED_API_KEY``, or "" (never logged)."""
    return os.environ.get("WAVESPEED_API_KEY", "").strip()


def connect(api_key: str | None = None, *, base_url: str | None = None, backend: str = "auto") -> Client:
    """A client for ``backend``: ``"api"``, ``"local"``, or ``"auto"`` (the API when a key is given or set in
    ``WAVESPEED_API_KEY``, else the local API).

    >>> client = connect()            # no key anywhere: the free local preview   # doctest: +SKIP
    """
    key = (api_key or "").strip() or env_key()
    if backend == "auto":
        backend = API if key else LOCAL
    if backend == LOCAL:
        return Client(api_key=LOCAL_KEY, base_url=local_server().url, backend_id=LOCAL,
                      poll=PollSchedule(max_gap=LOCAL_FIRST_POLL_MAX_S))
    if backend != API:
        raise ValueError(f"backend: {backend!r} is not known; choose 'auto', 'api' or 'local'")
    if not key:
        from .errors import AuthError

        raise AuthError("backend 'api' needs a key: set WAVESPEED_API_KEY or pass api_key=...")
    return Client(api_key=key, base_url=base_url)


def default_client() -> Client:
    """The client a library call (``generate``, ``resume``, ``claim``, the sweeps) uses when given none: ``connect()``.

    With ``WAVESPEED_API_KEY`` set that is the real API, which charges the account. With no key it is the free local
    preview: the first such call starts the embedded local API in this process (a loopback server on a free port,
    stopped at exit). Pass ``client=connect(...)`` to choose explicitly.
    """
    return connect()
