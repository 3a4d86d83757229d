"""The Runner at scale against the local API: memory, threads, throughput, jobs lost, tasks in flight.

Usage: python bench/bench_runner.py [--jobs 1000] [--concurrency 16 64] [--big-jobs 2000] [--big-concurrency 1000]

1. A seed sweep of ``--jobs`` requests (480p, 4 s, audio off, explicit seeds 0..n-1) run by one Runner at each
   ``--concurrency``, against an in-process local API with instant timing and room for every task: peak RSS of this
   process at job 100 and at the last job, throughput, jobs lost (a job without its video; must be 0) and the most
   tasks ever in flight at the server (must be at most the concurrency).
2. ``--big-jobs`` requests at ``--big-concurrency``, each kept ~5 s at the API (realistic timing) so that the
   concurrency's worth of tasks are in flight and polled at once: the most threads of this process (must stay under
   64) and its peak RSS (must stay under 300 MB).

With the local API's protocol-only render mode (``LocalConfig(render="protocol")``) every task's output is one tiny
MP4 and the bench measures the runner. Without it every clip is rendered for real on this machine's cores: part 1
then runs fewer jobs (``--jobs-without-protocol``), and part 2 keeps the tasks at the API (realistic timing, two
rendering at once, the rest queued) while all ``--big-concurrency`` of them are in flight and polled, then cancels;
the output says so. The embedded local API shares this process, so its memory and threads are counted too.
Exit status 1 only when a stated bound is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.client import Client, PollSchedule  # noqa: E402
from playground.contract import VideoRequest  # noqa: E402
from playground.errors import Cancelled  # noqa: E402
from playground.jobs import Ledger  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402
from playground.pipeline import Result, read_media  # noqa: E402
from playground.runner import END_PHASES, Runner  # noqa: E402
from playground.samples import demo_image  # noqa: E402

FIELDS = {"resolution": "480p", "duration": 4, "generate_audio": False}
THREADS_BOUND = 64
RSS_BOUND_MB = 300.0
POLLS = PollSchedule(floor=0.05, max_gap=0.5)
PROTOCOL = "render" in {f.name for f in dataclasses.fields(LocalConfig)}


def peak_rss_mb() -> float:
    """This process's peak resident set so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """This process's resident set now (VmRSS), or the peak when /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mb()


def server_config(**kw) -> LocalConfig:
    if PROTOCOL:
        kw["render"] = "protocol"
    return LocalConfig(balance=1e7, **kw)


class Watch:
    """Counts ended jobs and samples threads and memory from the runner's events."""

    def __init__(self, marks: tuple[int, ...], at_api_target: int | None = None, cancel: threading.Event | None = None,
                 hold_s: float = 0.0):
        self.lock = threading.Lock()
        self.ended = 0
        self.marks = set(marks)
        self.seen: dict[int, tuple[float, float]] = {}
        self.threads = threading.active_count()
        self.at_api: set[int] = set()
        self.target, self.cancel, self.hold_s = at_api_target, cancel, hold_s
        self.all_at_api_at: float | None = None

    def __call__(self, event) -> None:
        with self.lock:
            self.threads = max(self.threads, threading.active_count())
            if event.phase in ("queued", "processing"):
                self.at_api.add(event.index)
                if self.target is not None and len(self.at_api) >= self.target and self.all_at_api_at is None:
                    self.all_at_api_at = time.monotonic()
                    self._cancel_later()
            if event.phase in END_PHASES:
                self.ended += 1
                if self.ended in self.marks:
                    self.seen[self.ended] = (rss_mb(), peak_rss_mb())

    def _cancel_later(self) -> None:
        def later() -> None:
            deadline = time.monotonic() + self.hold_s
            while time.monotonic() < deadline:  # keep sampling while every task is in flight and polled
                self.threads = max(self.threads, threading.active_count())
                time.sleep(0.1)
            self.cancel.set()

        threading.Thread(target=later, name="bench-cancel", daemon=True).start()


def sweep(n: int, concurrency: int, home: Path) -> dict:
    with start_server(server_config(timing="instant", concurrency=max(n, 2))) as server:
        client = Client(api_key=f"bench-runner-{concurrency}", base_url=server.url, poll=POLLS)
        ledger = Ledger(home / "ledger.sqlite3")
        media = read_media(demo_image(home / "demo.png", size=(640, 360)), client=client)
        watch = Watch((100, n))
        runner = Runner(client, ledger, concurrency=concurrency, on_event=watch, out_dir=home / "out",
                        probe_output=False)
        t0 = time.perf_counter()
        results = runner.run((VideoRequest.build(seed=seed, **FIELDS), media) for seed in range(n))
        wall = time.perf_counter() - t0
        rows = ledger.jobs()
        with_video = sum(1 for j in rows if j.has_video)
        return {"n": n, "wall": wall, "completed": sum(isinstance(r, Result) for r in results),
                "rows": len(rows), "lost": n - with_video, "in_flight": server.max_in_flight(),
                "submits": server.submits, "marks": watch.seen, "threads": watch.threads}


