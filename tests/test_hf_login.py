"""Sign in with Hugging Face on the app as it is really served (``python app.py``, a public host spending a host key
against the test's local API), without the network: with ``PLAYGROUND_LOGIN=1`` outside a Space, Gradio's own mocked
sign-in puts the account of the machine's Hugging Face token in the session; here that token belongs to a fake Hub on
loopback (``HF_ENDPOINT``) whose ``/api/whoami-v2`` names the user the test chooses for each start of the app.

A visitor signs in as a browser does (``/login/huggingface`` → ``/login/callback`` → the signed ``session`` cookie,
sent back on every request), runs ``/generate``, and opens the page again (the load event that fills History) from
a new browser, after a restart of the app (which also switches on required sign-in), as another user.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import requests
from attack_support import call_endpoint, call_event, hosted_app, raw_error_texts, uploaded
from support import make_image

from playground.identity import signed_in_owner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DRAFT = {"prompt": "slow zoom in", "duration": 4, "resolution": "480p", "generate_audio": False,
         "camera_fixed": False, "seed": -1}  # $0.048


class FakeHub:
    """``GET /api/whoami-v2`` answering as :attr:`user`, on loopback."""

    def __init__(self):
        self.user = "alice"
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = json.dumps({"type": "user", "name": hub.user, "fullname": hub.user.title(),
                                   "avatarUrl": "https://example.invalid/a.png"}).encode()
                self.send_response(200 if self.path.startswith("/api/whoami-v2") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()
    yield server
    server.close()


@contextlib.contextmanager
def app_as(tmp_path, api, hub: FakeHub, user: str, **env: str):
    """The app (its home kept across starts in ``tmp_path``) whose mocked sign-in is ``user``."""
    hub.user = user
    with hosted_app(tmp_path, api.url, key="host-key-login", PLAYGROUND_LOGIN="1", HF_ENDPOINT=hub.url,
                    HF_TOKEN="hf_fake_token_for_a_loopback_hub", HF_HUB_DISABLE_TELEMETRY="1", **env) as app:
        yield app


def sign_in(app) -> dict[str, str]:
    """Sign in as a browser does; the headers that carry the session afterwards. (The cookie is marked Secure, so
    a client over plain HTTP would not send it by itself: it is sent by hand.)"""
    with requests.Session() as browser:
        reply = browser.get(app.url + "/login/huggingface", allow_redirects=True, timeout=60)
        assert reply.ok, reply.text[:300]
        cookie = next((c.value for c in browser.cookies if c.name == "session"), None)
    assert cookie, "signing in set no session cookie"
    return {"Cookie": f"session={cookie}"}


def page_load(app, headers: dict[str, str] | None = None, token: str = "") -> tuple[list[int], str]:
    """Open the page (a browser with identity ``token``, "" for a new one): the job ids History shows, and the
    backend line."""
    config = app.config()
    ids = {c["id"]: (c.get("props") or {}).get("elem_id") for c in config["components"]}
    index, dep = next((i, d) for i, d in enumerate(config["dependencies"])
                      if any(len(t) >= 2 and t[1] == "load" for t in d.get("targets") or [])
                      and any(ids.get(o) == "history-table" for o in d["outputs"]))
    reply = call_event(app.url, dep.get("id", index), ["", token], headers=headers, timeout=120)
    assert reply.success, reply.error_text
    table = reply.data[[ids.get(o) for o in dep["outputs"]].index("history-table")]
    line = reply.data[[ids.get(o) for o in dep["outputs"]].index("backend-line")]
    rows = table.get("data", []) if isinstance(table, dict) else table
    return [int(row[0]) for row in rows], str(line)


def generate(app, image, headers: dict[str, str] | None = None):
    return call_endpoint(app, "generate", image=image, headers=headers, timeout=300, **DRAFT)


def test_a_signed_in_visitors_history_follows_them_and_no_one_else_and_once_required_only_they_spend_the_hosts_key(
        protocol_api, hub, tmp_path):
    """Alice's history follows her across browsers and a restart, and no one else sees it; the restart also switches
    on PLAYGROUND_REQUIRE_LOGIN (which changes only who may spend the host's key), after which only signed-in
    visitors spend it. One restart serves both: each start of ``python app.py`` costs about 8 CPU-s."""
    picture = make_image(tmp_path / "in.png")
    with app_as(tmp_path, protocol_api, hub, "alice") as app:
        alice = sign_in(app)
        made = generate(app, uploaded(app.url, picture), alice)
        assert made.success, made.error_text
        job = made.data[1]["job_id"]
        assert page_load(app, sign_in(app))[0] == [job]   # another browser (signed in anew, no identity token)
        assert page_load(app)[0] == []                    # an anonymous visitor sees none of it
    # Restarted, requiring sign-in now; the Hub's user is bob.
    with app_as(tmp_path, protocol_api, hub, "bob", PLAYGROUND_REQUIRE_LOGIN="1") as app:
        refused = generate(app, uploaded(app.url, picture))
        assert not refused.success
        assert "signed in with Hugging Face" in refused.error_text and "Nothing was sent" in refused.error_text
        assert protocol_api.submits == 1                  # alice's only
        assert "signed in with Hugging Face only" in page_load(app)[1]
        bob = sign_in(app)
        assert page_load(app, bob)[0] == []               # bob does not see alice's job
        theirs = generate(app, uploaded(app.url, picture), bob)
        assert theirs.success, theirs.error_text
        assert protocol_api.submits == 2
        assert [row["visitor"] for row in app.sent_rows()] == ["hf:alice", "hf:bob"]
        assert page_load(app, bob)[0] == [theirs.data[1]["job_id"]]
        # Alice's browser is still signed in after the restart (Gradio's cookie key is the same across starts, as on
        # a Space; the mocked sign-in asks the Hub once per start): she sees her job and not bob's.
        assert page_load(app, alice)[0] == [job]
        check_the_login_buttons_events(app, sign_in(app), "bob")
    assert protocol_api.submits == 2


def check_the_login_buttons_events(app, headers: dict[str, str], user: str) -> None:
    """The events the sign-in button adds to /config: it names the signed-in account, and junk sent to them gets no
    raw error and leaves the app answering (as tests/test_attack_surface.py asks of every event)."""
    config = app.config()
    button = next(c["id"] for c in config["components"] if (c.get("props") or {}).get("elem_id") == "login-button")
    events = [d.get("id", i) for i, d in enumerate(config["dependencies"])
              if d.get("backend_fn") and button in d["outputs"]]
    assert events
    for fn_index in events:
        named = call_event(app.url, fn_index, [], headers=headers)
        assert named.success and f"Logout ({user})" in json.dumps(named.data), named.raw[-500:]
        junk = call_event(app.url, fn_index, ["x" * 100_000, [[[[[[[1]]]]]]], {"path": "/etc/passwd"}])
        assert not raw_error_texts(junk.error_text) and "root:" not in junk.raw
    assert app.alive() and app.config()


class _Scoped:
    def __init__(self, session):
        self.scope = {"session": session} if session is not None else {}


class _Request:
    def __init__(self, session):
        self.request = _Scoped(session)


@pytest.mark.parametrize(("session", "owner"), [
    (None, None),                                                                      # no login button: no session
    ({}, None),                                                                        # not signed in
    ({"oauth_info": {"userinfo": {"preferred_username": "dora"}}}, "hf:dora"),
    ({"oauth_info": {"expires_at": 1, "userinfo": {"preferred_username": "dora"}}}, None),   # expired
    ({"oauth_info": {"userinfo": {"preferred_username": "../etc"}}}, None),            # not a user name
    ({"oauth_info": {"userinfo": {"preferred_username": "x" * 500}}}, None),
])
def test_the_signed_in_owner_is_read_only_from_a_valid_session(session, owner):
    assert signed_in_owner(_Request(session)) == owner
