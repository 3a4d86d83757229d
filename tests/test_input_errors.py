"""Every user error is one clear ValidationError naming the field, raised before anything is paid for.

Images (bombs, garbage, truncated files, data: URIs, URLs), prompts, every field's type, unknown models; the probe's
typed error; and the CLI's one line with no traceback.
"""

from __future__ import annotations

import base64
import http.server
import io
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from PIL import Image

from playground.client import Client
from playground.contract import PROMPT_MAX_CHARS, SPICY, UnknownModel, validate
from playground.errors import OutputInvalid, UnsafeURL, ValidationError
from playground.images import check_image_url, decode_data_uri, is_local_api, prepare_image
from playground.jobs import Ledger
from playground.media import NotAVideo, probe
from playground.pipeline import generate, read_media
from tests.support import KEY, fast_poll, make_image, png_claiming, run_process, start_local_api

ROOT = Path(__file__).resolve().parents[1]



def png_bytes(width: int = 800, height: int = 450) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def env(shared_local_api, tmp_path, ledger):
    client = Client(api_key=KEY, base_url=shared_local_api.url, poll=fast_poll())
    return client, ledger, make_image(tmp_path / "in.png", (800, 450))


def refused(client: Client, ledger: Ledger, *args, **kwargs) -> str:
    """generate(...)'s refusal message, after checking nothing was uploaded, submitted or put in the ledger."""
    with pytest.raises(ValidationError) as err:
        generate(*args, client=client, ledger=ledger, **kwargs)
    assert client.requests_sent.get("submit", 0) == 0 and client.requests_sent.get("upload", 0) == 0
    assert ledger.jobs() == []
    assert "\n" not in str(err.value)
    return str(err.value)


# ---- decompression bombs and undecodable images -------------------------------------------------------------


@pytest.mark.parametrize("size", [(100_000, 100_000), (7000, 7000), (6001, 3000), (65_535, 300)])
def test_an_image_claiming_more_than_6000_px_a_side_is_refused_without_decoding_it(size):
    bomb = png_claiming(*size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a DecompressionBombWarning may escape
        with pytest.raises(ValidationError) as err:
            prepare_image(bomb)
    message = str(err.value)
    assert message.startswith("image:")
    assert "6000" in message


def test_a_bomb_given_to_generate_costs_nothing(env, tmp_path):
    client, ledger, _ = env
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(100_000, 100_000))
    message = refused(client, ledger, bomb, resolution="480p")
    assert message.startswith("image: bomb.png claims more than 36,000,000 pixels")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "is not an image"),
        (png_bytes()[:120], "damaged or truncated"),
        (b"GIF89a" + b"\xff" * 30, "is not an image"),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "damaged or truncated"),
        (bytes(range(256)) * 3, "not an image"),
    ],
)
def test_garbage_and_truncated_images_name_the_field(env, data, words):
    client, ledger, image = env
    message = refused(client, ledger, image, last_image=data)
    assert message.startswith("last_image:") and words in message


@pytest.mark.parametrize(
    ("source", "words"),
    [(12, "got int"), ([b"x"], "got list"), (True, "got bool"), ("x" * 10_000, "expected a file path or an image URL"),
     ("no\x00such.png", "expected a file path"), ("missing.png", "does not exist")],
)
def test_an_image_that_is_not_a_file_bytes_or_url_is_named(env, source, words):
    client, ledger, _ = env
    message = refused(client, ledger, source)
    assert message.startswith("image:") and words in message and len(message) < 300


# ---- prompts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", [b"hi", 42, 4.5, ["walk"], {"text": "walk"}, True])
def test_a_prompt_that_is_not_text_is_refused_never_turned_into_text(env, prompt):
    client, ledger, image = env
    message = refused(client, ledger, image, prompt)
    assert message.startswith("prompt: expected text, got ")


def test_an_overlong_prompt_is_refused_with_the_limit(env):
    client, ledger, image = env
    message = refused(client, ledger, image, "a" * 200_000)
    assert message == f"prompt: is 200,000 characters long; the limit is {PROMPT_MAX_CHARS:,}"
    assert validate(SPICY, {"image": "u", "prompt": "a" * PROMPT_MAX_CHARS}) == []
    assert validate(SPICY, {"image": "u", "prompt": "a" * (PROMPT_MAX_CHARS + 1)})[0].startswith("prompt:")


