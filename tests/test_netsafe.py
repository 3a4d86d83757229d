"""The one rule for outgoing requests a URL decides: refused by the decision itself (resolve-and-check with the answer
given, never by sending anything to a private address), and a request goes to the very address the check approved."""

from __future__ import annotations

import http.server
import threading

import pytest

from playground.errors import UnsafeURL, ValidationError
from playground.images import URL_REFUSED, check_image_url
from playground.netsafe import check_fetchable, is_loopback_host, is_private_host, open_checked

PRIVATE_ANSWERS = ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1", "169.254.169.254", "::1", "fe80::1",
                   "fd00::5", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1"]


@pytest.mark.parametrize("address", PRIVATE_ANSWERS)
def test_a_name_that_resolves_to_a_private_address_is_refused_before_anything_is_sent(address):
    asked = []

    def resolver(host):
        asked.append(host)
        return [address]

    with pytest.raises(UnsafeURL, match="not a public address"):
        check_fetchable("https://images.example.com/cat.png", what="image_url", resolver=resolver)
    assert asked == ["images.example.com"]


def test_one_private_answer_among_public_ones_is_enough_to_refuse():
    with pytest.raises(UnsafeURL):
        check_fetchable("https://cdn.example.com/a.png", what="image", resolver=lambda h: ["93.184.216.34", "10.0.0.7"])


@pytest.mark.parametrize("url", ["https://10.0.0.1/a.png", "https://169.254.169.254/latest/meta-data",
                                 "https://[::1]/a.png", "https://[fd12::1]/a.png", "https://0x7f000001/a.png"])
def test_literal_private_hosts_are_refused_without_a_lookup(url):
    def resolver(host):  # a literal needs no lookup; 0x7f000001 is a name to us, and its answer decides
        return ["127.0.0.1"]

    with pytest.raises(UnsafeURL):
        check_fetchable(url, what="image", resolver=resolver)


def test_a_public_answer_is_where_the_request_goes():
    target = check_fetchable("https://cdn.example.com:8443/a.png?x=1", what="image",
                             resolver=lambda h: ["93.184.216.34"])
    assert (target.host, target.port, target.path, target.address) == ("cdn.example.com", 8443, "/a.png?x=1",
                                                                      "93.184.216.34")


@pytest.mark.parametrize("url", ["http://cdn.example.com/a.png", "file:///etc/passwd", "ftp://x/a", "gopher://x/",
                                 "/etc/passwd", "https://", "https://[bad/a.png"])
def test_only_https_urls_with_a_host_are_fetched(url):
    with pytest.raises(UnsafeURL):
        check_fetchable(url, what="image", resolver=lambda h: ["93.184.216.34"])


def test_host_kinds_without_a_lookup():
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.9") and is_loopback_host("::1")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("example.com")
    assert is_private_host("10.0.0.1") and is_private_host("169.254.1.1") and not is_private_host("8.8.8.8")


@pytest.fixture
def listener():
    """A loopback HTTP server that records every request's Host header."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            seen.append((self.command, self.headers.get("Host", "")))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1234")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_request_goes_to_the_address_the_check_approved_with_the_name_as_host(listener):
    port, seen = listener
    # A name whose (given) answer is this machine: allowed only because private hosts are allowed here; the
    # connection goes to that answer, not to a second lookup of the name.
    answer = open_checked("HEAD", f"http://cat-pictures.test:{port}/a.png", what="image", allow_private=True,
                          timeout=5, resolver=lambda h: ["127.0.0.1"])
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert seen == [("HEAD", f"cat-pictures.test:{port}")]


def test_a_public_host_refuses_every_unusable_url_with_one_sentence(listener):
    port, seen = listener

    def resolver(host):  # the answers a hostile DNS could give
        if host.endswith(".invalid"):
            raise OSError("no such name")
        return ["127.0.0.1"]

    texts = set()
    for url in (f"http://127.0.0.1:{port}/a.png", f"http://localhost:{port}/a.png", "https://10.0.0.1/a.png",
                "https://169.254.169.254/latest/meta-data", "https://nonexistent.invalid/a.png", "ftp://x/a.png"):
        with pytest.raises(ValidationError) as caught:
            check_image_url(url, "image_url", uniform=True, allow_private=False, timeout=2, resolver=resolver)
        texts.add(str(caught.value))
    assert texts == {URL_REFUSED.format(field="image_url")}
    assert seen == []  # nothing reached the listener
