"""Downloads count only once checked (issue 10, item 4): an allowed host at every hop, a size cap, a playable video.

Hostile outputs come from a tiny http.server on loopback (pointed at with ``Client.download`` directly) and from the
local API itself (its output file swapped while the client is about to fetch it). Every refusal is a typed error,
nothing is recorded as the video, nothing is reused, and no partial file is left in the folder.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playground.client import Client, PollSchedule, RetryPolicy
from playground.errors import OutputInvalid, ServerError, UnsafeURL
from playground.jobs import Ledger
from playground.media import probe
from playground.pipeline import generate, resume
from playground.videotags import read_tags
from tests.support import KEY, local_client, make_image, start_local_api

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.1)
PARAMS = {"resolution": "480p", "duration": 4, "generate_audio": False}
HTML = b"<!doctype html><html><body>Access denied</body></html>"
BIG = 5 * 1024 * 1024


class _Hostile(BaseHTTPRequestHandler):
    """Answers what a broken or malicious CDN might; records the paths asked for and the bytes it sent."""

    video: bytes = b""
    asked: list[str] = []
    sent_big: list[int] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.asked.append(self.path)
        routes = {
            "/page.html": (200, "text/html; charset=utf-8", HTML),
            "/lying.mp4": (200, "video/mp4", HTML),
            "/picture.mp4": (200, "video/mp4", Path(self.server.png).read_bytes()),
            "/headless.mp4": (200, "video/mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 4000),
            "/video.mp4": (200, "video/mp4", self.video),
        }
        if self.path in routes:
            status, kind, body = routes[self.path]
            self._reply(status, kind, body)
        elif self.path == "/big-declared.mp4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(BIG)
        elif self.path == "/big-undeclared.mp4":
            self.send_response(200)  # no Content-Length: the body ends when the connection closes
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            self._stream(BIG)
        elif self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/redirect-to/"):].replace("__", "://", 1))
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        else:
            self._reply(404, "text/plain", b"no")

    def _reply(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, total: int) -> None:
        sent = 0
        try:
            while sent < total:
                self.wfile.write(b"\x00" * 65536)
                sent += 65536
        except OSError:
            pass
        self.sent_big.append(sent)


@pytest.fixture(scope="module")
def api():
    with start_local_api(concurrency=4, balance=1000.0, render="full") as srv:  # tests swap its output files
        yield srv


@pytest.fixture(scope="module")
def real_video(api, tmp_path_factory) -> bytes:
    """The bytes of one genuine output of the local API."""
    tmp = tmp_path_factory.mktemp("real")
    client = Client(api_key=KEY, base_url=api.url, retry=FAST, poll=PollSchedule(floor=0.1))
    result = generate(make_image(tmp / "in.png"), client=client, ledger=Ledger(tmp / "ledger.sqlite3"),
                      out_dir=tmp / "out", probe_output=False, **PARAMS)
    return result.video_path.read_bytes()


@pytest.fixture(scope="module")
def hostile(real_video, tmp_path_factory):
    png = make_image(tmp_path_factory.mktemp("png") / "still.png")
    handler = type("Handler", (_Hostile,), {"video": real_video, "asked": [], "sent_big": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.png = str(png)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_port}"
    httpd.handler = handler
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _local_client(api, **kw) -> Client:
    """A client for the embedded API on loopback: loopback outputs are allowed (allow_private by base_url)."""
    return local_client(api, retry=FAST, poll=PollSchedule(floor=0.1), **kw)


def _real_api_client(**kw) -> Client:
    """A client configured as for the real API: https and public hosts only."""
    return Client(api_key=KEY, base_url="https://api.wavespeed.ai", retry=FAST, **kw)


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_client_for_the_local_api_allows_loopback_outputs_and_one_for_the_real_api_does_not(api):
    assert _local_client(api).allow_private_outputs is True
    assert _real_api_client().allow_private_outputs is False


@pytest.mark.parametrize(("path", "words"), [
    ("/page.html", "'text/html', not a video"),
    ("/lying.mp4", "not a playable video"),
    ("/picture.mp4", "not a playable video"),
    ("/headless.mp4", "not a playable video"),
])
def test_what_is_not_a_video_is_refused_and_leaves_no_file(api, hostile, tmp_path, path, words):
    dest = tmp_path / "out" / "video.mp4"
    with pytest.raises(OutputInvalid, match=words) as caught:
        _local_client(api).download(hostile.url + path, dest, task_id="t-1")
    assert "t-1" in str(caught.value)
    assert _left_in(dest.parent) == []


@pytest.mark.parametrize("path", ["/big-declared.mp4", "/big-undeclared.mp4"])
def test_a_body_over_the_size_cap_stops_the_download_and_leaves_no_file(api, hostile, tmp_path, path):
    dest = tmp_path / "out" / "video.mp4"
    client = _local_client(api, max_download_bytes=1024 * 1024)
    with pytest.raises(OutputInvalid, match="1048576-byte download cap"):
        client.download(hostile.url + path, dest)
    assert _left_in(dest.parent) == []
    assert client.requests_sent["download"] == 1  # refused, not retried


def test_the_size_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_DOWNLOAD_MB", "2")
    assert _real_api_client().max_download_bytes == 2 * 1024 * 1024
    monkeypatch.delenv("PLAYGROUND_MAX_DOWNLOAD_MB")
    assert _real_api_client().max_download_bytes == 500 * 1024 * 1024
    assert _real_api_client(max_download_bytes=10).max_download_bytes == 10


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:{port}/video.mp4",
    "https://127.0.0.1:{port}/video.mp4",
    "https://localhost:{port}/video.mp4",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]:{port}/video.mp4",
    "https://10.1.2.3/video.mp4",
])
def test_a_client_for_the_real_api_fetches_no_local_private_or_link_local_output(hostile, tmp_path, url):
    before = len(hostile.handler.asked)
    dest = tmp_path / "out" / "video.mp4"
    with pytest.raises(UnsafeURL, match="output of task t-2"):
        _real_api_client().download(url.format(port=hostile.server_port), dest, task_id="t-2")
    assert len(hostile.handler.asked) == before  # refused before any request
    assert not dest.exists() and _left_in(dest.parent) == []


@pytest.mark.parametrize("target", [
    "http__169.254.169.254/latest/meta-data/",
    "file__/etc/passwd",
    "ftp__example.com/video.mp4",
])
def test_every_redirect_hop_is_checked_before_it_is_followed(api, hostile, tmp_path, target):
    dest = tmp_path / "out" / "video.mp4"
    with pytest.raises(UnsafeURL, match="redirected"):
        _local_client(api).download(f"{hostile.url}/redirect-to/{target}", dest)
    assert _left_in(dest.parent) == []


def test_a_file_url_is_a_typed_refusal_even_for_the_local_api(api, tmp_path):
    with pytest.raises(UnsafeURL, match="not 'file'"):
        _local_client(api).download("file:///etc/passwd", tmp_path / "video.mp4")


def test_a_redirect_loop_is_a_typed_error(api, hostile, tmp_path):
    with pytest.raises(ServerError, match="redirected more than 5 times"):
        _local_client(api).download(f"{hostile.url}/loop", tmp_path / "out" / "video.mp4")
    assert _left_in(tmp_path / "out") == []


def test_an_allowed_redirect_is_followed_to_a_real_video(api, hostile, real_video, tmp_path):
    dest = tmp_path / "out" / "video.mp4"
    path = _local_client(api).download(f"{hostile.url}/redirect-to/{hostile.url.replace('://', '__')}/video.mp4",
                                       dest)
    assert path == dest and dest.read_bytes() == real_video
    assert probe(dest).frames > 0
    assert _left_in(dest.parent) == ["video.mp4"]


def _swap_output_when_downloading(api, body: bytes):
    """A progress hook that replaces the task's output at the local API just before the client fetches it."""
    def hook(event) -> None:
        if event.phase == "downloading":
            (api.data_dir / "outputs" / f"{event.request_id}.mp4").write_bytes(body)
    return hook


