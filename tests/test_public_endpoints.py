"""A hostile visitor on the public endpoints: every bad argument is refused by name before anything is sent, types
are never coerced, and no server file can be read or sent."""

from __future__ import annotations

import pytest
import requests
from browser_support import SAMPLES, client_factory_for, launched
from gradio_client import Client as GradioClient
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SLOW_OK

from playground.caps import Caps
from playground.jobs import Ledger
from playground.session import Playground
from playground.ui import build_app

SAMPLE = SAMPLES / "sunset_beach.jpg"
GOOD = {"prompt": "slow zoom in", "duration": 4, "resolution": "480p", "generate_audio": False, "seed": 5,
        "camera_fixed": False}


@pytest.fixture(scope="module")
def app(shared_local_api, tmp_path_factory):
    ledger = Ledger(tmp_path_factory.mktemp("home") / "ledger.sqlite3")
    demo = build_app(client_factory=client_factory_for(shared_local_api), ledger=ledger, caps=Caps(), owner_key="")
    with launched(demo) as running:
        yield running, GradioClient(running.url, verbose=False, httpx_kwargs=SLOW_OK)


def refused(client, api_name="/generate", **kwargs) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(api_name=api_name, **kwargs)
    return str(caught.value)


def submits(server) -> int:
    return server.count("POST", "/api/v3/bytedance/")


@pytest.mark.parametrize("field, value", [
    ("generate_audio", "false"), ("camera_fixed", "no"), ("duration", "abc"), ("duration", 4.5),
    ("seed", "7"), ("resolution", 1080), ("prompt", 42), ("aspect_ratio", "2:1"), ("duration", 13),
])
def test_generate_refuses_each_bad_argument_by_name_without_sending(app, shared_local_api, field, value):
    running, client = app
    before = submits(shared_local_api)
    message = refused(client, image=handle_file(str(SAMPLE)), **{**GOOD, field: value})
    assert field in message
    assert submits(shared_local_api) == before


def test_a_string_false_never_turns_audio_on_in_the_price(app):
    running, client = app
    assert "generate_audio" in refused(client, "/price", resolution="480p", duration=4, generate_audio="false")
    assert client.predict(resolution="480p", duration=4, generate_audio=False, api_name="/price") == 0.048


@pytest.mark.parametrize("url", ["/etc/hostname", "/etc/definitely-not-here", "file:///etc/hostname",
                                 str(SAMPLE.parent.parent / "ui.py"), "ftp://example.com/a.png"])
def test_a_server_path_as_image_url_is_refused_the_same_way_whether_it_exists_or_not(app, shared_local_api, url):
    running, client = app
    before = submits(shared_local_api)
    message = refused(client, image_url=url, **GOOD)
    assert "image_url: give an http(s) address" in message
    assert "hostname" not in message and "No such file" not in message
    assert submits(shared_local_api) == before


def test_a_file_outside_the_upload_folder_cannot_be_named_as_the_image(app, shared_local_api):
    running, client = app
    before = submits(shared_local_api)
    answers = set()
    for path in ("/etc/hostname", "/etc/definitely-not-here"):
        # gradio_client uploads what it is given; a hostile visitor posts the payload by hand.
        forged = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "cat.png"}
        data = [forged, None, "slow zoom in", None, 4, "480p", "match image", False, False, 5]
        call = requests.post(f"{running.url}gradio_api/call/generate", json={"data": data}, timeout=30)
        assert call.ok, call.text
        stream = requests.get(f"{running.url}gradio_api/call/generate/{call.json()['event_id']}", timeout=60)
        assert "event: error" in stream.text and "event: complete" not in stream.text
        answers.add(stream.text.split("event: error", 1)[1].strip())
    assert len(answers) == 1  # the same answer whether the file exists or not
    assert submits(shared_local_api) == before


def test_history_is_private_on_a_public_host(app, shared_local_api):
    running, client = app
    _, details = client.predict(image=handle_file(str(SAMPLE)), **GOOD, api_name="/generate")
    pg = running.playground
    job = pg.ledger.get(details["job_id"])
    # A private machine (this app) shows its whole ledger; a public host each visitor's own runs only.
    hosted = Playground(ledger=pg.ledger, caps=Caps(public=True), owner_key="")
    assert hosted.visible_jobs("a-stranger", None) == []
    assert job.id in {j.id for j in hosted.visible_jobs(job.session, None)}
    assert pg.visible_jobs("a-stranger", None, whole=False) == []  # what the endpoints use for finals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["duration", "resolution", "generate_audio", "camera_fixed", "seed", "prompt",
                              "aspect_ratio"]),
       # JSON (and so gradio_client) cannot carry NaN or infinity: a visitor cannot send them.
       value=st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6),
                       st.floats(allow_nan=False, allow_infinity=False, width=32),
                       st.booleans(), st.lists(st.integers(), max_size=2)))
def test_any_invalid_argument_is_refused_by_name_with_nothing_sent(app, shared_local_api, field, value):
    from playground.contract import SPICY, validate

    running, client = app
    arguments = {**GOOD, field: value}
    body = {k: v for k, v in arguments.items() if k != "aspect_ratio" or v not in ("match image", "")}
    # Whole floats are what a number box sends: the page reads them as the whole number they show.
    body = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in body.items()}
    if not validate(SPICY, {**body, "image": "https://placeholder.invalid/i.png"}) or \
            (field == "prompt" and isinstance(value, str) and not value.strip()):
        return  # a valid request: not this test's business (it would be paid for)
    before = submits(shared_local_api)
    message = refused(client, image=handle_file(str(SAMPLE)), **arguments)
    assert field in message and "Traceback" not in message
    assert submits(shared_local_api) == before
