"""The Seedance family, draft to final and sweeps, in a real browser (Playwright on Debian's chromium)."""

from __future__ import annotations

import pytest
from browser_support import (
    SAMPLES,
    choose_480p_4s_silent,
    client_factory_for,
    launched,
    open_page,
    run_button_text,
)
from playwright.sync_api import expect
from support import call

from playground.caps import Caps
from playground.contract import SPICY
from playground.media import probe
from playground.ui import build_app

pytestmark = pytest.mark.browser


def _app(server, ledger):
    return build_app(client_factory=client_factory_for(server), ledger=ledger, caps=Caps(), owner_key=""), ledger


def _upload(page, path) -> None:
    page.locator("input[type=file]").first.set_input_files(str(path))


def _choose_model(page, title: str) -> None:
    page.locator("#model input").click()
    # The model list names each model's family first: "Image-to-video · Seedance ...".
    name = title if " · " in title else f"Image-to-video · {title}"
    page.get_by_role("option", name=name, exact=True).click()


def _wait_text(page, selector: str, text: str, timeout: int = 180_000) -> None:
    page.wait_for_function(f"() => (document.querySelector({selector!r})?.innerText || '').includes({text!r})",
                           timeout=timeout)


def test_switching_model_changes_the_visible_fields_and_the_run_price(browser, local_api, ledger):
    demo, _ = _app(local_api, ledger)
    with launched(demo) as app:
        page = open_page(browser, app.url)
        choose_480p_4s_silent(page)
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · $0.048'")
        assert page.get_by_label("Generate audio").is_visible()
        assert page.get_by_text("Last frame (optional)").is_visible()

        _choose_model(page, "Seedance V1 Pro Fast Image-to-Video")
        page.get_by_label("Generate audio").wait_for(state="hidden")
        page.get_by_text("Last frame (optional)").wait_for(state="hidden")
        page.get_by_label("Prompt (required for this model)").wait_for()
        # Its price is not confirmed by the vendor: the button says it is an estimate.
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · ~$0.048'")

        _choose_model(page, "Seedance V1.5 Pro Image-to-Video Fast")
        page.get_by_label("480p").wait_for(state="detached")
        assert page.get_by_label("720p").is_checked()
        page.get_by_label("Generate audio").wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · ~$0.104'")
        assert run_button_text(page) == "Run · ~$0.104"
    assert local_api.submits == 0


@pytest.mark.full_render
def test_a_480p_draft_then_render_final_at_1080p_keeps_the_seed_and_history_shows_both(browser, local_api, ledger):
    demo, ledger = _app(local_api, ledger)
    with launched(demo) as app:
        page = open_page(browser, app.url)
        _upload(page, SAMPLES / "sunset_beach.jpg")
        choose_480p_4s_silent(page)
        page.get_by_label("Seed (-1: random)").fill("4242")
        page.get_by_label("Seed (-1: random)").press("Tab")
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · $0.048'")
        page.locator("#run-button").click()
        _wait_text(page, "#status-line", "Done")
        page.locator("#final-button").wait_for(state="visible")
        assert page.get_by_label("1080p").last.is_checked()
        _wait_text(page, "#final-button", "Render final · $0.208")
        page.locator("#final-button").click()
        _wait_text(page, "#status-line", "Final of job", timeout=300_000)
        draft, final = sorted(ledger.jobs(), key=lambda j: j.id)
        assert (final.draft_of, final.seed, final.resolution, final.model) == (draft.id, 4242, "1080p", SPICY)
        info = probe(final.video_path)
        assert (info.width, info.height) == (1920, 1080)
        assert draft.seed == 4242 and draft.resolution == "480p"
        page.get_by_role("tab", name="History").click()
        _wait_text(page, "#history-table", f"job {draft.id}")  # the final's row names its draft
        text = page.locator("#history-table").first.inner_text()
        assert "1080p" in text and "480p" in text and text.count("4242") == 2
    assert local_api.submits == 2


def _start_sweep(browser, url: str, seeds: str, label: str):
    """A page with the koi sample at 480p, 4 s, silent, whose Sweep tab was started for ``seeds`` once its button
    showed ``label``."""
    page = open_page(browser, url)
    _upload(page, SAMPLES / "koi_pond.jpg")
    choose_480p_4s_silent(page)
    page.get_by_role("tab", name="Sweep").click()
    page.locator("#sweep-seeds textarea").fill(seeds)
    page.locator("#sweep-seeds textarea").press("Tab")
    _wait_text(page, "#sweep-run", label)
    page.locator("#sweep-run").click()
    return page


def test_a_sweep_of_4_seeds_shows_4_clips_a_contact_sheet_and_the_tiled_video(browser, local_api, ledger):
    demo, ledger = _app(local_api, ledger)
    with launched(demo) as app:
        page = _start_sweep(browser, app.url, "4", "4 clips · $0.192")
        page.wait_for_function("() => document.querySelectorAll('#sweep-gallery img, #sweep-gallery video')"
                               ".length >= 4", timeout=240_000)
        page.locator("#sweep-sheet img").wait_for(timeout=120_000)
        page.locator("#sweep-tiled video").wait_for(timeout=120_000)
        _wait_text(page, "#sweep-progress", "4 clips · 4 sent, $0.192")
        _wait_text(page, "#sweep-progress", "4 done")
        assert sorted(j.seed for j in ledger.jobs()) == [1, 2, 3, 4]
    assert local_api.submits == 4