def test_an_html_output_is_never_recorded_as_the_paid_video_and_resume_fetches_it_again(api, real_video, tmp_path,
                                                                                       ledger):
    out = tmp_path / "out"
    client = _local_client(api)
    before = api.submits
    with pytest.raises(OutputInvalid, match="not a playable video"):
        generate(make_image(tmp_path / "in.png"), client=client, ledger=ledger, out_dir=out, probe_output=False,
                 on_progress=_swap_output_when_downloading(api, HTML), seed=5, **PARAMS)
    (job,) = ledger.jobs()
    assert job.status == "completed" and job.request_id and job.video_path is None
    assert "not a playable video" in job.error
    assert _left_in(out) == []
    assert [j.id for j in ledger.unfinished(base_url=client.backend_id)] == [job.id]

    # Asking again for the same paid request does not serve the page: with the output still broken it refuses again.
    with pytest.raises(OutputInvalid):
        generate(make_image(tmp_path / "in.png"), client=client, ledger=ledger, out_dir=out, probe_output=False,
                 seed=5, **PARAMS)
    assert ledger.get(job.id).video_path is None and _left_in(out) == []

    # The CDN recovers: resume fetches the real video, and only then is it the job's video.
    (api.data_dir / "outputs" / f"{job.request_id}.mp4").write_bytes(real_video)
    (outcome,) = resume(client, ledger, out_dir=out)
    assert outcome.status == "completed"
    served = tmp_path / "served.mp4"
    served.write_bytes(real_video)
    # The real video, as served (the saved file also carries the job's tags in its metadata).
    got, sent = probe(outcome.video_path), probe(served)
    assert (got.width, got.height, got.frames, got.has_audio) == (sent.width, sent.height, sent.frames, sent.has_audio)
    assert read_tags(outcome.video_path)["job_id"] == str(job.id)
    row = ledger.get(job.id)
    assert row.video_path == str(outcome.video_path) and row.error == ""
    assert api.submits - before == 1  # never paid twice


