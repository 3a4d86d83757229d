"""A throwaway PostgreSQL server for the tests: Debian's binaries (``initdb``, ``pg_ctl``), a data folder in a temp
dir, 127.0.0.1 on a free port, and a watchdog process that stops the server and removes the folder when the test
process ends, however it ends (a timeout or a kill included). Nothing is left in /tmp afterwards.

initdb refuses to run as root: as root, the server runs as the ``postgres`` user (``runuser``)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from support import free_port

SKIP_NOTE = ("PostgreSQL tests skipped: {why}. tests/run.sh installs Debian's postgresql package (initdb, pg_ctl) "
             "and the postgres extra (psycopg, psycopg-pool).")

# Runs in its own session: waits for its stdin to close (the test process ended or let go), then stops the server
# and removes its folder.
WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.read()
pg_ctl, data, root, *prefix = sys.argv[1:]
subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "fast", "-w", "-t", "30", "stop"],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(root, ignore_errors=True)
"""


def find_binaries() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/N/bin, else the PATH's."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _as_server_user() -> list[str]:
    """The command prefix that runs the server's programs as a user initdb accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and there is no postgres user to run the server as") from None
    return ["runuser", "-u", "postgres", "--"]


class PostgresServer:
    """One server for a test session; :meth:`database` makes a fresh database for one test."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="playground-pg-"))
        self.data = self.root / "data"
        self.prefix = _as_server_user()
        self.port = 0
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen | None = None
        if self.prefix:
            shutil.chown(self.root, "postgres", "postgres")
            # The server user must be able to pass through the run's own temp folder (made 0700) to reach its data.
            parent = self.root.parent
            parent.chmod(parent.stat().st_mode | 0o001)

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PostgresServer:
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(self.bindir / "pg_ctl"), str(self.data), str(self.root),
             *self.prefix], stdin=subprocess.PIPE, start_new_session=True)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        for attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                          "-o", options, "-w", "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self._admin("CREATE DATABASE ledger_template")
        from playground.jobs import Ledger
        from playground.jobs.postgres import close_pools

        Ledger(url=self.url("ledger_template"))  # the schema, copied into each test's database
        close_pools(self.url("ledger_template"))
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database with the ledger's schema, dropped afterwards; yields its URL."""
        from playground.jobs.postgres import close_pools

        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE ledger_template")
        try:
            yield self.url(name)
        finally:
            close_pools(self.url(name))
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and remove its folder (the watchdog does it once its stdin closes)."""
        if self._watchdog is not None:
            self._watchdog.stdin.close()
            self._watchdog.wait(timeout=90)
            self._watchdog = None
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """A running server, or RuntimeError saying why there cannot be one."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise RuntimeError("psycopg and psycopg-pool are not installed") from None
    bindir = find_binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    server = PostgresServer(bindir)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise
