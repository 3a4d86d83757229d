"""Helpers for the UI tests: free ports, the playground launched in-process against a local API, and Playwright
driving Debian's chromium (Playwright cannot download its own browser here).

Browser tests skip with a reason when /usr/bin/chromium is missing, unless PLAYGROUND_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port

CHROMIUM = Path(os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium"))
# Software compositing without emulated GL: a page with a looping clip cost chromium 11-17 CPU-s in 15 s, 5-7 this
# way (the same page, the video playing); test_ui_browser.py's chromium 51-53 CPU-s -> 47. Chromium's renderers are
# not the tests' children, so /usr/bin/time does not count them; a busy core slows the suite all the same.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-gpu-compositing", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SAMPLES = Path(__file__).resolve().parent.parent / "playground" / "samples"


def require_chromium() -> None:
    """Skip (or fail, when PLAYGROUND_REQUIRE_BROWSER=1) without a chromium to drive."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (tests/run.sh does) to run the browser tests"
    if os.environ.get("PLAYGROUND_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class RunningApp:
    """A playground launched in this process."""

    demo: object
    url: str

    @property
    def playground(self):
        return self.demo.playground


def launch_on(demo, port: int) -> str:
    """Launch ``demo`` on loopback ``port`` without blocking, as the page is served; its URL once it answers."""
    from playground.ui import launch_kwargs

    kwargs = launch_kwargs(demo)
    kwargs.pop("mcp_server", None)
    if "_frontend" in inspect.signature(demo.launch).parameters:
        # Gradio's own check that the page answers gives up after one 3 s wait, which a busy machine can pass while
        # it builds the page's config: the page is waited for here instead, as long as a loaded machine needs.
        kwargs["_frontend"] = False
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **kwargs)
    # Gradio's queue looks for work every 1 ms when idle on Linux (~10% of a core per open app, for as long as a test
    # keeps it open); every 50 ms, as gradio itself does on Windows, delays an event by 50 ms at most.
    if hasattr(getattr(demo, "_queue", None), "sleep_when_free"):
        demo._queue.sleep_when_free = 0.05
    url = f"http://127.0.0.1:{port}/"
    _wait_until_served(url + "config")
    return url


@contextlib.contextmanager
def launched(demo) -> Iterator[RunningApp]:
    """Launch ``demo`` on a free loopback port without blocking; close it afterwards."""
    for attempt in range(5):
        # A free port can be taken by another worker's process between finding it and binding it: take another.
        try:
            url = launch_on(demo, free_port())
            break
        except OSError:
            if attempt == 4:
                raise
    try:
        yield RunningApp(demo, url)
    finally:
        demo.close()


def _wait_until_served(url: str, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=30).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s"
        time.sleep(0.2)


def client_factory_for(server, local_key: str = "local-preview"):
    """A ``client_factory`` that aims both backends at ``server``: the "API" is a local API too."""
    from playground.client import Client, PollSchedule

    # The contract's typical times would hold the first poll back for seconds; a local API is faster than that.
    # (Not support.fast_poll: a page on a busy machine keeps up better with a few updates a second.)
    poll = PollSchedule(floor=0.2, max_gap=0.5)

    def factory(kind: str, key: str) -> Client:
        if kind == "local":
            return Client(api_key=local_key, base_url=server.url, backend_id="local", poll=poll)
        return Client(api_key=key, base_url=server.url, poll=poll)

    return factory


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless chromium browser (Playwright's sync API)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, *, width: int = 1400, height: int = 1100):
    """A new context and page on ``url``, waiting until the app has rendered and loaded."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(120_000)  # waits are for events: generous, so that a busy machine only slows them
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#run-button", timeout=120_000)
    # The load events fill the backend line; wait for it so later changes are not overwritten.
    page.wait_for_function("() => document.querySelector('#backend-line')?.innerText.includes('In use')",
                           timeout=120_000)
    return page


def run_button_text(page) -> str:
    return page.locator("#run-button").inner_text().strip()


def choose_480p_4s_silent(page) -> None:
    """Resolution 480p, duration 4 s, audio off: the cheapest clip ($0.048)."""
    page.get_by_label("480p").check()
    set_slider(page, "Duration (s)", 4)
    audio = page.get_by_label("Generate audio")
    if audio.is_checked():
        audio.uncheck()


def set_slider(page, label: str, value: int) -> None:
    """Type a value into a Gradio slider's number box (the range input does not take fill())."""
    block = page.locator(".block", has=page.get_by_text(label, exact=True)).first
    box = block.locator("input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def wait_for_text(page, selector: str, predicate_js: str, timeout: float = 180_000) -> None:
    page.wait_for_function(f"() => {{ const el = document.querySelector({selector!r}); "
                           f"return !!el && ({predicate_js})(el); }}", timeout=timeout)


def textbox_value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first.input_value()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
