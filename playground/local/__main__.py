"""Run the local API in the foreground: ``python -m playground.local --port 8765``.

Faults come from ``--faults`` or the ``PLAYGROUND_LOCAL_FAULTS`` environment variable, e.g.
``PLAYGROUND_LOCAL_FAULTS="result:503x2,submit:drop_after_accept,task:fail:1200,output:404"``
(the spec language is described in playground/local/faults.py). Ctrl-C stops it cleanly.
``--render protocol`` (or ``PLAYGROUND_LOCAL_RENDER=protocol``) gives every task one tiny shared MP4 instead of a
rendered clip: same API, timing and faults, next to no CPU, for benchmarks.
``--allow-private-fetch`` (or ``PLAYGROUND_LOCAL_ALLOW_PRIVATE_FETCH=1``) lets tasks fetch image URLs on loopback and
private hosts: for tests only, as anyone who can submit could then make the server probe its network.
``--catalogue models.json`` (or ``PLAYGROUND_LOCAL_CATALOGUE``) adds catalogue entries (in ``GET /api/v3/models``'s
shape) to the built-in models, or replaces ones of the same id.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import LocalConfig, start_server
from .config import RENDERS, TIMINGS
from .faults import FaultPlan


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m playground.local", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port chosen by the OS")
    p.add_argument("--timing", choices=TIMINGS, default="instant")
    p.add_argument("--render", choices=RENDERS, default=os.environ.get("PLAYGROUND_LOCAL_RENDER", "").strip() or "full",
                   help="full: render each task's clip; protocol: every task gets one tiny shared MP4, for "
                        "benchmarks and tests that count requests (default: $PLAYGROUND_LOCAL_RENDER or full)")
    p.add_argument("--speed", type=float, default=1.0, help="realistic timing: factor on the modelled time")
    p.add_argument("--keys", default="", help="comma-separated accepted keys (default: any non-empty key)")
    p.add_argument("--concurrency", type=int, default=2, help="tasks of one key processing at once")
    p.add_argument("--rpm", type=int, default=None, help="submits per minute per key (default: no limit)")
    p.add_argument("--balance", type=float, default=10.0, help="starting USD balance of each key")
    p.add_argument("--allow-fetch", action="store_true", help="fetch image URLs on public hosts")
    p.add_argument("--allow-private-fetch", action="store_true",
                   default=os.environ.get("PLAYGROUND_LOCAL_ALLOW_PRIVATE_FETCH", "").lower() in ("1", "true", "yes"),
                   help="also fetch image URLs on loopback and private hosts, for tests "
                        "(default: $PLAYGROUND_LOCAL_ALLOW_PRIVATE_FETCH)")
    p.add_argument("--fetch-timeout", type=float, default=30.0, help="seconds for one image fetch")
    p.add_argument("--upload-lifetime", type=float, default=7 * 24 * 3600.0,
                   help="seconds an uploaded file is served (default: 7 days, as the real API)")
    p.add_argument("--json-max-bytes", type=int, default=1024 * 1024,
                   help="largest JSON body other than a submit's")
    p.add_argument("--submit-max-bytes", type=int, default=64 * 1024 * 1024,
                   help="largest submit body (default: the contract's 64 MB)")
    p.add_argument("--data-dir", type=Path, default=None, help="keep uploads and outputs here (default: temp)")
    p.add_argument("--render-workers", type=int, default=2)
    p.add_argument("--sync-wait", type=float, default=60.0, help="seconds enable_sync_mode holds a submit")
    p.add_argument("--catalogue", type=Path, default=os.environ.get("PLAYGROUND_LOCAL_CATALOGUE", "").strip() or None,
                   help="a JSON file of catalogue entries to serve besides the built-in models "
                        "(default: $PLAYGROUND_LOCAL_CATALOGUE)")
    p.add_argument("--faults", default=os.environ.get("PLAYGROUND_LOCAL_FAULTS", ""),
                   help="fault spec (default: $PLAYGROUND_LOCAL_FAULTS)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = LocalConfig(
            timing=args.timing, render=args.render, speed=args.speed, concurrency=args.concurrency, rpm=args.rpm,
            balance=args.balance,
            keys=frozenset(k.strip() for k in args.keys.split(",") if k.strip()) or None,
            allow_fetch=args.allow_fetch, allow_private_fetch=args.allow_private_fetch,
            fetch_timeout=args.fetch_timeout, upload_lifetime_seconds=args.upload_lifetime,
            json_max_bytes=args.json_max_bytes, submit_max_bytes=args.submit_max_bytes, data_dir=args.data_dir,
            render_workers=args.render_workers,
            sync_wait=args.sync_wait, faults=FaultPlan.parse(args.faults), catalogue_path=args.catalogue,
        )
        server = start_server(config, host=args.host, port=args.port)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(server.url, flush=True)
    stop = threading.Event()
    # Handlers rather than KeyboardInterrupt: a shell may start background jobs with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