# ---- every field's type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("duration", "abc", "expected a whole number, got 'abc'"),
        ("duration", "5", "expected a whole number"),
        ("duration", 5.5, "expected a whole number, got 5.5"),
        ("duration", float("nan"), "expected a whole number"),
        ("duration", True, "expected a whole number"),
        ("seed", 1.5, "expected a whole number, got 1.5"),
        ("seed", "7", "expected a whole number"),
        pytest.param("seed", 10**5000, "too large to show is out of range", id="seed-5000-digits"),
        ("camera_fixed", "true", "expected true or false, got 'true'"),
        ("generate_audio", 1, "expected true or false, got 1"),
        ("resolution", 720, "expected text, got 720"),
        ("aspect_ratio", 1.5, "expected text"),
        ("enable_sync_mode", "yes", "expected true or false"),
        ("colour", "red", "is not a field of"),
    ],
)
def test_a_wrong_type_for_any_field_is_named(env, field, value, words):
    client, ledger, image = env
    message = refused(client, ledger, image, **{field: value})
    assert message.startswith(f"{field}: ") and words in message


@pytest.mark.parametrize("model", ["nope/x", "", 5, None, ["a"]])
def test_an_unknown_model_is_a_validation_error_naming_model(env, model):
    client, ledger, image = env
    message = refused(client, ledger, image, model=model)
    assert message.startswith("model: ") and "is not known; choose one of" in message
    with pytest.raises(KeyError):  # still a lookup error for code that asks the catalogue
        validate(model, {})
    assert issubclass(UnknownModel, ValidationError)


# ---- data: URIs ---------------------------------------------------------------------------------------------


def test_a_data_uri_is_decoded_checked_like_a_file_and_uploaded(env):
    client, ledger, _ = env
    data = png_bytes()
    media = read_media("data:image/png;base64," + base64.b64encode(data).decode(), client=client)
    assert [prep.data for prep in media.uploads] == [data] and media.sources["image"] == data


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("data:text/plain,hello", "holds 'text/plain', not an image"),
        ("data:image/png;base64,***", "base64 is malformed"),
        ("data:image/png", "malformed"),
        ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "not an image"),
        ("data:image/png;base64," + base64.b64encode(png_claiming(90_000, 90_000)).decode(), "claims more than"),
        ("data:image/png;base64," + base64.b64encode(png_bytes(200, 200)).decode(), "outside the allowed"),
    ],
)
def test_a_bad_data_uri_is_refused_like_a_bad_file(env, uri, words):
    client, ledger, _ = env
    message = refused(client, ledger, uri)
    assert message.startswith("image: ") and words in message


def test_an_oversized_data_uri_is_refused_before_decoding():
    with pytest.raises(ValidationError, match=r"^last_image: the data: URI holds about 3[0-9.]+ MB"):
        decode_data_uri("data:image/png;base64," + "A" * (42 * 2**20), "last_image")


# ---- image URLs ---------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """A tiny web server: redirects, a server that refuses HEAD, a too-large image."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def _answer(self, body: bool) -> None:
        path = self.path
        if path.startswith("/hop/"):
            n = int(path.split("/")[2])
            self.send_response(302)
            self.send_header("Location", f"/hop/{n - 1}" if n > 1 else "/image.png")
        elif path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
        elif path == "/image.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
        elif path == "/no-head.png" and self.command == "HEAD":
            self.send_response(405)
            self.send_header("Content-Length", "0")
        elif path == "/no-head.png":
            assert self.headers.get("Range") == "bytes=0-0"
            self.send_response(206)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Range", "bytes 0-0/1000")
            self.send_header("Content-Length", "1")
        elif path == "/page.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", "0")
        elif path == "/huge.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(40 * 2**20))
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
        self.end_headers()
        if body and path == "/no-head.png":
            self.wfile.write(b"\x89")

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._answer(body=True)


@pytest.fixture(scope="module")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_image_url_that_answers_404_is_refused_before_paying(env):
    client, ledger, _ = env
    message = refused(client, ledger, f"{client.base_url}/media/uploads/nothing/here.png")
    assert message.startswith("image: the URL could not be fetched (HTTP 404)")


def test_a_url_that_is_not_an_image_is_refused(env, web):
    client, ledger, image = env
    message = refused(client, ledger, image, last_image=f"{web}/page.html")
    assert message.startswith("last_image: the URL is not an image") and "text/html" in message


def test_an_unreachable_url_is_refused(env):
    client, ledger, _ = env
    message = refused(client, ledger, "http://127.0.0.1:9/gone.png")
    assert message.startswith("image: the URL could not be fetched (no connection)")


