"""The playground in a real browser (Playwright driving Debian's chromium) against a local API started here."""

from __future__ import annotations

import logging

import pytest
import requests
from browser_support import (
    ARTIFACTS,
    SAMPLES,
    choose_480p_4s_silent,
    client_factory_for,
    launched,
    open_page,
    run_button_text,
    textbox_value,
)

from playground.caps import Caps
from playground.local import LocalConfig, start_server
from playground.ui import build_app

pytestmark = pytest.mark.browser

VIDEO_PLAYS = """() => {
    const v = document.querySelector('#output-video video');
    if (!v) return false;
    v.muted = true;                       // autoplay with sound needs a gesture; muted always may play
    if (v.paused) v.play().catch(() => {});
    return v.readyState >= 2 && v.currentTime > 0;
}"""


@pytest.fixture
def realistic_api(local_api_factory):
    """A local API that keeps 480p 4 s jobs processing for about 3 s, so progress can be watched."""
    return local_api_factory(timing="realistic", speed=0.15, render="protocol")


def upload(page, path) -> None:
    page.locator("#component-0").page.locator("input[type=file]").first.set_input_files(str(path))


def toast_texts(page) -> str:
    return " ".join(page.locator(".toast-body").all_inner_texts())


def test_a_run_shows_price_progress_and_a_playing_video(browser, realistic_api, ledger):
    demo = build_app(client_factory=client_factory_for(realistic_api), ledger=ledger,
                     caps=Caps(), owner_key="")
    with launched(demo) as app:
        page = open_page(browser, app.url)
        assert "In use:" in page.locator("#backend-line").inner_text()
        assert "local preview" in page.locator("#backend-line").inner_text()
        upload(page, SAMPLES / "sunset_beach.jpg")
        choose_480p_4s_silent(page)
        page.wait_for_function("() => document.querySelector('#run-button').innerText.includes('$0.048')")
        assert run_button_text(page) == "Run · $0.048"

        page.locator("#run-button").click()
        page.locator("#cancel-button").wait_for(state="visible")
        # The progress overlay: phase, elapsed seconds and the estimate.
        page.get_by_text("of ~", exact=False).first.wait_for(timeout=120_000)
        page.wait_for_function("() => document.querySelector('#status-line').innerText.startsWith('Done')",
                               timeout=180_000)
        page.wait_for_function(VIDEO_PLAYS, timeout=120_000, polling=250)
        page.locator("#run-button").wait_for(state="visible")

        seed = textbox_value(page, "seed-used")
        request_id = textbox_value(page, "request-id")
        assert seed.isdigit()
        assert request_id == realistic_api.tasks()[0]["id"]
        assert textbox_value(page, "cost") == "$0.048"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
    assert realistic_api.submits == 1


def test_a_non_image_upload_is_refused_readably_and_sends_nothing(browser, local_api, tmp_path, ledger):
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger,
                     caps=Caps(), owner_key="")
    fake = tmp_path / "holiday.png"
    fake.write_text("these are words, not pixels")
    with launched(demo) as app:
        page = open_page(browser, app.url)
        upload(page, fake)
        page.wait_for_function("() => [...document.querySelectorAll('.toast-body')]"
                               ".some(t => t.innerText.includes('is not an image'))", timeout=120_000)
        assert "image: holiday.png is not an image" in toast_texts(page)
        assert "Traceback" not in page.content()
        # Run refuses it too, by name, and the Run button comes back.
        page.locator("#run-button").click()
        # The refusal may come before the Cancel button is ever seen: wait for the outcome, not the swap.
        page.wait_for_function("() => document.querySelector('#status-line').innerText.startsWith('Stopped:')",
                               timeout=120_000)
        page.locator("#run-button").wait_for(state="visible", timeout=120_000)
        assert "image: holiday.png is not an image" in toast_texts(page)
        # The status line itself says why (a toast may be missed or gone).
        status = page.locator("#status-line").inner_text()
        assert status.startswith("Stopped: image: holiday.png is not an image"), status
    assert local_api.count("POST", "/api/v3/") == 0
    assert local_api.submits == 0


