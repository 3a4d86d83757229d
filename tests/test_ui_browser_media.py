"""A catalogue model that takes a clip, in a real browser (Playwright on Debian's chromium): the local API's
video-extend model picked from the list, a clip uploaded into its slot, its price, its run, and Reuse."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
from browser_support import choose_480p_4s_silent, client_factory_for, launched, open_page, run_button_text

from playground.caps import Caps
from playground.local.catalogue_data import V15_EXTEND
from playground.media import probe
from playground.ui import build_app

pytestmark = pytest.mark.browser


def _clip(path, seconds: int = 2, size: tuple[int, int] = (640, 360)):
    """A small clip to continue: a bar sweeping across a gradient, 24 frames a second."""
    w, h = size
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=24, macro_block_size=1)
    writer.send(None)
    for i in range(24 * seconds):
        frame = np.tile(np.linspace(40, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
        frame[:, (i * 12) % w:(i * 12) % w + 24] = (250, 180, 40)
        writer.send(np.ascontiguousarray(frame).tobytes())
    writer.close()
    return path


def _wait_text(page, selector: str, text: str, timeout: int = 180_000) -> None:
    page.wait_for_function(f"() => (document.querySelector({selector!r})?.innerText || '').includes({text!r})",
                           timeout=timeout)


@pytest.mark.full_render  # the extension is probed: the local API renders it
def test_a_video_extend_model_runs_from_the_form_with_an_uploaded_clip_and_reuse_puts_the_clip_back(
        browser, local_api, ledger, tmp_path):
    clip = _clip(tmp_path / "start.mp4")
    still = tmp_path / "still.mp4"  # a picture named as a clip: the browser lets it through, the server does not
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    with launched(demo) as app:
        page = open_page(browser, app.url)
        page.locator("#model input").click()
        page.get_by_role("option", name="Video-extend · Seedance V1.5 Pro Video Extend", exact=True).click()
        _wait_text(page, "#page-header", "Video Extend")
        page.get_by_label("Image URL").wait_for(state="hidden")  # it continues a clip: no first frame to give
        uploader = page.locator("#extra-video-0 input[type=file]")
        uploader.set_input_files(str(still))  # refused by the field's name as soon as it is uploaded
        page.get_by_text("video: still.mp4 is not a video file").first.wait_for(timeout=60_000)
        # The clip's own Clear (the field's error status has a Clear of its own, at the same place, beneath it).
        page.locator("#extra-video-0 [data-testid='video'] button[aria-label='Clear']").click()
        page.locator("#run-button").click()
        page.get_by_text("video: is required").first.wait_for(timeout=60_000)
        assert local_api.submits == 0
        uploader.set_input_files(str(clip))
        page.get_by_label("Prompt (required for this model)").fill("the bar keeps sweeping")
        choose_480p_4s_silent(page)
        page.wait_for_function("() => document.querySelector('#run-button').innerText === 'Run · $0.048'",
                               timeout=60_000)  # the local API's own price: 4 s at 480p without audio
        assert run_button_text(page) == "Run · $0.048"
        page.locator("#run-button").click()
        _wait_text(page, "#status-line", "Done")
        (job,) = ledger.jobs()
        assert (job.model, job.status, job.duration, job.resolution) == (V15_EXTEND, "completed", 4, "480p")
        assert job.params["video"].startswith("http")  # uploaded, then sent by its address
        info = probe(job.video_path)
        assert info.duration == pytest.approx(4.0, abs=0.2) and (info.width, info.height) == (864, 496)
        # Reuse from another model: the model comes back with its clip (by its uploaded address) in its slot.
        page.locator("#model input").click()
        page.get_by_role("option", name="Image-to-video · Seedance V1.5 Pro Image-to-Video Spicy",
                         exact=True).click()
        page.get_by_label("Image URL").wait_for(state="visible")
        page.locator("#extra-video-0-url").wait_for(state="hidden")
        page.get_by_role("tab", name="History").click()
        page.get_by_role("spinbutton", name="Job").fill(str(job.id))
        page.get_by_role("button", name="Reuse parameters").click()
        _wait_text(page, "#page-header", "Video Extend")
        page.wait_for_function("(url) => document.querySelector('#extra-video-0-url textarea, #extra-video-0-url "
                               "input')?.value === url", arg=job.params["video"], timeout=60_000)
    assert local_api.submits == 1
