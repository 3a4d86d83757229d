"""Attacking the app as it is really served (``python app.py``), for tests/test_attack_surface.py and
tests/test_findings.py: the launcher of a public host that spends a host key against the test's local API, the raw
queue protocol the page itself uses, a trap listener on loopback, the seeded payload generator and what counts as a
raw error text.

Nothing here knows the page's events: they are read from the app's own ``/config``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from support import free_port

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SUBMIT_PREFIX = "/api/v3/bytedance/"

# Texts that only an unhandled exception puts in a reply: a visitor should read one sentence naming the field instead.
RAW_ERROR_MARKERS = ("Traceback", "validation error for", "NoneType", "object is not", "argument must be", "Errno",
                     "pydantic", "object has no attribute", "unsupported operand", "not subscriptable",
                     "invalid literal for", "takes from", "positional argument", "unhashable type")
# A Python exception class name followed by ":" ("KeyError: 'x'", "ValueError:"): how repr/str of a raw error reads.
RAW_EXCEPTION_CLASS = re.compile(r"\b(?:[A-Z][A-Za-z]*(?:Error|Exception)|KeyboardInterrupt|StopIteration)\s*:")


def raw_error_texts(text: str | None) -> list[str]:
    """The raw-exception markers found in ``text`` (an error a client received); [] when it reads as a sentence."""
    if not text:
        return []
    found = [marker for marker in RAW_ERROR_MARKERS if marker in text]
    found += RAW_EXCEPTION_CLASS.findall(text)
    return found


def readable_error(text: str | None, fields: tuple[str, ...] = ()) -> bool:
    """Whether an error a visitor got reads as meant for them: no raw-exception text, and it names one of ``fields``
    (or its first word: "job" for ``job_id``) or is a sentence (a capital letter, a few words, a full stop)."""
    text = (text or "").strip()
    if not text or raw_error_texts(text):
        return False
    names = {n for name in fields for n in (name, name.split("_")[0])}
    if any(re.search(rf"\b{re.escape(name)}\b", text) for name in names):
        return True
    return bool(re.match(r"^[A-Z][^\n]*[.!?)]$", text)) and len(text.split()) >= 4


# --- the served app ---------------------------------------------------------------------------------------------


@dataclass
class HostedApp:
    """``python app.py`` running as a public host in a subprocess: its URL, pid, folders and the secrets it holds
    that must never come back (the host key, a canary environment variable, a canary file's content)."""

    url: str
    process: subprocess.Popen
    home: Path
    gradio_tmp: Path
    key: str
    canary_env: str
    canary_file: Path
    canary_content: str
    log_path: Path
    env: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite3"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that no reply and no served or cached file may contain."""
        return (self.key, self.canary_env, self.canary_content)

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def config(self, timeout: float = 30) -> dict:
        reply = requests.get(self.url + "/config", timeout=timeout)
        reply.raise_for_status()
        return reply.json()

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def sent_rows(self) -> list[dict]:
        """Ledger rows of requests that were sent (``sent_at`` set), whatever the backend, the free preview included."""
        if not self.ledger_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.ledger_path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM jobs WHERE sent_at IS NOT NULL ORDER BY id")]


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field_name} not in /proc/{pid}/status")


