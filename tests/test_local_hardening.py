"""The local API stays safe when someone else can submit to it: no fetches into its network, bounded bodies, clean
disconnects, uploads that belong to one server run and expire. Everything is seen over real HTTP."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import logging
import select
import socket
import threading
import time
from functools import partial

import pytest
import requests
from PIL import Image

from playground.contract import SPICY
from playground.local import LocalConfig, start_server
from tests import support
from tests.support import KEY, local_client, sdk_client

SUBMIT = f"/api/v3/{SPICY}"
FETCH_FAILED_START = "image: the image could not be fetched."


call = partial(support.call, key=KEY)
wait_until_done = partial(support.wait_until_done, key=KEY)


def run_task(server, image_url: str) -> dict:
    reply = call(server, "POST", SUBMIT, json={"image": image_url, "resolution": "480p", "duration": 4,
                                               "generate_audio": False})
    assert reply.status_code == 200, reply.text
    return wait_until_done(server, reply.json()["data"]["id"])


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@contextlib.contextmanager
def site(status: int = 200, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()):
    """A tiny loopback web server giving one fixed reply to every GET; yields (base URL, paths it was asked for)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextlib.contextmanager
def silent_port():
    """A loopback port that accepts connections (the kernel's backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def raw_exchange(server, head: bytes, body_chunks=(), *, read_timeout: float = 15.0) -> tuple[int, dict, int]:
    """Send ``head`` and then chunks until the server answers; (status, JSON body, body bytes sent before it did)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout)
    try:
        sock.sendall(head)
        sent = 0
        for chunk in body_chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the reply is here: stop sending
            sock.sendall(chunk)
            sent += len(chunk)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        header, _, rest = reply.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in header.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        while len(rest) < length:
            rest += sock.recv(65536)
        return int(header.split()[1]), json.loads(rest[:length]), sent
    finally:
        sock.close()


# --- image URLs: no server-side request forgery ------------------------------------------------------------------

def test_image_urls_aimed_at_the_servers_own_network_all_fail_alike_and_reach_nothing():
    png = png_bytes()
    with site(body=png, headers=(("Content-Type", "image/png"),)) as (open_url, hits), \
            start_server(LocalConfig(allow_fetch=True)) as server:  # public fetching on, private off (the default)
        port = open_url.rsplit(":", 1)[1]
        probes = [
            f"http://127.0.0.1:{closed_port()}/a.png",  # a closed port
            f"{open_url}/a.png",  # an open port serving a real image
            f"http://localhost:{port}/a.png",  # a name that resolves to loopback
            f"http://[::1]:{port}/a.png",
            f"http://2130706433:{port}/a.png",  # 127.0.0.1 written as one number
            f"http://127.1:{port}/a.png",
            f"http://0.0.0.0:{port}/a.png",
            "http://169.254.169.254/latest/meta-data/",  # cloud metadata
            "http://10.0.0.1/a.png",
            "http://[fd00::1]/a.png",
            "file:///etc/passwd",
            f"ftp://127.0.0.1:{port}/a.png",
            f"http://127.0.0.1:{port}:{port}/a.png",  # a malformed port
        ]
        ids = [call(server, "POST", SUBMIT, json={"image": url, "resolution": "480p"}).json()["data"]["id"]
               for url in probes]
        ends = [wait_until_done(server, task_id) for task_id in ids]
        balance = server.balance(KEY)

    assert hits == []  # nothing was fetched from the open port, under any spelling of its address
    assert {(end["status"], end["code"]) for end in ends} == {("failed", 1402)}
    messages = {end["error"] for end in ends}
    assert len(messages) == 1, messages  # a prober learns nothing from the text
    message = messages.pop()
    assert message.startswith(FETCH_FAILED_START)
    assert port not in message and "169.254" not in message and "passwd" not in message
    assert balance == 10.0  # failed tasks are refunded


def test_with_private_fetching_allowed_redirects_are_not_followed_and_every_failure_reads_the_same():
    png = png_bytes()
    with site(body=png, headers=(("Content-Type", "image/png"),)) as (png_url, png_hits), \
            site(body=b"<html>admin console</html>", headers=(("Content-Type", "text/html"),)) as (html_url, _), \
            site(status=404, body=b"no") as (missing_url, _), \
            site(status=302, headers=(("Location", f"{png_url}/moved.png"),)) as (redirect_url, redirect_hits), \
            site(status=301, headers=(("Location", "file:///etc/passwd"),)) as (file_redirect_url, _), \
            silent_port() as silent, \
            start_server(LocalConfig(allow_private_fetch=True, fetch_timeout=1.0)) as server:
        # The control: with private fetching on, the image server itself is reachable and its image renders.
        assert run_task(server, f"{png_url}/direct.png")["status"] == "completed"

        started = time.monotonic()
        probes = {
            "redirect to a reachable image": f"{redirect_url}/a.png",
            "redirect to a file": f"{file_redirect_url}/a.png",
            "closed port": f"http://127.0.0.1:{closed_port()}/a.png",
            "open port, not an image": f"{html_url}/a.png",
            "not found": f"{missing_url}/a.png",
            "no answer": f"http://127.0.0.1:{silent}/a.png",
        }
        ends = {name: run_task(server, url) for name, url in probes.items()}
        elapsed = time.monotonic() - started

    assert redirect_hits == ["/a.png"]
    assert png_hits == ["/direct.png"]  # the redirect's target was never asked
    assert {name: (end["status"], end["code"]) for name, end in ends.items()} == \
        {name: ("failed", 1402) for name in probes}
    assert len({end["error"] for end in ends.values()}) == 1, {n: e["error"] for n, e in ends.items()}
    assert ends["closed port"]["error"].startswith(FETCH_FAILED_START)
    assert elapsed < 30  # the silent port is given up on after the 1 s fetch timeout, not hung on


