"""Issue 18's journeys in a real browser (Playwright on Debian's chromium) against local APIs started here: History
after a reload and a restart, Reuse of a non-default model, Cancel of an 8-clip sweep (timed, its summary against the
ledger), the Code tab's Python run as shown, and a phone."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from browser_support import (
    SAMPLES,
    choose_480p_4s_silent,
    client_factory_for,
    launch_on,
    open_page,
    textbox_value,
)
from support import free_port

from playground.caps import Caps
from playground.contract import SPICY, STANDARD, V1_PRO_FAST
from playground.jobs import Ledger
from playground.status import UNCHARGED
from playground.ui import build_app

pytestmark = pytest.mark.browser
V1_TITLE = "Seedance V1 Pro Fast Image-to-Video"


@contextlib.contextmanager
def serving(server, ledger, *, public: bool = False, port: int | None = None):
    """The playground on ``port`` (a fixed port keeps the browser's storage across a restart: it is per origin)."""
    demo = build_app(client_factory=client_factory_for(server), ledger=ledger, caps=Caps(public=public),
                     owner_key="")
    url = launch_on(demo, port or free_port())
    try:
        yield demo, url
    finally:
        demo.close()


def _upload(page, path) -> None:
    page.locator("input[type=file]").first.set_input_files(str(path))


def _wait_text(page, selector: str, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(f"() => (document.querySelector({selector!r})?.innerText || '').includes({text!r})",
                           timeout=timeout)


def _run_cheap(page, seed: int | None = None, prompt: str | None = None) -> None:
    _upload(page, SAMPLES / "koi_pond.jpg")
    choose_480p_4s_silent(page)
    if prompt is not None:
        page.get_by_label(re.compile("^Prompt")).fill(prompt)
    if seed is not None:
        page.get_by_label("Seed (-1: random)").fill(str(seed))
        page.get_by_label("Seed (-1: random)").press("Tab")
    page.wait_for_function("() => /\\$0\\.048/.test(document.querySelector('#run-button').innerText)")
    page.locator("#run-button").click()
    _wait_text(page, "#status-line", "Done")


def _history_shows(page, text: str) -> None:
    page.get_by_role("tab", name="History").click()
    _wait_text(page, "#history-table", text, timeout=30_000)


def _history_text(page) -> str:
    page.get_by_role("tab", name="History").click()
    page.locator("#history-table").wait_for()
    return page.locator("#history-table").first.inner_text()


def _choose_model(page, title: str) -> None:
    page.locator("#model input").click()
    # The model list names each model's family first: "Image-to-video · Seedance ...".
    name = title if " · " in title else f"Image-to-video · {title}"
    page.get_by_role("option", name=name, exact=True).click()


def test_history_survives_a_reload_on_a_private_machine_and_a_restart_on_a_public_host(browser, local_api,
                                                                                          tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with serving(local_api, ledger) as (_, url):  # a private machine: the machine's whole ledger
        page = open_page(browser, url)
        _run_cheap(page)
        job = ledger.jobs()[0]
        page.reload()
        page.wait_for_selector("#run-button")
        _history_shows(page, job.request_id)
        page.context.close()

    port = free_port()
    with serving(local_api, ledger, public=True, port=port) as (_, url):
        mine = open_page(browser, url)
        _run_cheap(mine, seed=31337)
        paid = ledger.jobs()[0]
        assert paid.id != job.id and paid.session.startswith("b:")  # filed under the browser, not the tab
        mine.reload()
        _history_shows(mine, paid.request_id)
        assert job.request_id not in _history_text(mine)  # not this browser's: never shown on a public host
        stranger = open_page(browser, url)
        # Another visitor asks for the same video: the ledger serves it at $0.00 and it is a row of theirs.
        _run_cheap(stranger, seed=31337)
        assert "reused" in textbox_value(stranger, "cost")
        theirs = _history_text(stranger)
        assert "reused" in theirs and f"reuse of job {paid.id}" in theirs and "$0.00" in theirs
        assert paid.request_id not in theirs
        stranger.context.close()
    with serving(local_api, ledger, public=True, port=port) as (_, url):  # the app restarted
        mine.reload()
        mine.wait_for_selector("#run-button")
        _history_shows(mine, paid.request_id)
        assert "reused" not in _history_text(mine)
        mine.context.close()
    assert local_api.submits == 2


def test_reuse_of_a_v1_pro_fast_job_restores_its_model_and_every_label_follows(browser, local_api, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with serving(local_api, ledger) as (_, url):
        page = open_page(browser, url)
        _choose_model(page, V1_TITLE)
        _wait_text(page, "#page-header", "Seedance V1 Pro Fast")
        page.get_by_label("Prompt (required for this model)").wait_for()
        _upload(page, SAMPLES / "koi_pond.jpg")
        choose_480p_4s_silent(page) if page.get_by_label("Generate audio").is_visible() else None
        page.get_by_label("480p").check()
        page.get_by_label("Prompt (required for this model)").fill("the koi circle slowly")
        page.locator("#run-button").click()
        _wait_text(page, "#status-line", "Done")
        (job,) = ledger.jobs()
        assert job.model == V1_PRO_FAST

        _choose_model(page, "Seedance V1.5 Pro Image-to-Video Spicy")  # the form back on the default
        _wait_text(page, "#page-header", "Spicy")
        page.get_by_role("tab", name="History").click()
        page.get_by_role("spinbutton", name="Job").fill(str(job.id))
        page.get_by_role("button", name="Reuse parameters").click()
        _wait_text(page, "#page-header", "Seedance V1 Pro Fast")
        assert page.locator("#model input").input_value() == f"Image-to-video · {V1_TITLE}"  # its family first
        assert V1_PRO_FAST in page.locator("#page-header").inner_text()
        page.get_by_label("Prompt (required for this model)").wait_for()
        page.get_by_role("tab", name="Request").click()
        page.get_by_text(f"POST /api/v3/{V1_PRO_FAST}").wait_for()
        page.get_by_role("tab", name="Pricing").click()
        _wait_text(page, "#pricing-note", "V1 Pro Fast")
        assert "audio" not in page.locator("#pricing-table").inner_text()  # the model makes none

        # The prompt's label stays the model's when a sample is clicked.
        _choose_model(page, "Seedance V1.5 Pro Image-to-Video")
        page.get_by_label("Prompt (required for this model)").wait_for()
        page.locator("#samples button, #samples .gallery-item, #samples td").first.click()
        page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes("
                               "'koi') || t.value.includes('waves') || t.value.includes('Mist') || "
                               "t.value.includes('lanterns'))", timeout=30_000)
        time.sleep(1.0)  # what a reset would take to arrive
        # The label the page settles on is the model's (on a busy machine the relabel may come a while after).
        page.get_by_label("Prompt (required for this model)").wait_for(timeout=30_000)
        assert page.locator("#model input").input_value() == "Image-to-video · Seedance V1.5 Pro Image-to-Video"
        page.context.close()
    assert STANDARD != SPICY and local_api.submits == 1


def test_cancelling_an_8_clip_sweep_stops_within_2_s_and_its_summary_matches_the_ledger(browser, local_api_factory,
                                                                                         tmp_path):
    slow = local_api_factory(timing="realistic", speed=1.0, render="protocol", concurrency=8)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with serving(slow, ledger) as (_, url):
        page = open_page(browser, url)
        _upload(page, SAMPLES / "koi_pond.jpg")
        choose_480p_4s_silent(page)
        page.get_by_role("tab", name="Sweep").click()
        page.locator("#sweep-seeds textarea").fill("8")
        page.locator("#sweep-seeds textarea").press("Tab")
        _wait_text(page, "#sweep-run", "8 clips · $0.384")
        page.locator("#sweep-run").click()
        page.wait_for_function("() => (document.querySelector('#sweep-progress')?.innerText.match(/processing/g)"
                               " || []).length >= 4", timeout=60_000)
        t0 = time.monotonic()
        page.locator("#sweep-cancel").click()
        _wait_text(page, "#sweep-progress", "cancelled", timeout=30_000)
        page.locator("#sweep-run").wait_for(state="visible", timeout=30_000)
        stopped_s = time.monotonic() - t0
        summary = page.locator("#sweep-progress").inner_text()
        page.context.close()
    jobs = ledger.jobs()
    paid = sum(j.cost for j in jobs if j.status not in UNCHARGED)
    print(f"sweep cancel: stopped {stopped_s:.2f} s after the click; {len(jobs)} clips sent, ${paid:.3f}")
    assert stopped_s < 2.0, summary
    assert f"{len(jobs)} sent, ${paid:.3f}".replace(".000", ".00") in summary or f"{len(jobs)} sent" in summary
    assert f"jobs {', '.join(str(j.id) for j in sorted(jobs, key=lambda j: j.id))}" in summary
    assert f"{8 - len(jobs)} never sent" in summary and "waiting" not in summary
    assert re.search(rf"{len(jobs)} sent, \$[0-9.]+", summary).group(0).endswith(_usd(paid))
    assert slow.submits == len(jobs) >= 4


def _usd(value: float) -> str:
    from playground.pricing import format_usd

    return format_usd(value)


def _copied_code(page, elem_id: str) -> str:
    """What the Copy button of the code box ``elem_id`` puts on the clipboard: the script exactly as shown."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator(f"#{elem_id} button[aria-label=Copy]").click()
    return page.evaluate("() => navigator.clipboard.readText()")


def test_the_code_tabs_python_runs_as_shown_against_the_local_preview_and_carries_the_last_seed(browser, local_api,
                                                                                                 tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with serving(local_api, ledger) as (_, url):
        page = open_page(browser, url)
        _run_cheap(page)
        seed = textbox_value(page, "seed-used")
        page.get_by_role("tab", name="Code").click()
        _wait_text(page, "#code-note", f"**{seed}**".strip("*"))
        script = _copied_code(page, "code-python")
        page.context.close()
    assert local_api.url in script and "WAVESPEED_API_KEY" not in script
    assert f"'seed': {seed}," in script
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(SAMPLES / "koi_pond.jpg", work / "koi_pond.jpg")
    env = {k: v for k, v in os.environ.items() if k != "WAVESPEED_API_KEY"}
    done = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split()[0]
    assert (work / f"{task_id}.mp4").stat().st_size > 0
    assert local_api.submits == 2


def test_on_a_phone_the_video_is_in_view_after_run_without_scrolling(browser, local_api, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with serving(local_api, ledger) as (_, url):
        page = open_page(browser, url, width=390, height=844)
        _run_cheap(page)
        page.wait_for_function("() => !!document.querySelector('#output-video video')", timeout=30_000)
        box = page.locator("#output-video video").bounding_box()
        status = page.locator("#status-line").bounding_box()
        run = page.locator("#run-button").bounding_box()
        samples = page.locator("#samples").bounding_box()
        page.screenshot(path=str(tmp_path / "phone.png"))
        page.context.close()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    assert 0 <= status["y"] <= 844, status
    assert run["y"] < box["y"] < samples["y"]  # Run, then the result, then the samples
