"""The playground as a newcomer starts it: `python app.py` in the checkout, an ordinary home folder (not under the
temp dir), no PLAYGROUND_HOME and no key. The video must reach both the API client and the page; stopped as a
Space, Docker or systemd stops it (SIGTERM), the app cleans up like Ctrl+C (one app start for all three: starting
Gradio is the costly part)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser_support import SAMPLES, choose_480p_4s_silent, free_port, open_page
from install_support import ROOT, newcomer_env, newcomer_home
from PIL import Image
from support import end, spawn

from playground.contract import output_size
from playground.media import probe

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def app_as_a_newcomer_starts_it() -> Iterator[tuple[str, Path, subprocess.Popen, Path]]:
    """The app's URL, the newcomer's home, its process and its temp folder (TMPDIR: where Gradio and the embedded
    local API keep their files)."""
    home = newcomer_home()
    port = free_port()
    scratch = home / "tmp"
    scratch.mkdir()
    env = newcomer_env(home, GRADIO_SERVER_PORT=str(port), TMPDIR=str(scratch))
    log = home / "app.log"
    with open(log, "wb") as out:
        proc = spawn([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(url, timeout=2).ok:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the app did not answer within 300 s:\n" + log.read_text())
        yield url, home, proc, scratch
    finally:
        end(proc)
        shutil.rmtree(home, ignore_errors=True)


def test_a_newcomer_gets_the_video_from_the_api_endpoint_and_from_the_run_button_and_sigterm_cleans_up(browser):
    from gradio_client import Client, handle_file

    with app_as_a_newcomer_starts_it() as (url, home, proc, scratch):
        outputs = home / ".local" / "share" / "seedance-playground" / "outputs"
        video, details = Client(url, verbose=False).predict(
            image=handle_file(str(SAMPLES / "koi_pond.jpg")), prompt="static camera", resolution="480p", duration=4,
            generate_audio=False, seed=11, api_name="/generate")
        info = probe(video)
        assert info.frames == 96 and info.video_codec == "h264"
        assert details["seed"] == 11 and details["cost_usd"] == pytest.approx(0.048)
        assert [p.name for p in outputs.glob("*.mp4")], "the video is kept in the newcomer's home"

        page = open_page(browser, url)
        page.locator("[data-testid='dataset-cell-3-0']").click()  # the koi pond sample, with its prompt
        page.wait_for_function("() => [...document.querySelectorAll('textarea')]"
                               ".some(t => t.value.startsWith('The koi swim'))", timeout=120_000)
        choose_480p_4s_silent(page)
        page.locator("#run-button").click()
        page.wait_for_function("() => /^(Done|Stopped)/.test(document.querySelector('#status-line').innerText)",
                               timeout=300_000)
        status = page.locator("#status-line").inner_text()
        assert status.startswith("Done"), status
        page.wait_for_function("() => { const v = document.querySelector('#output-video video');"
                               " return !!v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=120_000)
        with Image.open(SAMPLES / "koi_pond.jpg") as picture:
            width, _ = output_size("480p", image_size=picture.size)
        assert page.locator("#output-video video").evaluate("v => v.videoWidth") == width
        assert "Error" not in " ".join(page.locator(".toast-body").all_inner_texts())
        assert len(list(outputs.glob("*.mp4"))) == 2
        page.context.close()

        assert list(scratch.glob("playground-local-*")), "the embedded local API keeps its files in TMPDIR"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) != -signal.SIGTERM  # ended by Python, not killed by the signal
        assert list(scratch.glob("playground-local-*")) == []
