"""A 32-seed sweep at concurrency 4 against the local API in realistic timing: wall time against the ideal.

Usage: python bench/bench_sweep.py [--seeds 32] [--concurrency 4] [--job-seconds 1.5 5]

For each modelled job time, a fresh local API (realistic timing, concurrency 4) and ledger: a warm-up job (so the
ledger knows the typical time, as it does for anyone who has run a job before), one job alone three times (its
median is "one job"), then the sweep. The ideal is ceil(seeds / concurrency) x one job. Targets: wall / ideal at
most 1.2, and the most tasks ever in flight at the API equal to the concurrency. Every figure is measured in this run.

The local API renders every clip for real, on this machine's cores. When four renders at once take longer than the
modelled time, the server, not the sweep, sets the pace: "server slowdown" (median inference in the sweep over the
modelled time) says so. The second job time is long enough for the renders to fit, so its ratio measures the sweep.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.client import Client  # noqa: E402
from playground.contract import typical_inference_seconds  # noqa: E402
from playground.jobs import Ledger  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402
from playground.samples import demo_image  # noqa: E402
from playground.sweep import seed_sweep  # noqa: E402

RESOLUTION, DURATION = "480p", 4
TARGET_RATIO = 1.2
SOLO_RUNS = 3


def scenario(job_seconds: float, seeds: int, concurrency: int) -> dict:
    speed = job_seconds / typical_inference_seconds(RESOLUTION, DURATION)
    fields = {"resolution": RESOLUTION, "duration": DURATION, "generate_audio": True}
    with tempfile.TemporaryDirectory() as tmp, \
            start_server(LocalConfig(timing="realistic", speed=speed, concurrency=concurrency,
                                     balance=1000.0)) as server:
        home = Path(tmp)
        client = Client(api_key="bench-sweep", base_url=server.url)
        ledger = Ledger(home / "ledger.sqlite3")
        image = demo_image(home / "demo.png")

        def sweep(seed_values):
            t0 = time.perf_counter()
            df = seed_sweep(image, None, seed_values, concurrency=concurrency, client=client, ledger=ledger,
                            out_dir=home / "out", progress=False, verbose=False, **fields)
            wall = time.perf_counter() - t0
            if not (df["status"] == "completed").all():
                raise SystemExit(f"bench: some jobs did not complete:\n{df[['seed', 'status', 'error']]}")
            return wall, df

        sweep([1_000_000])  # warm-up
        solo = [sweep([1_000_001 + i])[0] for i in range(SOLO_RUNS)]
        one_job = statistics.median(solo)
        before = server.submits
        wall, df = sweep(list(range(1, seeds + 1)))
        ideal = math.ceil(seeds / concurrency) * one_job
        return {
            "job_seconds": job_seconds, "speed": speed, "one_job": one_job, "solo": solo, "wall": wall,
            "ideal": ideal, "ratio": wall / ideal, "in_flight": server.max_in_flight(),
            "submits": server.submits - before, "inference": df["inference_ms"].median() / 1000.0,
            "overhead": (df["wall_s"] - df["inference_ms"] / 1000.0).median(),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--job-seconds", type=float, nargs="+", default=[1.5, 5.0],
                        help="modelled inference times of one job to run the bench at")
    args = parser.parse_args(argv)
    print(f"sweep bench: {args.seeds} seeds, {RESOLUTION} {DURATION} s, audio on, concurrency {args.concurrency}, "
          f"local API in realistic timing, {os.cpu_count()} cores")
    ok = True
    for job_seconds in args.job_seconds:
        r = scenario(job_seconds, args.seeds, args.concurrency)
        ratio_ok = r["ratio"] <= TARGET_RATIO
        flight_ok = r["in_flight"] == args.concurrency
        server_bound = r["inference"] / job_seconds > 1.1
        # Exit status: the ratio counts only where the sweep, not the renderer, sets the pace.
        ok = ok and flight_ok and (ratio_ok or server_bound)
        print(f"\nmodelled job time {job_seconds:.2f} s (speed {r['speed']:.4f})")
        print(f"  one job alone:          {r['one_job']:6.2f} s  (solo runs "
              f"{', '.join(f'{s:.2f}' for s in r['solo'])})")
        print(f"  {args.seeds}-seed sweep:          {r['wall']:6.2f} s  ({r['submits']} submits)")
        print(f"  ideal ceil({args.seeds}/{args.concurrency}) x one job: {r['ideal']:6.2f} s")
        print(f"  wall / ideal:           {r['ratio']:6.2f}    target <= {TARGET_RATIO}: "
              f"{'ok' if ratio_ok else 'over'}")
        print(f"  most tasks in flight:   {r['in_flight']:6d}    target {args.concurrency}: "
              f"{'ok' if flight_ok else 'NOT the concurrency'}")
        print(f"  server slowdown:        {r['inference'] / job_seconds:6.2f}    (median inference in the sweep "
              f"{r['inference']:.2f} s / modelled {job_seconds:.2f} s; above 1: the renders set the pace)")
        print(f"  client overhead per job: {r['overhead']:5.2f} s  (median wall - inference: polling, download)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