def test_two_visitors_with_two_keys_pay_each_with_their_own(browser, ledger, caplog, capfd):
    k1, k2 = "wsk-alice-4b1e9c0d7a", "wsk-bob-93f2aa61c8"
    caplog.set_level(logging.DEBUG)
    with start_server(LocalConfig(timing="instant", keys=frozenset({k1, k2}), render="protocol")) as server:
        demo = build_app(client_factory=client_factory_for(server), ledger=ledger,
                         caps=Caps(), owner_key="")
        with launched(demo) as app:
            pages = {}
            for key, sample in ((k1, "sunset_beach.jpg"), (k2, "koi_pond.jpg")):
                page = open_page(browser, app.url)
                page.get_by_label("WaveSpeed API key").fill(key)
                page.get_by_label("WaveSpeed API key").press("Enter")
                page.wait_for_function("() => document.querySelector('#backend-line').innerText"
                                       ".includes('with your key')", timeout=120_000)
                upload(page, SAMPLES / sample)
                choose_480p_4s_silent(page)
                page.wait_for_function("() => document.querySelector('#run-button').innerText.includes('$0.048')")
                pages[key] = page
            # Both runs at once.
            for page in pages.values():
                page.locator("#run-button").click()
            for page in pages.values():
                page.wait_for_function("() => document.querySelector('#status-line').innerText"
                                       ".startsWith('Done')", timeout=180_000)
            config = requests.get(app.url + "config", timeout=10).text
            contents = {key: page.content() for key, page in pages.items()}
            requests_ids = {key: textbox_value(page, "request-id") for key, page in pages.items()}
            for page in pages.values():
                page.context.close()
    assert server.balance(k1) == pytest.approx(10.0 - 0.048)
    assert server.balance(k2) == pytest.approx(10.0 - 0.048)
    assert requests_ids[k1] != requests_ids[k2]
    assert k2 not in contents[k1] and k1 not in contents[k2]
    out, err = capfd.readouterr()
    for key in (k1, k2):
        assert key not in config
        assert key not in caplog.text
        assert key not in out and key not in err


def test_stop_waiting_stops_the_wait_and_the_job_can_be_resumed_from_history(browser, ledger):
    with start_server(LocalConfig(timing="realistic", speed=0.4, render="protocol")) as server:
        demo = build_app(client_factory=client_factory_for(server), ledger=ledger, caps=Caps(), owner_key="")
        with launched(demo) as app:
            page = open_page(browser, app.url)
            upload(page, SAMPLES / "mountain_lake.jpg")
            choose_480p_4s_silent(page)
            page.locator("#run-button").click()
            page.get_by_text("of ~", exact=False).first.wait_for(timeout=120_000)
            page.wait_for_function("() => document.querySelector('#request-id') !== null")
            page.locator("#cancel-button").click()
            page.wait_for_function(
                "() => document.querySelector('#status-line').innerText.startsWith('Stopped waiting')", timeout=30_000)
            page.locator("#run-button").wait_for(state="visible")
            job = ledger.jobs()[0]
            assert job.unfinished and job.request_id
            page.get_by_role("tab", name="History").click()
            page.get_by_role("spinbutton", name="Job").fill(str(job.id))
            page.get_by_role("button", name="Resume").click()
            page.wait_for_function(VIDEO_PLAYS, timeout=180_000, polling=250)
            assert ledger.get(job.id).has_video
    assert server.submits == 1


def test_a_key_is_remembered_on_this_browser_only_when_asked(browser, ledger):
    key = "wsk-carol-5d2e7f10aa"
    with start_server(LocalConfig(timing="instant", render="protocol")) as server:
        demo = build_app(client_factory=client_factory_for(server), ledger=ledger,
                         caps=Caps(), owner_key="")
        with launched(demo) as app:
            page = open_page(browser, app.url)
            page.get_by_label("WaveSpeed API key").fill(key)
            page.get_by_label("WaveSpeed API key").press("Enter")
            page.wait_for_function("() => document.querySelector('#backend-line').innerText"
                                   ".includes('with your key')")
            page.reload()
            page.wait_for_function("() => document.querySelector('#backend-line')?.innerText.includes('In use')")
            assert "local preview" in page.locator("#backend-line").inner_text()

            page.get_by_label("Remember on this browser").check()
            page.get_by_label("WaveSpeed API key").fill(key)
            page.get_by_label("WaveSpeed API key").press("Enter")
            page.wait_for_function("() => document.querySelector('#backend-line').innerText"
                                   ".includes('with your key')")
            page.reload()
            page.wait_for_function("() => document.querySelector('#backend-line')?.innerText"
                                   ".includes('remembered on this browser')", timeout=120_000)
            assert "with your key" in page.locator("#backend-line").inner_text()
            assert key not in page.content()
            page.context.close()