# --- request bodies ----------------------------------------------------------------------------------------------

def _post_head(path: str, *, length: int | None = None, content_type: str = "application/json") -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: {content_type}\r\n{framing}\r\n\r\n").encode()


def _chunks(total: int, size: int = 1 << 20):
    for _ in range(total // size):
        yield b"%x\r\n" % size + b" " * size + b"\r\n"


def test_a_100_mb_submit_is_refused_with_413_from_its_declared_length_before_any_body_is_sent(local_api):
    started = time.monotonic()
    status, body, _ = raw_exchange(local_api, _post_head(SUBMIT, length=100 * 1024 * 1024))
    assert status == 413
    assert body["code"] == 413 and body["data"] is None and "Payload Too Large" in body["message"]
    assert time.monotonic() - started < 10
    assert local_api.tasks() == []


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(local_api):
    # A submit may carry inline images: its limit is the contract's 64 MB per request; other JSON gets 1 MB.
    status, body, sent = raw_exchange(local_api, _post_head(SUBMIT), _chunks(100 * 1024 * 1024))
    assert (status, body["code"], body["data"]) == (413, 413, None)
    assert sent < 90 * 1024 * 1024  # answered long before the 100 MB were sent

    status, body, sent = raw_exchange(local_api, _post_head("/api/v3/model/price"), _chunks(20 * 1024 * 1024))
    assert (status, body["code"]) == (413, 413)
    assert "1048576 bytes" in body["message"]
    assert sent < 15 * 1024 * 1024
    assert local_api.tasks() == []


def test_a_legacy_upload_over_the_image_limit_gets_413(local_api):
    head = _post_head("/api/v3/media/upload/binary", length=100 * 1024 * 1024,
                      content_type="multipart/form-data; boundary=XX")
    status, body, _ = raw_exchange(local_api, head)
    assert status == 413 and body["code"] == 413 and str(30 * 1024 * 1024) in body["message"]


@pytest.mark.parametrize(("raw", "words"), [
    pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="100k-deep"),
    pytest.param('{"image": ' * 50 + '"x"' + "}" * 50, "nested too deeply", id="50-deep-object"),
    pytest.param('{"image": "https://example.com/a.png", ', "is not valid JSON", id="cut-short"),
    pytest.param('{"image": "https://example.com/a.png", "seed": NaN}', "is not valid JSON", id="NaN"),
    pytest.param(b'{"image": "\xff"}', "is not valid JSON", id="not-utf8"),
    pytest.param('["image"]', "expected a JSON object", id="an-array"),
])
def test_malformed_or_too_deep_json_gets_400_with_an_envelope_and_costs_nothing(shared_local_api, raw, words):
    before = shared_local_api.balance(KEY)
    tasks = len(shared_local_api.tasks())
    for path in (SUBMIT, "/api/v3/model/price", "/api/v3/predictions"):
        reply = call(shared_local_api, "POST", path, data=raw, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, (path, reply.text[:200])
        body = reply.json()
        assert body["code"] == 400 and body["data"] is None
        assert body["message"].startswith("body: ") and words in body["message"]
    assert shared_local_api.balance(KEY) == before and len(shared_local_api.tasks()) == tasks


# --- disconnects -------------------------------------------------------------------------------------------------

def _hang_up(server, data: bytes, *, read: int = 0) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(data)
    if read:
        sock.recv(read)
    time.sleep(0.2)
    sock.close()


def test_clients_that_hang_up_mid_request_leave_no_error_or_traceback_in_the_log(local_api, png_file, caplog):
    client = sdk_client(local_api)
    done = client.run(SPICY, {"image": client.upload(str(png_file)), "resolution": "480p", "duration": 4},
                      poll_interval=0.05)
    output_path = "/media/" + done["outputs"][0].split("/media/", 1)[1]
    ticket = call(local_api, "POST", "/api/v3/media/uploads", json={"filename": "a.png", "size": 5000}).json()["data"]
    put_path = "/media/" + ticket["upload"]["url"].split("/media/", 1)[1]

    caplog.set_level(logging.DEBUG)
    _hang_up(local_api, _post_head(SUBMIT, length=5000) + b'{"image": "https://exa')
    piece = b'{"image": "https:'
    _hang_up(local_api, _post_head(SUBMIT) + b"%x\r\n" % (len(piece) + 10) + piece)  # a chunk cut short
    _hang_up(local_api, f"PUT {put_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n".encode() + b"\x89PNG")
    _hang_up(local_api, _post_head("/api/v3/media/upload/binary", length=90000,
                                   content_type="multipart/form-data; boundary=XX")
             + b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG')
    _hang_up(local_api, f"GET {output_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), read=100)
    _hang_up(local_api, b"POST /api/v3/bal")
    time.sleep(0.5)  # let the server notice each closed socket

    assert call(local_api, "GET", "/api/v3/balance").status_code == 200  # still serving
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == [], [(r.name, r.getMessage()) for r in problems]
    assert all(status != 500 for _, _, status in local_api.requests_log)


# --- uploads belong to one server run and expire -----------------------------------------------------------------

def test_an_upload_url_from_a_stopped_server_is_refused_by_the_next_one_on_the_same_port_and_data_dir(tmp_path,
                                                                                                    png_file):
    data_dir = tmp_path / "data"
    with start_server(LocalConfig(data_dir=data_dir)) as first:
        port = first.port
        old_url = sdk_client(first).upload(str(png_file))
        assert run_task(first, old_url)["status"] == "completed"

    with start_server(LocalConfig(data_dir=data_dir), port=port) as second:
        assert old_url.startswith(second.url)  # the same address: only the server run differs
        served = requests.get(old_url, timeout=30)
        end = run_task(second, old_url)
        balance = second.balance(KEY)
        fresh = sdk_client(second).upload(str(png_file))
        assert run_task(second, fresh)["status"] == "completed"

    assert served.status_code == 404 and served.json()["code"] == 404
    assert (end["status"], end["code"]) == ("failed", 1402)
    assert end["error"].startswith("image: this server holds no such upload")
    assert "upload the file again" in end["error"]
    assert balance == 10.0


def test_an_expired_upload_is_no_longer_served_or_usable(png_file):
    with start_server(LocalConfig(upload_lifetime_seconds=1.0)) as server:
        ticket_url = sdk_client(server).upload(str(png_file))
        legacy = call(server, "POST", "/api/v3/media/upload/binary",
                      files={"file": ("frame.png", png_file.read_bytes(), "image/png")}).json()["data"]["download_url"]
        time.sleep(1.5)
        served = [requests.get(url, timeout=30).status_code for url in (ticket_url, legacy)]
        ends = [run_task(server, url) for url in (ticket_url, legacy)]

    assert served == [404, 404]
    assert [(end["status"], end["code"]) for end in ends] == [("failed", 1402)] * 2
    assert all("expired (uploads are kept 1 seconds)" in end["error"] for end in ends)


def test_after_a_restart_the_clients_cached_upload_costs_nothing_and_the_next_run_uploads_again(tmp_path, ledger,
                                                                                                  png_file):
    """The client caches upload URLs per content in its ledger; a new server run must not leave it stuck."""
    from playground.errors import TaskFailed
    from playground.pipeline import generate
    from playground.pricing import estimate_cost

    params = dict(resolution="480p", duration=4, generate_audio=False, out_dir=tmp_path / "out", ledger=ledger)
    with start_server(LocalConfig()) as first:
        port = first.port
        generate(png_file, client=local_client(first), **params)

    with start_server(LocalConfig(), port=port) as second:
        client = local_client(second)
        completed = 0
        try:
            generate(png_file, client=client, **params)
            completed += 1
        except TaskFailed as exc:  # the stale cached URL: a refunded task failure with code 1402
            assert exc.code == 1402
        assert generate(png_file, client=client, **params).video_path.is_file()
        completed += 1
        price = estimate_cost(SPICY, {"resolution": "480p", "duration": 4, "generate_audio": False})
        assert second.balance(KEY) == pytest.approx(10.0 - price * completed)  # a failed try is refunded
        assert second.count("POST", "/api/v3/media/uploads") == 1


def test_private_fetching_is_off_unless_the_command_line_or_the_environment_turns_it_on(monkeypatch):
    from playground.local.__main__ import _parser

    monkeypatch.delenv("PLAYGROUND_LOCAL_ALLOW_PRIVATE_FETCH", raising=False)
    assert _parser().parse_args([]).allow_private_fetch is False
    assert LocalConfig().allow_private_fetch is False
    assert _parser().parse_args(["--allow-private-fetch"]).allow_private_fetch is True
    monkeypatch.setenv("PLAYGROUND_LOCAL_ALLOW_PRIVATE_FETCH", "1")
    assert _parser().parse_args([]).allow_private_fetch is True
