"""Replicas: several ``python app.py`` processes sharing one PostgreSQL ledger and one local API, against one process
on SQLite, with the same work sent through the page's public ``/generate`` endpoint over HTTP.

Usage: python bench/bench_replicas.py [--jobs 1000] [--replicas 4] [--concurrency 8] [--json PATH]

The work: ``--jobs`` requests (480p, 4 s, silent: $0.048 each), sent round-robin to the replicas, ``--concurrency``
at once, over Gradio's queue protocol as the page sends them. Half are new requests (an explicit seed not asked
before); the other half are repeats of an earlier request that was paid for (the same seed), mostly sent to another
replica than the one that paid. A daily cap (``PLAYGROUND_MAX_COST_PER_DAY``) of ``--cap-share`` of what the new
requests would cost refuses the rest. Each replica's webhooks are delivered to the next replica
(``PLAYGROUND_PUBLIC_URL``), so every delivery is received by a replica other than the one that sent the task, and
the sender learns the end from the shared ledger. The servers: a throwaway PostgreSQL started here as the tests start
theirs (tests/pg_support.py), and an in-process local API (instant timing, protocol renders: one tiny clip per task).

It prints, for the replicas: jobs paid, submit POSTs (the local API's own count), double payments (POSTs beyond one
per distinct request), the spend (the local API's charges) against the cap, repeats served again from the ledger at
$0 (and how many by another replica than the payer), webhook deliveries accepted on a replica other than the sender
and the jobs they completed; then the throughput of the replicas against one process on SQLite doing the same work
(a ratio measured in this run). On 2 shared cores the replicas cannot be faster: the point is that the guarantees
hold across processes. Exit status 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL and the queue-protocol caller the tests use

from attack_payloads import event_named  # noqa: E402
from attack_support import call_event, uploaded  # noqa: E402
from pg_support import start_postgres  # noqa: E402
from support import free_port, make_image  # noqa: E402

from playground.jobs import Ledger  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402

KEY = "sk-bench-replicas-0123456789abcdef"
DRAFT = {"prompt": "slow zoom in", "duration": 4, "resolution": "480p", "generate_audio": False,
         "camera_fixed": False}
JOB_COST = 0.048
START_TIMEOUT_S = 300.0


@dataclass
class Replica:
    """One ``python app.py``: its address, process, and what the bench needs to call ``/generate`` on it."""

    index: int
    url: str
    process: subprocess.Popen
    fn_index: int = 0
    trigger_id: int | None = None
    parameters: list[str] = field(default_factory=list)
    defaults: list = field(default_factory=list)
    image: dict | None = None

    def prepare(self, picture: Path) -> None:
        """Read the endpoint from the app's own /config and /info; upload the picture once."""
        config = requests.get(self.url + "/config", timeout=60).json()
        event = event_named(config, "generate")
        self.fn_index, self.trigger_id = event.fn_index, event.trigger_id
        info = requests.get(self.url + "/gradio_api/info", timeout=60).json()["named_endpoints"]["/generate"]
        self.parameters = [p["parameter_name"] for p in info["parameters"]]
        self.defaults = [p.get("parameter_default") for p in info["parameters"]]
        self.image = uploaded(self.url, picture)

    def generate(self, seed: int) -> dict:
        """One /generate: {"ok", "reused", "job_id", "error"}."""
        values = {**DRAFT, "image": self.image, "seed": seed}
        data = [values.get(name, default) for name, default in zip(self.parameters, self.defaults, strict=True)]
        reply = call_event(self.url, self.fn_index, data, trigger_id=self.trigger_id, timeout=600)
        if not reply.success:
            return {"ok": False, "reused": False, "job_id": None, "error": reply.error_text}
        details = reply.data[1]
        return {"ok": True, "reused": bool(details.get("reused")), "job_id": details.get("job_id"), "error": ""}


