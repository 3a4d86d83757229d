"""Completion lag and result GETs per job: webhooks, this client's poll schedule, and the official SDK's Client.run.

All three run against one local API in realistic mode, in the same waves (jobs of each side by side), so the
machine's noise hits them alike. Lag = when the client knew the task was done minus when the server finished it.
"webhook": ``generate(..., webhook_url=...)`` with this process serving the playground's receiver
(:func:`playground.receiver.add_receiver`) on loopback, sharing its webhooks with the runs as the app does; the local
API signs and POSTs each end. "polling": our client, which learns its estimate from the ledger as it goes (the first
wave has no history: it polls densely around the contract's typical time). "sdk": the official SDK, polling every
second. Targets: polling's median and p95 lag both below the SDK's with at most half its result GETs per job;
webhook lag p95 under 0.1 s with 0 result GETs.

    python bench/bench_polling.py [--waves 4] [--per-wave 8] [--speed 0.4]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from wavespeed import Client as SdkClient  # noqa: E402

from playground.client import Client  # noqa: E402
from playground.contract import SPICY  # noqa: E402
from playground.jobs import Ledger  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402
from playground.pipeline import generate  # noqa: E402
from playground.receiver import WebhookReceiver, add_receiver  # noqa: E402
from playground.webhooks import Webhooks  # noqa: E402
from tests.support import free_port, make_image  # noqa: E402

PARAMS = {"resolution": "480p", "duration": 4, "generate_audio": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waves", type=int, default=4)
    ap.add_argument("--per-wave", type=int, default=8, help="jobs per client per wave")
    ap.add_argument("--speed", type=float, default=0.4, help="realistic-mode factor (0.4: a 480p 4 s job ~8 s)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-polling-"))
    # Protocol render: the bench measures how soon each client learns of an end, not the renderer.
    config = LocalConfig(timing="realistic", speed=args.speed, concurrency=64, balance=1000.0, render="protocol")
    with start_server(config) as server:
        ours = Client(api_key="ours", base_url=server.url)
        hooked = Client(api_key="hooked", base_url=server.url)
        sdk = SdkClient(api_key="sdk", base_url=server.url)
        ledger = Ledger(tmp / "ledger.sqlite3")
        url = ours.upload(make_image(tmp / "in.png"))
        lags: dict[str, list[float]] = {"webhook": [], "ours": [], "sdk": []}
        lock = threading.Lock()
        hooks = Webhooks()  # the receiver's and the webhook runs' (as one app shares them)
        webhook_url, stop_receiver = serve_receiver(ledger, hooked, hooks)

        def run_generate(client: Client, name: str, **extra) -> None:
            knew: dict[str, float] = {}

            def on_progress(ev) -> None:
                if ev.status == "completed" and ev.request_id and ev.request_id not in knew:
                    knew[ev.request_id] = time.monotonic()

            result = generate(url, client=client, ledger=ledger, probe_output=False, out_dir=tmp / "out",
                              on_progress=on_progress, **PARAMS, **extra)
            with lock:
                lags[name].append(knew[result.request_id] - server.finished_at(result.request_id))

        def run_ours() -> None:
            run_generate(ours, "ours")

        def run_hooked() -> None:
            run_generate(hooked, "webhook", webhook_url=webhook_url, webhooks=hooks)

        def run_sdk() -> None:
            output = sdk.run(SPICY, {"image": url, **PARAMS}, poll_interval=1.0)
            knew = time.monotonic()
            task_id = output["outputs"][0].rsplit("/", 1)[-1].split(".")[0]
            with lock:
                lags["sdk"].append(knew - server.finished_at(task_id))

        for wave in range(args.waves):
            runs = (run_hooked, run_ours, run_sdk)
            threads = [threading.Thread(target=f) for _ in range(args.per_wave) for f in runs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"wave {wave + 1}/{args.waves} done", file=sys.stderr)
        all_gets = server.count("GET", "/api/v3/predictions/")
        stop_receiver()

    n = args.waves * args.per_wave
    gets = {"webhook": hooked.requests_sent.get("result", 0) / n, "ours": ours.requests_sent.get("result", 0) / n}
    gets["sdk"] = (all_gets - hooked.requests_sent.get("result", 0) - ours.requests_sent.get("result", 0)) / n
    print(f"jobs per client: {n} (480p 4 s, realistic x{args.speed})")
    print(f"{'':10} {'lag p50':>9} {'lag p95':>9} {'result GETs/job':>16}")
    for name, label in (("webhook", "webhook"), ("ours", "polling"), ("sdk", "sdk")):
        print(f"{label:10} {statistics.median(lags[name]):8.3f}s {p95(lags[name]):8.3f}s {gets[name]:16.1f}")
    ours_lag, sdk_lag = statistics.median(lags["ours"]), statistics.median(lags["sdk"])
    ours_p95, sdk_p95 = p95(lags["ours"]), p95(lags["sdk"])
    hook_p95 = p95(lags["webhook"])
    hook_ratio = statistics.median(lags["webhook"]) / sdk_lag
    print(f"ratio polling/sdk: lag p50 {ours_lag / sdk_lag:.2f}, p95 {ours_p95 / sdk_p95:.2f}, "
          f"GETs {gets['ours'] / gets['sdk']:.2f}; ratio webhook/sdk: lag {hook_ratio:.2f}")
    ok = ours_lag < sdk_lag and ours_p95 < sdk_p95 and gets["ours"] <= gets["sdk"] / 2
    print(f"target polling (p50 and p95 below the SDK's, at most half the GETs): {'met' if ok else 'NOT met'}")
    hook_ok = hook_p95 < 0.1 and gets["webhook"] == 0
    print(f"target webhook (p95 under 0.1 s, 0 result GETs): {'met' if hook_ok else 'NOT met'}")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def serve_receiver(ledger: Ledger, client: Client, webhooks: Webhooks):
    """The playground's webhook receiver on a loopback port of this process; returns its URL and a stop function."""
    app = FastAPI()
    add_receiver(app, WebhookReceiver(ledger, client_for=lambda job: client, webhooks=webhooks))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{port}/webhooks/wavespeed", stop


if __name__ == "__main__":
    main()
