#!/usr/bin/env bash
# Installs everything the tests need, then runs them all: unit, HTTP, gradio_client, browser and notebooks.
# Usage: bash tests/run.sh [extra pytest args]     (TEST_WORKERS=n: parallel workers, default one per core plus one; 0: none)
set -euo pipefail
cd "$(dirname "$0")/.."

# The package itself too (editable), so `import playground`, `seedance-playground` and the notebooks work anywhere.
python -m pip install --disable-pip-version-check -q -r requirements-dev.txt -e .

# Browser tests drive Debian's chromium (Playwright cannot download its own browser here).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" != none ] && command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing and cannot be installed here; browser tests will be skipped" >&2
  fi
fi

# The PostgreSQL ledger's tests start a throwaway server with Debian's binaries (initdb, pg_ctl; as root they run as
# the postgres user); without them those tests are skipped with a note.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" = 0 ]; then PG_SUDO=""; elif command -v sudo >/dev/null; then PG_SUDO="sudo"; else PG_SUDO="none"; fi
  if [ "$PG_SUDO" != none ] && command -v apt-get >/dev/null; then
    $PG_SUDO apt-get update -qq && $PG_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "note: PostgreSQL's server binaries are missing and cannot be installed here; its ledger tests will be skipped" >&2
  fi
fi

python -m ruff check .
# Bytecode is cached for the run even where PYTHONDONTWRITEBYTECODE is set: the checkout's modules and the tests'
# rewritten assertions are then compiled once, not again in every worker and every python the tests start.
unset PYTHONDONTWRITEBYTECODE
# In parallel (pytest-xdist), one worker per core plus one (at least 2): many tests wait on HTTP, browsers,
# subprocesses and renders rather than on a core (two workers kept 2 cores only ~63% busy). Each worker imports the
# whole suite (~17 CPU-s), so more than that costs CPU and buys little. Every test is safe beside the others (free ports, its own folders; the wheel venv is built once and
# shared). TEST_WORKERS=0 runs them one after another; extra arguments (e.g. -n 4) win over these.
workers="${TEST_WORKERS:-$(python -c 'import os; print(max(2, len(os.sched_getaffinity(0)) + 1))')}"
python -m pytest -n "$workers" --dist loadgroup "$@"