def big(n: int, concurrency: int, home: Path, hold_s: float) -> dict:
    if PROTOCOL:  # each task takes ~5 s at the API, so all ``concurrency`` slots fill and are polled together
        config = server_config(timing="realistic", speed=0.25, concurrency=n)
        cancel, target = threading.Event(), None
    else:  # tasks stay queued at the API (2 render at once); cancel once every slot is at the API and polled
        config = server_config(timing="realistic", speed=1.0, concurrency=2)
        cancel, target = threading.Event(), concurrency
    with start_server(config) as server:
        client = Client(api_key="bench-runner-big", base_url=server.url, poll=POLLS)
        ledger = Ledger(home / "ledger.sqlite3")
        media = read_media(demo_image(home / "demo.png", size=(640, 360)), client=client)
        before = threading.active_count()
        watch = Watch((n,), at_api_target=target, cancel=cancel, hold_s=hold_s)
        runner = Runner(client, ledger, concurrency=concurrency, on_event=watch, out_dir=home / "out",
                        probe_output=False, cancel=cancel)
        t0 = time.perf_counter()
        results = runner.run((VideoRequest.build(seed=seed, **FIELDS), media) for seed in range(n))
        wall = time.perf_counter() - t0
        rows = ledger.jobs()
        sent = [r for r in results if isinstance(r, Cancelled) and r.task_id] + \
            [r for r in results if isinstance(r, Result)]
        recorded = {j.request_id for j in rows if j.request_id}
        lost = sum(1 for r in sent if (r.request_id if isinstance(r, Result) else r.task_id) not in recorded)
        return {"n": n, "wall": wall, "completed": sum(isinstance(r, Result) for r in results), "sent": len(sent),
                "lost": lost, "in_flight": server.max_in_flight(), "threads": watch.threads, "before": before,
                "peak_rss": peak_rss_mb(), "cancelled": cancel.is_set()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--jobs-without-protocol", type=int, default=150,
                        help="jobs of part 1 when every clip is rendered for real")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[16, 64], help="none: only part 2")
    parser.add_argument("--big-jobs", type=int, default=2000)
    parser.add_argument("--big-concurrency", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=10.0,
                        help="without protocol mode: seconds to keep every task in flight before cancelling")
    args = parser.parse_args(argv)
    n = args.jobs if PROTOCOL else min(args.jobs, args.jobs_without_protocol)
    mode = "protocol-only render (one tiny MP4)" if PROTOCOL else \
        f"FULL render of the smallest clip (no protocol mode in this LocalConfig): {n} jobs instead of {args.jobs}"
    print(f"runner bench: local API in this process, {mode}; {os.cpu_count()} cores; 480p 4 s audio off")
    ok = True
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as tmp:
            r = sweep(n, concurrency, Path(tmp))
        flight_ok, lost_ok = r["in_flight"] <= concurrency, r["lost"] == 0
        ok = ok and flight_ok and lost_ok
        print(f"\n{r['n']} jobs at concurrency {concurrency}:")
        for mark in sorted(r["marks"]):
            now, peak = r["marks"][mark]
            print(f"  RSS at job {mark:>5}:      {now:7.1f} MB now, {peak:7.1f} MB peak")
        if 100 in r["marks"] and r["n"] in r["marks"] and r["n"] > 100:
            print(f"  peak RSS growth 100 -> {r['n']}: {r['marks'][r['n']][1] / r['marks'][100][1]:.2f}x")
        print(f"  wall:                 {r['wall']:7.1f} s   throughput {r['n'] / r['wall']:.1f} jobs/s")
        print(f"  completed:            {r['completed']:7d}   ledger rows {r['rows']}, submits {r['submits']}")
        print(f"  jobs lost:            {r['lost']:7d}   (must be 0) {'ok' if lost_ok else 'LOST'}")
        print(f"  most in flight:       {r['in_flight']:7d}   (server's count; must be <= {concurrency}) "
              f"{'ok' if flight_ok else 'OVER'}")
        print(f"  most threads:         {r['threads']:7d}")
    with tempfile.TemporaryDirectory() as tmp:
        b = big(args.big_jobs, args.big_concurrency, Path(tmp), args.hold)
    threads_ok, rss_ok = b["threads"] < THREADS_BOUND, b["peak_rss"] < RSS_BOUND_MB
    flight_ok, lost_ok = b["in_flight"] <= args.big_concurrency, b["lost"] == 0
    ok = ok and threads_ok and rss_ok and flight_ok and lost_ok
    print(f"\n{b['n']} jobs at concurrency {args.big_concurrency}:")
    if not PROTOCOL:
        print(f"  (no protocol mode: tasks kept at the API, {b['sent']} sent and polled, then cancelled after "
              f"{args.hold:.0f} s with all {args.big_concurrency} in flight; the rest never sent)")
    print(f"  wall:                 {b['wall']:7.1f} s   completed {b['completed']}, sent {b['sent']}")
    print(f"  most threads:         {b['threads']:7d}   (process; {b['before']} before the run; must be < "
          f"{THREADS_BOUND}) {'ok' if threads_ok else 'OVER'}")
    print(f"  peak RSS:             {b['peak_rss']:7.1f} MB (must be < {RSS_BOUND_MB:.0f}) "
          f"{'ok' if rss_ok else 'OVER'}")
    print(f"  most in flight:       {b['in_flight']:7d}   (must be <= {args.big_concurrency}) "
          f"{'ok' if flight_ok else 'OVER'}")
    print(f"  jobs lost:            {b['lost']:7d}   (sent but not in the ledger; must be 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