@contextlib.contextmanager
def replicas(count: int, api_url: str, work: Path, *, database_url: str | None, cap: float) -> Iterator[list[Replica]]:
    """``count`` app processes sharing ``work/home`` (and ``database_url`` when given); each one's webhooks go to the
    next one. Every process is ended afterwards."""
    ports = [free_port() for _ in range(count)]
    started: list[Replica] = []
    try:
        for i, port in enumerate(ports):
            env = _app_env(api_url, work, i, port, ports[(i + 1) % count], database_url, cap)
            log = open(work / f"app{i}.log", "wb")  # noqa: SIM115 - kept open for the process's life
            process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=work, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            started.append(Replica(i, f"http://127.0.0.1:{port}", process))
        t0 = time.monotonic()
        for replica in started:
            _wait_for(replica, work)
        print(f"({count} app processes answered in {time.monotonic() - t0:.1f} s)", file=sys.stderr)
        yield started
    finally:
        for replica in started:  # all at once: each takes a few seconds to close its streams
            _signal(replica.process, signal.SIGTERM)
        for replica in started:
            _stop(replica.process)


def _app_env(api_url: str, work: Path, index: int, port: int, next_port: int, database_url: str | None,
             cap: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "WAVESPEED_", "GRADIO_", "SPACE_"))}
    env.update(PYTHONPATH=str(ROOT), PLAYGROUND_PUBLIC="1", WAVESPEED_API_KEY=KEY, WAVESPEED_BASE_URL=api_url,
               PLAYGROUND_HOME=str(work / "home"), GRADIO_TEMP_DIR=str(work / f"gradio{index}"),
               GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               PLAYGROUND_PUBLIC_URL=f"http://127.0.0.1:{next_port}", PLAYGROUND_MAX_COST_PER_DAY=f"{cap:.4f}",
               PLAYGROUND_CONCURRENCY="32", PLAYGROUND_LOCAL_RENDER="protocol")
    if database_url:
        env["PLAYGROUND_DATABASE_URL"] = database_url
    return env