@contextlib.contextmanager
def hosted_app(tmp: Path, api_url: str, *, key: str | None = None, public_url: bool = False,
               startup_timeout: float = 240, **env_extra: str) -> Iterator[HostedApp]:
    """Start ``python app.py`` (cwd: a folder of its own under ``tmp``) as a public host whose host key (``key``, else
    a random one) is spent against ``api_url`` (the test's local API), with a canary variable and a canary file
    outside every upload folder; yield once ``/config`` answers; kill its process group afterwards, even on a
    timeout.

    ``public_url`` sets ``PLAYGROUND_PUBLIC_URL`` to the app's own address (runs ask for webhooks there);
    ``env_extra`` adds or overrides variables (caps such as ``PLAYGROUND_MAX_COST_PER_DAY="0.2"``).
    """
    tmp = Path(tmp)
    home, gradio_tmp, cwd, secret_dir = (tmp / "home", tmp / "gradio", tmp / "cwd", tmp / "secret")
    for folder in (home, gradio_tmp, cwd, secret_dir):
        folder.mkdir(parents=True, exist_ok=True)
    canary_content = "canary-file-" + secrets.token_hex(16)
    canary_file = secret_dir / "canary.txt"
    canary_file.write_text(canary_content + "\n")
    key = key or "host-key-" + secrets.token_hex(12)
    canary_env = "canary-env-" + secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "WAVESPEED_", "GRADIO_"))}
    env.pop("SPACE_ID", None)
    env.pop("SPACE_HOST", None)
    env.update(PLAYGROUND_PUBLIC="1", WAVESPEED_API_KEY=key, WAVESPEED_BASE_URL=api_url, PLAYGROUND_HOME=str(home),
               GRADIO_TEMP_DIR=str(gradio_tmp), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", PLAYGROUND_ATTACK_CANARY=canary_env,
               # The free preview inside the app: the same tiny clip for every task (no CPU spent on renders).
               PLAYGROUND_LOCAL_RENDER="protocol", PYTHONUNBUFFERED="1")
    if public_url:
        env["PLAYGROUND_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env.update(env_extra)
    log_path = tmp / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(APP)], cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    app = HostedApp(f"http://127.0.0.1:{port}", process, home, gradio_tmp, key, canary_env, canary_file,
                    canary_content, log_path, env)
    try:
        _wait_for_config(app, startup_timeout)
        yield app
    finally:
        _stop(process)


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, even by os._exit (pytest-timeout's thread method)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _wait_for_config(app: HostedApp, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not app.alive():
            raise AssertionError(f"python app.py exited ({app.process.returncode}):\n{app.log_tail()}")
        try:
            if requests.get(app.url + "/config", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"python app.py did not answer /config within {timeout:.0f} s:\n{app.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """End the app's process group: SIGTERM, then SIGKILL after a few seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class MemoryWatch:
    """Samples the app's RSS every 20 ms while open; :meth:`growth` is how far it rose during a call (the kernel's
    high-water mark catches spikes between samples)."""

    def __init__(self, app: HostedApp):
        self.app = app
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-watch")

    def _run(self) -> None:
        while not self._stop.is_set() and self.app.alive():
            with contextlib.suppress(OSError, AssertionError):
                self.samples.append((time.monotonic(), self.app.rss_mb()))
            self._stop.wait(0.02)

    def start(self) -> tuple[float, float, float]:
        """What :meth:`growth` needs from the start of a call."""
        return time.monotonic(), self.app.rss_mb(), self.app.peak_mb()

    def growth(self, started: tuple[float, float, float]) -> float:
        """MB the app's memory rose above its RSS at ``started`` (from :meth:`start`) until now."""
        t0, rss0, hwm0 = started
        t1, hwm1 = time.monotonic(), self.app.peak_mb()
        sampled = max((mb for t, mb in list(self.samples) if t0 <= t <= t1), default=rss0)
        return max(0.0, max(sampled, hwm1 if hwm1 > hwm0 else 0.0, self.app.rss_mb()) - rss0)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- the queue protocol the page uses -----------------------------------------------------------------------------


@dataclass
class Reply:
    """The end of one event: ``success``, its output data, the error a visitor reads (``title`` and ``error``), the
    raw stream, and how long it took."""

    success: bool
    data: Any
    error: str | None
    raw: str
    seconds: float
    http_status: int = 200
    title: str = ""

    @property
    def error_text(self) -> str:
        """The error's message (without its title): what the toast says."""
        return self.error or ""


def new_session() -> str:
    return uuid.uuid4().hex[:11]


def call_event(url: str, fn_index: int, data: list, *, session_hash: str | None = None,
               trigger_id: int | None = None, event_data: Any = None, queued: bool = True,
               timeout: float = 120, headers: dict[str, str] | None = None) -> Reply:
    """Run event ``fn_index`` of the app at ``url`` with ``data`` as the page does: POST /gradio_api/queue/join, then
    read GET /gradio_api/queue/data as server-sent events until ``process_completed`` (``queued=False``: the page's
    direct POST /gradio_api/run/predict)."""
    session_hash = session_hash or new_session()
    body = {"data": data, "event_data": event_data, "fn_index": fn_index, "trigger_id": trigger_id,
            "session_hash": session_hash}
    t0 = time.monotonic()
    if not queued:
        reply = requests.post(f"{url}/gradio_api/run/predict", data=_dumps(body), headers=_json(headers),
                              timeout=timeout)
        text = reply.text
        try:
            out = reply.json()
        except ValueError:
            out = {"error": text}
        ok = reply.ok and "error" not in out
        return Reply(ok, out.get("data") if ok else None, None if ok else _error_of(out), text,
                     time.monotonic() - t0, reply.status_code)
    joined = requests.post(f"{url}/gradio_api/queue/join", data=_dumps(body), headers=_json(headers), timeout=timeout)
    if not joined.ok:
        return Reply(False, None, _error_of(_json_or_text(joined)), joined.text, time.monotonic() - t0,
                     joined.status_code)
    event_id = joined.json().get("event_id")
    return _read_stream(url, session_hash, event_id, t0, timeout, headers)


def _read_stream(url: str, session_hash: str, event_id: str, t0: float, timeout: float,
                 headers: dict[str, str] | None) -> Reply:
    raw = []
    with requests.get(f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}, stream=True,
                      timeout=timeout, headers=headers or {}) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"event {event_id} did not complete within {timeout} s")
            if not line or not line.startswith("data:"):
                continue
            raw.append(line)
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") in (event_id, None):
                output = message.get("output") or {}
                ok = bool(message.get("success"))
                return Reply(ok, output.get("data") if ok else None, None if ok else _error_of(output),
                             "\n".join(raw), time.monotonic() - t0, 200, str(output.get("title") or ""))
            if message.get("msg") in ("unexpected_error", "close_stream") and message.get("event_id") in (
                    event_id, None):
                return Reply(False, None, _error_of(message), "\n".join(raw), time.monotonic() - t0)
    return Reply(False, None, "the stream ended without process_completed", "\n".join(raw),
                 time.monotonic() - t0)


