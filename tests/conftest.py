"""Shared fixtures: one family of local APIs over real loopback HTTP, test pictures, a fast poll schedule, and the
package installed from a wheel. Plain helpers (no fixtures) are in support.py."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from install_support import remove_newcomer_homes
from support import STARTED, end_started, make_image, start_local_api, worker_id
from support import fast_poll as _fast_poll

# Test files import this folder's helpers as `support` and as `tests.support`: one module under both names, so that
# there is one registry of started processes.
sys.modules.setdefault("tests.support", sys.modules["support"])

# Everything a test run writes to the temp dir (pytest's tmp_path, Gradio's uploads, chromium's profiles, the local
# API's files, subprocesses' temp files) goes into one folder of this run, removed at its end: nothing is left in
# /tmp. The controller makes it; pytest-xdist workers and every subprocess inherit it through TMPDIR.
if "PYTEST_XDIST_WORKER" not in os.environ:
    RUN_TMP = Path(tempfile.mkdtemp(prefix="seedance-tests-"))
    os.environ["TMPDIR"] = str(RUN_TMP)
    tempfile.tempdir = None  # forget the temp dir Python already chose
    atexit.register(shutil.rmtree, RUN_TMP, ignore_errors=True)

# Gradio names an upload's cache folder by its content, and an app that closes deletes its cache: two workers' apps
# given the same sample would delete each other's copy. Each xdist worker gets a Gradio cache of its own.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix=f"gradio-{worker_id()}-")


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# A run stopped with SIGTERM (a CI job's time limit, `kill`) unwinds like Ctrl-C: teardowns end the processes the
# tests started and the temp folder is removed, instead of dying with them left behind.
if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture(autouse=True)
def _end_the_tests_processes():
    """Every subprocess a test started (support.spawn / run_process) is ended with its process group at teardown,
    when the test passed, failed or timed out (pytest-timeout's signal method lets teardown run)."""
    before = frozenset(id(proc) for proc in STARTED)  # a module's server outlives each of its tests
    yield
    end_started(keep=before)


def pytest_unconfigure(config):
    end_started()
    remove_newcomer_homes()


def draw_png(path: Path, width: int = 800, height: int = 450) -> Path:
    """The test picture (:func:`support.make_image`) at ``width`` x ``height``, written to ``path``."""
    return make_image(path, (width, height))


@pytest.fixture
def png_file(tmp_path) -> Path:
    """An 800x450 (16:9) test PNG."""
    return make_image(tmp_path / "frame.png")


@pytest.fixture
def make_png(tmp_path):
    """A factory: ``make_png(width, height, name="image.png")`` writes a test PNG in tmp_path and returns its path."""
    def make(width: int = 800, height: int = 450, name: str = "image.png") -> Path:
        return make_image(tmp_path / name, (width, height))
    return make


@pytest.fixture
def local_api_factory(request):
    """Start local APIs for one test: ``local_api_factory(timing="realistic", speed=0.1, faults=...)`` takes any
    :class:`LocalConfig` field and returns a running server; all are stopped after the test. Their tasks end with one
    tiny shared clip (protocol render) unless the test is marked ``full_render`` or asks for ``render="full"``: only
    tests that look at the video pay for rendering it."""
    render = "full" if request.node.get_closest_marker("full_render") else "protocol"
    with contextlib.ExitStack() as stack:
        yield lambda port=0, **fields: stack.enter_context(start_local_api(port, **{"render": render, **fields}))


@pytest.fixture
def local_api(local_api_factory):
    """A fresh local API with instant timing, stopped after the test (protocol render unless marked
    ``full_render``)."""
    return local_api_factory(timing="instant")


@pytest.fixture
def protocol_api(local_api_factory):
    """A fresh instant local API that, where the checkout has the mode, renders no real video (for tests that count
    requests and never look at the clip)."""
    return local_api_factory(timing="instant", render="protocol")


@pytest.fixture(scope="session")
def shared_local_api():
    """One local API for the whole session, for tests that only read (use ``local_api`` to change faults); protocol
    render: none of them looks at a clip."""
    with start_local_api(timing="instant", balance=1000.0, render="protocol") as server:
        yield server


@pytest.fixture(scope="session")
def _chromium():
    from browser_support import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def browser(_chromium):
    """One headless chromium for every browser test of this process (they share one pytest-xdist worker); the pages
    a test opened are closed at its teardown. Skips (or fails, with PLAYGROUND_REQUIRE_BROWSER=1) without chromium."""
    yield _chromium
    for context in _chromium.contexts:
        context.close()


@pytest.fixture(scope="session")
def fast_poll():
    """A poll schedule that asks every 0.05 to 0.2 s (the production one waits seconds for a local job)."""
    return _fast_poll()


# --- the ledger -----------------------------------------------------------------------------------------------------

LEDGER_BACKENDS = ("sqlite", "sqlite-delete", "postgres")  # WAL (or the folder's choice), rollback journal, a server


def pytest_generate_tests(metafunc):
    """A test (or module) marked ``ledger_backends("sqlite", "postgres")`` runs once per backend of its ledgers."""
    marker = metafunc.definition.get_closest_marker("ledger_backends")
    if marker is not None and "ledger_backend" in metafunc.fixturenames:
        unknown = set(marker.args) - set(LEDGER_BACKENDS)
        assert not unknown, f"unknown ledger backends {unknown}"
        metafunc.parametrize("ledger_backend", marker.args, indirect=True)


@pytest.fixture
def ledger_backend(request) -> str:
    """Where the test's ledgers live: "sqlite" unless the test is marked ``ledger_backends(...)``."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server per test process (see pg_support.py), stopped at the end of the session;
    the tests that need it are skipped, with one note, where none can be started."""
    from pg_support import SKIP_NOTE, start_postgres

    try:
        server = start_postgres()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(SKIP_NOTE.format(why=exc))
    yield server
    server.stop()


@pytest.fixture
def ledger_factory(ledger_backend, tmp_path, request):
    """A factory of ledgers on the test's backend: ``ledger_factory(name="ledger", home=None)``. The same name gives
    the same ledger (another ``Ledger`` object on it), another name a separate one; ``home`` (default tmp_path) is
    where its videos go, and for SQLite its folder (``home / f"{name}.sqlite3"``). ``path=`` opens a given SQLite
    file whatever the backend."""
    from playground.jobs import Ledger

    journal = "delete" if ledger_backend == "sqlite-delete" else None
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def make(name: str = "ledger", home: Path | None = None, path: Path | None = None) -> Ledger:
            home = Path(home) if home else tmp_path
            if path is not None:
                return Ledger(path, journal=journal)
            if ledger_backend != "postgres":
                return Ledger(home / f"{name}.sqlite3", journal=journal)
            if name not in urls:
                urls[name] = stack.enter_context(request.getfixturevalue("postgres_server").database())
            return Ledger(url=urls[name], home=home)

        yield make


@pytest.fixture
def ledger(ledger_factory):
    """The test's ledger (SQLite in tmp_path, or a fresh PostgreSQL database for tests marked
    ``ledger_backends``); its videos go to tmp_path/outputs."""
    return ledger_factory()


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory):
    """A fresh virtual environment with the package installed from a wheel built from this checkout: built once per
    test run, shared by the pytest-xdist workers."""
    from install_support import shared_installed_venv

    return shared_installed_venv(tmp_path_factory)