def test_cancelling_a_sweep_midway_sends_nothing_more_and_keeps_what_was_paid(browser, local_api_factory, ledger):
    slow = local_api_factory(timing="realistic", speed=1.0, render="protocol", concurrency=8)
    demo, ledger = _app(slow, ledger)
    with launched(demo) as app:
        page = _start_sweep(browser, app.url, "8", "8 clips")
        page.wait_for_function("() => (document.querySelector('#sweep-progress')?.innerText.match(/processing/g)"
                               " || []).length >= 4", timeout=180_000)
        page.locator("#sweep-cancel").click()
        page.locator("#sweep-run").wait_for(state="visible", timeout=120_000)
        sent = slow.submits
        assert sent == 4  # four at the API at once; the other four were never sent
        jobs = ledger.jobs()
        assert len(jobs) == 4 and all(j.request_id and j.unfinished for j in jobs)  # each can be resumed
    assert slow.submits == sent


def test_extend_under_a_finished_video_shows_its_price_then_the_extension_linked_in_history(browser, local_api,
                                                                                          ledger):
    demo, ledger = _app(local_api, ledger)
    with launched(demo) as app:
        page = open_page(browser, app.url)
        _upload(page, SAMPLES / "sunset_beach.jpg")
        choose_480p_4s_silent(page)
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · $0.048'")
        page.locator("#run-button").click()
        _wait_text(page, "#status-line", "Done")
        _wait_text(page, "#extend-button", "Extend · $0.12")  # 480p as the clip, 5 s, with audio
        page.locator("#extend-prompt textarea").fill("the wave breaks on the sand")
        page.locator("#extend-button").click()
        _wait_text(page, "#status-line", "Extension of job 1 done")
    draft, extension = ledger.jobs()[1], ledger.jobs()[0]
    assert extension.model == "bytedance/seedance-v1.5-pro/video-extend" and extension.extends == draft.id
    assert (extension.seed, extension.resolution, extension.params["prompt"]) == (
        draft.seed, "480p", "the wave breaks on the sand")


LUMEN = "acme/lumen-v1/text-to-video"


def lumen() -> dict:
    """A text-to-video model only this test's catalogue serves: a required prompt, 1-3 s, one resolution, a seed,
    and two fields of its own: an optional glow (a number) and a required style (a choice)."""
    properties = {"prompt": {"type": "string", "title": "Prompt"},
                  "duration": {"type": "integer", "minimum": 1, "maximum": 3, "default": 2},
                  "resolution": {"type": "string", "enum": ["480p"], "default": "480p"},
                  "glow": {"type": "number", "title": "Glow", "minimum": 0, "maximum": 1, "default": 0.5,
                           "description": "How brightly the light blooms"},
                  "style": {"type": "string", "title": "Style", "enum": ["ink", "oil"]},
                  "seed": {"type": "integer", "minimum": -1, "maximum": 2147483647, "default": -1}}
    return {"model_id": LUMEN, "name": "Lumen", "description": "Light from words.", "type": "text-to-video",
            "base_price": 0.1, "sort_order": 1,
            "api_schema": {"api_schemas": [{"type": "model_run", "request_schema": {
                "type": "object", "properties": properties, "required": ["prompt", "style"],
                "x-order-properties": list(properties)}}]}}


def test_a_model_only_the_test_catalogue_serves_gets_its_form_its_message_its_price_and_a_run(browser,
                                                                                            local_api_factory,
                                                                                            ledger):
    server = local_api_factory(timing="instant", extra_models=[lumen()])
    demo, ledger = _app(server, ledger)
    with launched(demo) as app:
        page = open_page(browser, app.url)
        page.locator("#model input").click()
        page.get_by_role("option", name="Text-to-video · Lumen", exact=True).click()
        _wait_text(page, "#page-header", "Lumen")
        page.get_by_label("Image URL").wait_for(state="hidden")  # text-to-video: no picture to give
        page.get_by_label("Prompt (required for this model)").wait_for()
        page.get_by_label("Style (required)").wait_for()  # its own fields take slots of the form
        page.locator("#run-button").click()
        page.get_by_text("prompt: is required").first.wait_for(timeout=60_000)
        assert server.submits == 0
        page.get_by_label("Prompt (required for this model)").fill("a lantern lights up")
        assert page.get_by_label("Glow").input_value() == "0.5"  # the schema's default
        page.get_by_label("Glow").fill("0.8")
        style_missing = page.get_by_text("style: is required")
        before = style_missing.count()
        page.locator("#run-button").click()
        expect(style_missing).to_have_count(before + 1, timeout=60_000)  # this click's message names it
        assert server.submits == 0
        page.locator("#extra-choice-0 input").click()
        page.get_by_role("option", name="oil", exact=True).click()
        page.wait_for_function("() => document.querySelector('#run-button')?.innerText === 'Run · $0.06'",
                               timeout=60_000)  # the API's price: 0.1 x 3 s / 5 (5 s kept within 1-3)
        page.locator("#run-button").click()
        _wait_text(page, "#status-line", "Done")
    (job,) = ledger.jobs()
    assert (job.model, job.status, job.params["prompt"], job.duration) == (LUMEN, "completed",
                                                                            "a lantern lights up", 3)
    assert job.charged_usd == pytest.approx(0.06)
    # What the API itself received, from its own task list.
    (task,) = call(server, "POST", "/api/v3/predictions", key="local-preview",
                   json={"model": LUMEN}).json()["data"]["items"]
    assert (task["input"]["style"], task["input"]["glow"]) == ("oil", 0.8)
