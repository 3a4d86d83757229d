"""Helpers shared by the tests (fixtures live in conftest.py): the one picture maker, the one way to start a local
API, a fast poll schedule, plain HTTP helpers for talking to the local API, ports that are safe when the tests run in
parallel (pytest-xdist), and the one way to start a subprocess (ended at the test's teardown, timeouts included)."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import requests
from PIL import Image, ImageDraw

# --- pictures -------------------------------------------------------------------------------------------------------


def picture(size=(800, 450), seed: int = 0) -> Image.Image:
    """A procedural test picture: a gradient with shapes, so motion and crops are visible; ``seed`` changes the
    colours (two seeds give two different pictures of the same size)."""
    w, h = size
    xs = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    ys = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    rgb = np.stack([xs, ys, np.full_like(xs, (seed * 40) % 256)], axis=-1).astype(np.uint8)
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    draw.ellipse((w // 4, h // 4, w // 2, 3 * h // 4), fill=(250, 250, 250))
    draw.rectangle((w // 2 + 20, h // 3, w - 40, h - 40), fill=(20, 20, 200))
    return img


def make_image(path: Path, size=(800, 450), seed: int = 0) -> Path:
    """Write :func:`picture` to ``path`` (the format follows the suffix) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(size, seed).save(path)
    return path


def image_bytes(size=(800, 450), seed: int = 0, fmt: str = "PNG") -> bytes:
    """:func:`picture` encoded in memory."""
    buf = io.BytesIO()
    picture(size, seed).save(buf, format=fmt)
    return buf.getvalue()


# --- the local API --------------------------------------------------------------------------------------------------


def local_config(**fields_):
    """A :class:`LocalConfig` from keyword fields. ``render`` (the protocol-only mode) is passed only when this
    checkout's LocalConfig knows it, so tests can ask for it before and after the mode exists."""
    from playground.local import LocalConfig

    if "render" in fields_ and "render" not in LocalConfig.__dataclass_fields__:
        fields_.pop("render")
    return LocalConfig(**fields_)


@contextlib.contextmanager
def start_local_api(port: int = 0, **fields_) -> Iterator:
    """The one way tests start a local API: ``with start_local_api(timing="realistic", speed=0.1) as server``.
    Any :class:`LocalConfig` field may be given; the server is stopped afterwards."""
    from playground.local import start_server

    server = start_server(local_config(**fields_), port=port)
    try:
        yield server
    finally:
        server.stop()


def fast_poll():
    """A poll schedule for tests: the contract's typical times would hold the first poll of a job back for seconds
    while the local API finishes in about one; this asks every 0.05 to 0.2 s."""
    from playground.client import PollSchedule

    return PollSchedule(floor=0.05, max_gap=0.2)


# --- keys and clients -----------------------------------------------------------------------------------------------

# The tests' API key: one for every test that needs one, shaped like a real key and unusual enough that a test can
# search any output for it to prove it did not leak.
KEY = "sk-test-0123456789abcdef0123456789abcdef"

# gradio_client's own HTTP timeout (5 s) is shorter than a busy machine can take to answer /config: waits are for
# events, generous, so that load only slows a test down.
SLOW_OK = {"timeout": 120}


def local_client(server, key: str = KEY, **kwargs):
    """A playground :class:`Client` for ``server`` with the fast poll schedule (unless ``poll=`` is given)."""
    from playground.client import Client

    kwargs.setdefault("poll", fast_poll())
    return Client(api_key=key, base_url=server.url, **kwargs)


def sdk_client(server, key: str = KEY, **kwargs):
    """The official ``wavespeed`` SDK's client for ``server``."""
    from wavespeed import Client

    return Client(api_key=key, base_url=server.url, **kwargs)


# --- plain HTTP against the local API -------------------------------------------------------------------------------


def call(server, method: str, path: str, *, key: str | None = KEY, headers: dict[str, str] | None = None,
         **kw) -> requests.Response:
    """One HTTP request to ``server`` with ``key`` as the bearer (none when ``key`` is None)."""
    auth = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.request(method, server.url + path, headers={**auth, **(headers or {})}, timeout=30, **kw)