def _wait_for(replica: Replica, work: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            tail = (work / f"app{replica.index}.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"replica {replica.index} exited ({replica.process.returncode}):\n{tail}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(replica.url + "/config", timeout=5).ok:
                return
        time.sleep(0.5)
    raise SystemExit(f"replica {replica.index} did not answer within {START_TIMEOUT_S:.0f} s")


def _signal(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    _signal(process, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL)
        process.wait(timeout=10)


class Workload:
    """Decides each request as a slot frees: a new seed, or (every other block of ``replicas`` requests, once one
    is paid) a repeat of a paid request's seed."""

    def __init__(self, jobs: int, replicas: int, seed: int = 7):
        self.jobs, self.replicas = jobs, replicas
        self.repeats_wanted = jobs // 2
        self.rng = random.Random(seed)
        self.paid: dict[int, int] = {}  # seed -> the replica that paid for it
        self.news = self.repeats = 0
        self.lock = threading.Condition()

    def next(self, k: int) -> tuple[int, int | None]:
        """(seed, replica that paid for it, for a repeat; None for a new request)."""
        with self.lock:
            news_left = (self.jobs - self.repeats_wanted) - self.news
            want_repeat = self.repeats < self.repeats_wanted and ((k // self.replicas) % 2 == 1 or news_left <= 0)
            if want_repeat:
                self.lock.wait_for(lambda: self.paid, timeout=600)
            if want_repeat and self.paid:
                self.repeats += 1
                seed = self.rng.choice(sorted(self.paid))
                return seed, self.paid[seed]
            self.news += 1
            return 100_000 + self.news, None

    def paid_by(self, seed: int, replica: int) -> None:
        with self.lock:
            self.paid.setdefault(seed, replica)
            self.lock.notify_all()


def drive(apps: list[Replica], jobs: int, concurrency: int) -> tuple[list[dict], float]:
    """Send ``jobs`` requests round-robin through ``apps``; every reply, and the wall time."""
    work = Workload(jobs, len(apps))
    outcomes: list[dict] = []
    slots = threading.Semaphore(concurrency)

    def one(k: int, seed: int, payer: int | None) -> None:
        app = apps[k % len(apps)]
        t0 = time.monotonic()
        try:
            out = app.generate(seed)
        except Exception as exc:  # noqa: BLE001 - a bench records every failure and goes on
            out = {"ok": False, "reused": False, "job_id": None, "error": f"{type(exc).__name__}: {exc}"}
        out.update(k=k, seed=seed, replica=app.index, repeat=payer is not None, payer=payer,
                   seconds=time.monotonic() - t0)
        if out["ok"] and not out["reused"] and payer is None:
            work.paid_by(seed, app.index)
        outcomes.append(out)
        slots.release()

    t0 = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        for k in range(jobs):
            slots.acquire()
            seed, payer = work.next(k)
            pool.submit(one, k, seed, payer)
    return sorted(outcomes, key=lambda o: o["k"]), time.monotonic() - t0


def figures(outcomes: list[dict], seconds: float, api, ledger: Ledger, cap: float) -> dict:
    """What the run did, from the replies, the local API's own counts and the shared ledger."""
    rows = ledger.jobs()
    sent = [j for j in rows if j.sent_at]
    repeats = [o for o in outcomes if o["repeat"]]
    delivered = {d.task_id for d in api.webhook_deliveries() if d.status == 200}
    by_task = {j.request_id: j for j in sent if j.request_id}
    # A delivery's job is done when it is completed with its video on disk (its sender may have polled the end first).
    done = [by_task[t] for t in delivered if t in by_task and by_task[t].status == "completed"
            and by_task[t].video_path and Path(by_task[t].video_path).is_file()]
    latencies = sorted(o["seconds"] for o in outcomes)
    spend = 1000.0 - api.balance(KEY)
    return {
        "jobs": len(outcomes), "seconds": round(seconds, 2), "jobs_per_s": round(len(outcomes) / seconds, 2),
        "median_s": round(latencies[len(latencies) // 2], 2), "p90_s": round(latencies[int(len(latencies) * 0.9)], 2),
        "new": len(outcomes) - len(repeats), "repeats": len(repeats),
        "paid": len(sent), "posts": api.submits, "double_payments": api.submits - len({j.fingerprint for j in sent}),
        "refused_by_cap": sum(1 for o in outcomes if not o["ok"] and "budget" in o["error"]),
        "other_errors": [o["error"][:200] for o in outcomes if not o["ok"] and "budget" not in o["error"]][:5],
        "spend": round(spend, 4), "cap": cap, "over_cap": round(max(0.0, spend - cap), 4),
        "repeats_reused": sum(1 for o in repeats if o["ok"] and o["reused"]),
        "repeats_reused_elsewhere": sum(1 for o in repeats if o["ok"] and o["reused"] and o["replica"] != o["payer"]),
        "deliveries_accepted": len(delivered), "deliveries_completed": len(done),
        "completed_by_webhook": sum(1 for j in done if j.completed_by == "webhook"),
    }


def phase(jobs: int, count: int, concurrency: int, cap: float, picture: Path, work: Path,
          database_url: str | None) -> dict:
    """One run: a fresh local API, ``count`` app processes, the work, the figures."""
    config = LocalConfig(timing="instant", render="protocol", concurrency=256, balance=1000.0)
    api = start_server(config)
    try:
        with replicas(count, api.url, work, database_url=database_url, cap=cap) as apps:
            for app in apps:
                app.prepare(picture)
            outcomes, seconds = drive(apps, jobs, concurrency)
            _settle(api)
            ledger = Ledger(url=database_url) if database_url else Ledger(work / "home" / "ledger.sqlite3")
            return figures(outcomes, seconds, api, ledger, cap)
    finally:
        api.stop()


def _settle(api, timeout: float = 30.0) -> None:
    """Wait (at most ``timeout``) until every task's webhook was accepted: a delivery answered 503 (it overtook its
    submit's reply) is sent again after a back-off."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted = {d.task_id for d in api.webhook_deliveries() if d.status == 200}
        if all(t["id"] in accepted for t in api.tasks()):
            return
        time.sleep(0.5)


def verdict(f: dict) -> list[str]:
    """The invariants a run must keep; the broken ones, as sentences."""
    broken = []
    if f["double_payments"]:
        broken.append(f"{f['double_payments']} double payments")
    if f["posts"] != f["paid"]:
        broken.append(f"{f['posts']} POSTs for {f['paid']} paid rows")
    if f["spend"] > f["cap"] + JOB_COST + 1e-9:
        broken.append(f"spend ${f['spend']:.3f} is over the cap ${f['cap']:.3f} plus one job")
    if f["repeats_reused"] != f["repeats"]:
        broken.append(f"{f['repeats'] - f['repeats_reused']} repeats were not served from the ledger")
    if f["deliveries_completed"] != f["deliveries_accepted"]:
        broken.append(f"{f['deliveries_accepted'] - f['deliveries_completed']} accepted deliveries did not complete")
    if f["other_errors"]:
        broken.append(f"errors other than the cap: {f['other_errors']}")
    return broken


def report(name: str, f: dict) -> None:
    print(f"{name}: {f['jobs']} jobs in {f['seconds']:.1f} s ({f['jobs_per_s']:.2f} jobs/s; one request "
          f"{f['median_s']:.1f} s median, {f['p90_s']:.1f} s p90)")
    print(f"  paid {f['paid']}, POSTs {f['posts']}, double payments {f['double_payments']}, refused by the cap "
          f"{f['refused_by_cap']}")
    print(f"  spend ${f['spend']:.3f} against a cap of ${f['cap']:.3f} (over by ${f['over_cap']:.3f}; one job: "
          f"${JOB_COST:.3f})")
    print(f"  repeats {f['repeats']}: reused {f['repeats_reused']} ({f['repeats_reused_elsewhere']} on another "
          f"replica than the payer's)")
    print(f"  webhook deliveries accepted (by the next replica: never the sender's, when there are several) "
          f"{f['deliveries_accepted']}: their jobs "
          f"completed {f['deliveries_completed']} ({f['completed_by_webhook']} ended by the delivery itself, the rest "
          "by a poll that came first)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once, all replicas together")
    parser.add_argument("--cap-share", type=float, default=0.8, help="the daily cap, as a share of the new requests")
    parser.add_argument("--single-jobs", type=int, help="jobs for the one process on SQLite (default: --jobs; 0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    news = args.jobs - args.jobs // 2
    cap = round(args.cap_share * news * JOB_COST, 4)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        tmp = Path(tmp)
        picture = make_image(tmp / "in.png")
        t0 = time.monotonic()
        server = start_postgres()
        print(f"(PostgreSQL started in {time.monotonic() - t0:.1f} s)", file=sys.stderr)
        try:
            with server.database() as url:
                (tmp / "pg").mkdir()
                many = phase(args.jobs, args.replicas, args.concurrency, cap, picture, tmp / "pg", url)
        finally:
            server.stop()
        single = args.jobs if args.single_jobs is None else args.single_jobs
        one = None
        if single > 0:
            (tmp / "sqlite").mkdir()
            single_cap = round(args.cap_share * (single - single // 2) * JOB_COST, 4)
            one = phase(single, 1, args.concurrency, single_cap, picture, tmp / "sqlite", None)
    report(f"{args.replicas} replicas on one PostgreSQL", many)
    broken = verdict(many)
    ratio = None
    if one is not None:
        report("1 process on SQLite", one)
        ratio = many["jobs_per_s"] / one["jobs_per_s"] if one["jobs_per_s"] else 0.0
        print(f"throughput: {args.replicas} replicas / 1 process = {ratio:.2f}")
        broken += [f"(1 process) {b}" for b in verdict(one)]
    for sentence in broken:
        print("BROKEN:", sentence)
    if args.json:
        args.json.write_text(json.dumps({"replicas": many, "single": one, "ratio": ratio, "broken": broken}))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