def test_a_good_url_passes_and_generate_sends_it(env, shared_local_api):
    client, ledger, image = env
    url = client.upload(image)
    result = generate(url, client=client, ledger=ledger, resolution="480p", duration=4, probe_output=False)
    assert result.params["image"] == url
    assert client.requests_sent["submit"] == 1


def test_redirects_are_followed_at_most_twice_and_each_target_is_checked(web):
    check_image_url(f"{web}/hop/2", allow_private=True)
    with pytest.raises(ValidationError, match=r"^image: the URL redirects more than 2 times"):
        check_image_url(f"{web}/hop/3", allow_private=True)
    with pytest.raises(UnsafeURL, match=r"^image: only http or https URLs are fetched, not 'file'"):
        check_image_url(f"{web}/to-file", allow_private=True)


def test_a_server_that_refuses_head_is_asked_with_a_one_byte_get(web):
    check_image_url(f"{web}/no-head.png", allow_private=True)


def test_an_image_url_over_30_mb_is_refused(web):
    with pytest.raises(ValidationError, match=r"^last_image: the image at the URL is 40.0 MB; the limit is 30 MB"):
        check_image_url(f"{web}/huge.png", "last_image", allow_private=True)


@pytest.mark.parametrize(
    ("url", "words"),
    [("http://example.com/a.png", "only https URLs are fetched"),
     ("https://127.0.0.1/a.png", "is not a public address"),
     ("https://10.1.2.3/a.png", "is not a public address"),
     ("https://[::1]/a.png", "is not a public address")],
)
def test_for_the_real_api_only_https_public_hosts_are_fetched(ledger, url, words):
    client = Client(api_key=KEY, base_url="https://api.wavespeed.ai")  # never contacted: refused before
    message = refused(client, ledger, url)
    assert message.startswith("image: ") and words in message
    assert client.requests_sent == {}


def test_private_hosts_are_allowed_only_for_the_local_api():
    assert is_local_api("http://10.0.0.5:8000", "local")
    assert is_local_api("http://127.0.0.1:41234") and is_local_api("http://localhost:8000") \
        and is_local_api("http://[::1]:8000")
    assert not is_local_api("https://api.wavespeed.ai") and not is_local_api("http://10.0.0.5:8000")


# ---- the probe ----------------------------------------------------------------------------------------------


def test_probe_raises_a_typed_error_for_a_file_that_is_not_a_video(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(NotAVideo, match="clip.mp4") as err:
        probe(fake)
    assert isinstance(err.value, OutputInvalid) and isinstance(err.value, ValueError)


# ---- the command line ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_server():
    with start_local_api(render="protocol") as server:
        yield server


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {"PLAYGROUND_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "WAVESPEED_API_KEY": KEY,
           "WAVESPEED_BASE_URL": url, "PATH": "/usr/bin:/bin"}
    done = run_process([sys.executable, "-m", "playground", *args], env=env, timeout=300, cwd=ROOT, text=False)
    # Decoded by hand: text mode would turn the progress bar's \r into line breaks.
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("bomb", "error: image: bomb.png claims more than 36,000,000 pixels"),
        ("model", "error: model: 'nope/x' is not known"),
        ("url", "error: image: the URL could not be fetched (HTTP 404)"),
    ],
)
def test_the_cli_prints_one_line_and_no_traceback(cli_server, tmp_path, case, words):
    image = make_image(tmp_path / "in.png")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(100_000, 100_000))
    args = {"bomb": [str(bomb)], "model": [str(image), "--model", "nope/x"],
            "url": [f"{cli_server.url}/media/uploads/none/gone.png"]}[case]
    done = _cli(tmp_path, cli_server.url, "generate", *args, "--resolution", "480p")
    assert done.returncode == 2
    # Besides the progress bar (redrawn in place with \r), stderr holds exactly one line: the error.
    lines = [line for line in done.stderr.split("\n") if line.strip() and not line.startswith("\r")]
    assert len(lines) == 1 and lines[0].startswith(words), done.stderr
    assert "Traceback" not in done.stderr
    assert cli_server.submits == 0


def test_an_unexpected_error_is_one_line_and_its_traceback_shows_only_with_v(cli_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.sqlite3").write_bytes(b"this is not a database" * 100)
    quiet = _cli(tmp_path, cli_server.url, "history")
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [quiet.stderr.strip()]
    assert quiet.stderr.startswith("error: unexpected DatabaseError: ") and "(run with -v for details)" in quiet.stderr
    loud = _cli(tmp_path, cli_server.url, "-v", "history")
    assert loud.returncode == 1 and "Traceback" in loud.stderr