def submit(server, inputs: dict, *, key: str = KEY, model: str | None = None) -> requests.Response:
    from playground.contract import SPICY

    return call(server, "POST", f"/api/v3/{model or SPICY}", key=key, json=inputs)


def result(server, task_id: str, *, key: str = KEY) -> requests.Response:
    return call(server, "GET", f"/api/v3/predictions/{task_id}/result", key=key)


def wait_until_done(server, task_id: str, *, key: str = KEY, timeout: float = 180) -> dict:
    """Poll a task's result every 0.05 s until it is no longer created/processing; its ``data``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = result(server, task_id, key=key).json()["data"]
        if data["status"] not in ("created", "processing"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not end within {timeout} s")


def download(url: str, path: Path) -> Path:
    """GET an output video into ``path``, checking it is served as one."""
    reply = requests.get(url, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "video/mp4"
    Path(path).write_bytes(reply.content)
    return Path(path)


# --- processes ------------------------------------------------------------------------------------------------------

# Every subprocess the tests start, in its own process group: conftest ends those a test left at its teardown (a
# timed-out test included) and atexit ends any left at the end, so no app.py or server outlives its test.
STARTED: list[subprocess.Popen] = []


def spawn(argv, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new process group, registered to be ended (with its children) at teardown."""
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    STARTED.append(proc)
    return proc


def end(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End ``proc`` and everything in its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # the group too: a shell's children or a server's workers
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their leader
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()
    with contextlib.suppress(ValueError):
        STARTED.remove(proc)


def end_started(keep: frozenset[int] = frozenset()) -> None:
    """End every process :func:`spawn` started that is still registered, except those whose ids are in ``keep``."""
    for proc in STARTED[::-1]:
        if id(proc) not in keep:
            end(proc, grace=5.0)


def run_process(argv, *, timeout: float, text: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True)``, but a timeout ends the whole process group (a shell's
    children too), not only the process itself."""
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        end(proc, grace=5.0)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


atexit.register(end_started)


# --- ports ----------------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def machine_lock(name: str, *, wait: bool = True) -> Iterator[bool]:
    """A lock shared by every process on this machine (pytest-xdist workers and other test runs included): an
    abstract unix socket, so it leaves no file behind and is released when its holder dies. Yields whether it is
    held (always True when ``wait``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        while True:
            try:
                sock.bind(f"\0seedance-tests-{name}")
                held = True
                break
            except OSError:
                if not wait:
                    held = False
                    break
                time.sleep(0.1)
        yield held
    finally:
        sock.close()


@contextlib.contextmanager
def preferred_port(port: int) -> Iterator[int]:
    """``port`` while it is free and no other test process (pytest-xdist workers included) holds it through this
    helper, else a free port. Hold the context for as long as the port is in use."""
    with machine_lock(f"port-{port}", wait=False) as held:
        yield port if held and port_is_free(port) else free_port()


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """A lock shared by every test process on this machine (pytest-xdist workers included), for work on a path they
    all share, such as a build in the checkout."""
    with machine_lock(name):
        yield


# --- fixtures' values -----------------------------------------------------------------------------------------------


class Unpackable:
    """Mixin for the small dataclasses fixtures return: fields by name, and still unpackable in order
    (``client, ledger, image, tmp = env``)."""

    def __iter__(self):
        return iter(tuple(getattr(self, f.name) for f in fields(self)))


@dataclass
class GenerateEnv(Unpackable):
    """A client for a local API, a ledger and a picture in a fresh folder: what ``generate`` needs."""

    client: object
    ledger: object
    image: Path
    tmp: Path


def worker_id() -> str:
    """pytest-xdist's worker name ("gw0", ...) or "master" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` px (a decompression bomb when that is huge)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


class HookServer:
    """A webhook receiver on a free loopback port that records every delivery: ``(headers, body, time.time())``.
    ``answers`` are the HTTP statuses of the next deliveries (then 200); ``url`` is where to send them."""

    def __init__(self, answers: list[int] | None = None):
        import http.server

        self.received: list[tuple[dict[str, str], bytes, float]] = []
        self.answers = list(answers or [])
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                self.send_response(owner.answers.pop(0) if owner.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes, float]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> HookServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