def _error_of(payload: Any) -> str:
    """The message a visitor would read for a failed event (or the HTTP detail); "" when Gradio hid it."""
    if isinstance(payload, dict):
        parts = [payload.get(k) for k in ("error", "message", "detail")]
        return " ".join(p if isinstance(p, str) else json.dumps(p) for p in parts if p not in (None, ""))
    return str(payload)


def _json_or_text(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text


def _dumps(body: Any) -> bytes:
    # Python's default JSON would write float("inf") as Infinity, which no browser sends.
    return json.dumps(body, allow_nan=False).encode()


def _json(headers: dict[str, str] | None) -> dict[str, str]:
    return {"Content-Type": "application/json", **(headers or {})}


def endpoint_parameters(app: HostedApp, api_name: str) -> list[dict]:
    """A public endpoint's parameters, in order, as ``/gradio_api/info`` describes them."""
    info = requests.get(f"{app.url}/gradio_api/info", timeout=30).json()
    return info["named_endpoints"]["/" + api_name.lstrip("/")]["parameters"]


def call_endpoint(app: HostedApp, api_name: str, *, session_hash: str | None = None,
                  headers: dict[str, str] | None = None, timeout: float = 120, **arguments: Any) -> Reply:
    """Call a public endpoint over the page's queue protocol with named ``arguments`` (the others at their
    defaults)."""
    from attack_payloads import event_named

    parameters = endpoint_parameters(app, api_name)
    unknown = set(arguments) - {p["parameter_name"] for p in parameters}
    assert not unknown, f"/{api_name} has no parameters {sorted(unknown)}"
    data = [arguments.get(p["parameter_name"], p.get("parameter_default")) for p in parameters]
    event = event_named(app.config(), api_name.lstrip("/"))
    return call_event(app.url, event.fn_index, data, session_hash=session_hash, trigger_id=event.trigger_id,
                      headers=headers, timeout=timeout)


def upload(url: str, path: Path, headers: dict[str, str] | None = None) -> requests.Response:
    """POST a file to the app's upload route, as the page's file picker does."""
    with open(path, "rb") as handle:
        return requests.post(f"{url}/gradio_api/upload", files={"files": (Path(path).name, handle)},
                             headers=headers or {}, timeout=120)


def uploaded(url: str, path: Path) -> dict:
    """``path`` uploaded to the app, as the FileData the page then sends."""
    reply = upload(url, path)
    reply.raise_for_status()
    server_path = reply.json()[0]
    return file_data(server_path, Path(path).name)


def file_data(path: str | Path, name: str | None = None) -> dict:
    """A Gradio FileData naming ``path`` on the server (what a hostile visitor posts by hand)."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}, "orig_name": name or Path(path).name}


def reply_paths(reply_text: str) -> set[str]:
    """Server paths and file URLs a reply names (to fetch them back as a stranger)."""
    found = {p for p in re.findall(r'"path":\s*"([^"]+)"', reply_text) if p.startswith("/")}
    found |= {m for m in re.findall(r'"url":\s*"([^"]+)"', reply_text) if "/gradio_api/file=" in m}
    return found


def fetch_served(app: HostedApp, path_or_url: str) -> requests.Response:
    """GET a file from the app as a stranger would: ``/gradio_api/file=<path>``, or a URL of the app a reply named
    (only the app's: a reply may echo the trap's URLs, which the test itself must not call)."""
    if path_or_url.startswith(("http://", "https://")):
        assert path_or_url.startswith(app.url + "/"), f"not a URL of the app: {path_or_url}"
        return requests.get(path_or_url, timeout=30)
    return requests.get(f"{app.url}/gradio_api/file={path_or_url}", timeout=30)


def files_holding(folders: list[Path], needles: list[bytes]) -> list[Path]:
    """Files under ``folders`` whose content holds any of ``needles`` (copies of a server file, or a secret)."""
    hits = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(n and n in data for n in needles):
                hits.append(path)
    return hits