# --- running in parallel (pytest-xdist, see tests/run.sh) -----------------------------------------------------------

# Tests that drive chromium share one worker (one browser at a time keeps pages responsive on a busy machine), and
# the renderer's tests share their module's clips.
GROUPS = {"test_ui_browser.py": "chromium", "test_newcomer.py": "chromium", "test_ui_browser_drafts.py": "chromium",
          "test_ui_browser_journeys.py": "chromium", "test_render.py": "render"}
# The longest tests start first, so that no worker is left with one of them at the end (longest first scheduling).
# Those that need the wheel venv come after a few that do not, while the controller builds it.
LONGEST_FIRST = (
    "test_attack_surface.py",
    "test_findings.py",
    "test_downloads.py::test_an_html_output",
    "test_caps_processes.py",
    "test_sweep.py::test_grid_sweep",
    "test_sweep.py::test_rank_clips",
    "test_readme.py::test_the_sweep_example",
    "test_readme.py::test_the_set_up_commands",
    "test_readme.py::test_the_papermill_command",
    "test_readme.py::test_the_benchmark_commands",
    "test_readme.py",
    "test_notebooks.py::test_the_",
    "test_install.py",
    "test_one_payment.py",
    "test_sweep.py",
)
VENV_USERS = ("test_readme.py", "test_notebooks.py", "test_install.py")


def _parallel(config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and config.pluginmanager.hasplugin("xdist")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    if not _parallel(config) and "PYTEST_XDIST_WORKER" not in os.environ:
        return
    for item in items:
        group = GROUPS.get(item.path.name)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(item) -> int:
        where = f"{item.path.name}::{item.name}"
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if where.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)


def pytest_sessionstart(session):
    """With workers, the controller starts building the shared wheel venv at once, in the background, while the
    workers start and run the tests that do not need it."""
    config = session.config
    if not _parallel(config) or "PYTEST_XDIST_WORKER" in os.environ:
        return
    args = [str(a) for a in config.args]
    if args and not any(Path(a).is_dir() or Path(a.split("::")[0]).name in VENV_USERS for a in args):
        return
    import threading

    from install_support import shared_installed_venv

    threading.Thread(target=shared_installed_venv, args=(config._tmp_path_factory,), daemon=True,
                     name="build-wheel-venv").start()


# --- where the CPU goes ---------------------------------------------------------------------------------------------

CPU_REPORT = os.environ.get("PLAYGROUND_TEST_CPU_REPORT")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With PLAYGROUND_TEST_CPU_REPORT=path, each test's CPU seconds (this process's threads and the subprocesses it
    waited for) and wall seconds are appended to ``path``, one tab-separated line each: ``sort -rn path | head``."""
    if not CPU_REPORT:
        yield
        return
    import resource
    import time

    def cpu() -> float:
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                     resource.getrusage(resource.RUSAGE_CHILDREN)))

    start, started = cpu(), time.monotonic()
    yield
    with open(CPU_REPORT, "a") as report:
        report.write(f"{cpu() - start:.2f}\t{time.monotonic() - started:.1f}\t{item.nodeid}\n")
