"""The replica benchmark's invariants on its short run, the README's command as written (bench/bench_replicas.py):
app processes sharing one throwaway PostgreSQL and one local API, half the requests repeats, under a daily cap,
webhooks delivered to another replica; then one process on SQLite for the throughput ratio. (This is the test that
runs that README line; tests/test_readme.py runs the five benchmark commands above it.)"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from pg_support import SKIP_NOTE, find_binaries
from support import run_process

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def readme_command() -> list[str]:
    """The README's bench_replicas line, as argv."""
    text = (ROOT / "README.md").read_text()
    line = re.search(r"^python bench/bench_replicas\.py[^\n]*", text, re.M).group(0).split("  #", 1)[0]
    argv = shlex.split(line)
    return [sys.executable, *argv[1:]]


def test_replicas_pay_once_stay_within_the_cap_reuse_every_repeat_and_complete_every_delivery(tmp_path):
    if find_binaries() is None:
        pytest.skip(SKIP_NOTE.format(why="no PostgreSQL server binaries"))
    figures = tmp_path / "figures.json"
    done = run_process([*readme_command(), "--json", str(figures)], timeout=540, cwd=ROOT)
    assert figures.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    measured = json.loads(figures.read_text())
    run = measured["replicas"]
    assert run["jobs"] == 16 and run["repeats"] == 8
    assert run["double_payments"] == 0 and run["posts"] == run["paid"] > 0
    assert run["refused_by_cap"] > 0                          # the cap did bind
    assert run["spend"] <= run["cap"] + 0.048 + 1e-9
    assert run["repeats_reused"] == run["repeats"] and run["repeats_reused_elsewhere"] > 0
    assert run["deliveries_accepted"] == run["paid"] == run["deliveries_completed"]
    assert run["other_errors"] == []
    assert measured["single"]["double_payments"] == 0 and measured["ratio"] > 0
    assert "throughput: 2 replicas / 1 process" in done.stdout
    assert done.returncode == 0, done.stdout[-3000:]
