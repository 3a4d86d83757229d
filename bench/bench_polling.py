"""Completion lag and result GETs per job: this client's poll schedule against the official SDK's Client.run.

Both run against one local API in realistic mode, in the same waves (jobs of both side by side), so the machine's
noise hits both alike. Lag = when the client knew the task was done minus when the server finished it. Our client
learns its estimate from the ledger as it goes (the first wave runs on the contract's typical time).
Target: median lag no worse than the SDK's (1 s polling) with at most half its result GETs per job.

    python bench/bench_polling.py [--waves 4] [--per-wave 2] [--speed 0.4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavespeed import Client as SdkClient  # noqa: E402

from playground.client import Client  # noqa: E402
from playground.contract import SPICY  # noqa: E402
from playground.jobs import Ledger  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402
from playground.pipeline import generate  # noqa: E402
from tests.support import make_image  # noqa: E402

PARAMS = {"resolution": "480p", "duration": 4, "generate_audio": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waves", type=int, default=4)
    ap.add_argument("--per-wave", type=int, default=2, help="jobs per client per wave")
    ap.add_argument("--speed", type=float, default=0.4, help="realistic-mode factor (0.4: a 480p 4 s job ~8 s)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-polling-"))
    config = LocalConfig(timing="realistic", speed=args.speed, concurrency=64, balance=1000.0)
    with start_server(config) as server:
        ours = Client(api_key="ours", base_url=server.url)
        sdk = SdkClient(api_key="sdk", base_url=server.url)
        ledger = Ledger(tmp / "ledger.sqlite3")
        url = ours.upload(make_image(tmp / "in.png"))
        lags: dict[str, list[float]] = {"ours": [], "sdk": []}
        lock = threading.Lock()

        def run_ours() -> None:
            knew: dict[str, float] = {}

            def on_progress(ev) -> None:
                if ev.status == "completed" and ev.request_id and ev.request_id not in knew:
                    knew[ev.request_id] = time.monotonic()

            result = generate(url, client=ours, ledger=ledger, probe_output=False, out_dir=tmp / "out",
                              on_progress=on_progress, **PARAMS)
            with lock:
                lags["ours"].append(knew[result.request_id] - server.finished_at(result.request_id))

        def run_sdk() -> None:
            output = sdk.run(SPICY, {"image": url, **PARAMS}, poll_interval=1.0)
            knew = time.monotonic()
            task_id = output["outputs"][0].rsplit("/", 1)[-1].split(".")[0]
            with lock:
                lags["sdk"].append(knew - server.finished_at(task_id))

        for wave in range(args.waves):
            threads = [threading.Thread(target=f) for _ in range(args.per_wave) for f in (run_ours, run_sdk)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"wave {wave + 1}/{args.waves} done", file=sys.stderr)
        all_gets = server.count("GET", "/api/v3/predictions/")

    n = args.waves * args.per_wave
    ours_get = ours.requests_sent.get("result", 0) / n
    sdk_get = (all_gets - ours.requests_sent.get("result", 0)) / n
    ours_lag, sdk_lag = statistics.median(lags["ours"]), statistics.median(lags["sdk"])
    print(f"jobs per client: {n} (480p 4 s, realistic x{args.speed})")
    print(f"median completion lag  ours {ours_lag:.3f} s   sdk {sdk_lag:.3f} s   ratio {ours_lag / sdk_lag:.2f}")
    print(f"result GETs per job    ours {ours_get:.1f}     sdk {sdk_get:.1f}     ratio {ours_get / sdk_get:.2f}")
    ok = ours_lag <= sdk_lag and ours_get <= sdk_get / 2
    print(f"target (lag no worse, at most half the GETs): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