def test_an_oversized_output_is_kept_in_the_ledger_for_resume(api, tmp_path, ledger):
    out = tmp_path / "out"
    with pytest.raises(OutputInvalid, match="download cap"):
        generate(make_image(tmp_path / "in.png"), client=_local_client(api, max_download_bytes=2000), ledger=ledger,
                 out_dir=out, probe_output=False, **PARAMS)
    (job,) = ledger.jobs()
    assert job.status == "completed" and job.video_path is None and "download cap" in job.error
    assert _left_in(out) == []
    (outcome,) = resume(_local_client(api), ledger, out_dir=out)
    assert outcome.status == "completed" and probe(outcome.video_path).frames > 0


def test_a_saved_file_that_is_not_a_video_is_never_served_as_reused(api, real_video, tmp_path, ledger):
    out = tmp_path / "out"
    client = _local_client(api)
    image = make_image(tmp_path / "in.png")
    first = generate(image, client=client, ledger=ledger, out_dir=out, probe_output=False, seed=77, **PARAMS)
    first.video_path.write_bytes(HTML)  # what an older version that trusted downloads may have left
    before = api.submits
    again = generate(image, client=client, ledger=ledger, out_dir=out, probe_output=False, seed=77, **PARAMS)
    assert again.reused and again.request_id == first.request_id
    assert again.video_path.read_bytes() != HTML and probe(again.video_path).frames > 0
    assert api.submits == before

    # With the file broken again and the output gone at the API, nothing is reused: a new, real video is made.
    again.video_path.write_bytes(HTML)
    api.faults.expire_outputs(first.request_id)
    fresh = generate(image, client=client, ledger=ledger, out_dir=out, probe_output=False, seed=77, **PARAMS)
    assert not fresh.reused and fresh.request_id != first.request_id
    assert probe(fresh.video_path).frames > 0
    assert api.submits == before + 1
