"""What the page says, from pure functions: the price on Run, the request before it is sent, the snippets."""

from __future__ import annotations

from playground.session import RunForm
from playground.ui import present

UPLOAD = {"path": "/tmp/gradio/4f1e9a/holiday photo.png", "meta": {"_type": "gradio.FileData"}}
CHEAP = {"resolution": "480p", "duration": 4, "generate_audio": False}


def test_the_run_button_shows_the_batchs_price():
    assert present.price_label(CHEAP, 1) == "Run · $0.048"
    assert present.price_label(CHEAP, 3) == "Run ×3 · $0.144"


def test_the_request_before_run_names_uploads_without_the_servers_folders():
    form = RunForm(image=UPLOAD, prompt="  ", last_image=UPLOAD, seed=5.0, **CHEAP)
    body = present.request_preview(form)
    assert body == {"image": "<uploaded on Run>", "last_image": "<uploaded on Run>", "seed": 5, **CHEAP}
    params = present.snippet_params(form)
    assert params["image"] == params["last_image"] == "holiday photo.png"
    assert "/tmp/gradio" not in repr(params) and "/tmp/gradio" not in repr(body)
    assert present.snippet_params(RunForm(image_url=" https://x.example/a.png ", **CHEAP))["image"] == \
        " https://x.example/a.png "
    assert present.snippet_params(RunForm(**CHEAP))["image"] == "cat.png"


def test_the_pricing_tab_has_a_row_per_duration_and_a_column_per_resolution_and_audio():
    frame = present.pricing_frame()
    assert list(frame["seconds"]) == list(range(4, 13))
    assert frame.loc[frame["seconds"] == 4, "480p · silent"].item() == "$0.048"


def test_an_nsfw_output_is_announced_as_the_host_decided():
    assert present.nsfw_notice(False, True) == ""
    assert "hides such outputs" in present.nsfw_notice(True, True)
    assert "not played automatically" in present.nsfw_notice(True, False)


def _result(seed: int, completed_by: str = ""):
    from pathlib import Path

    from playground.contract import SPICY
    from playground.pipeline import Result

    return Result(seed, f"task-{seed}", SPICY, {}, seed, 0.048, Path(f"v{seed}.mp4"), "https://cdn/v.mp4", False, 900,
                  2.0, completed_by=completed_by)


def test_the_status_line_says_when_the_webhook_completed_the_run():
    from playground.session import RunOutcome

    pushed = present.done_line(RunOutcome(results=[_result(1, "webhook")], wall_s=3.2), "the host's key")
    assert pushed == "Done in 3.2 s · 1 video · $0.048 on the host's key · completed by webhook"
    polled = present.done_line(RunOutcome(results=[_result(1)], wall_s=3.2), "the host's key")
    assert "webhook" not in polled
    mixed = present.done_line(RunOutcome(results=[_result(1, "webhook"), _result(2)], wall_s=3.2), "x")
    assert mixed.endswith("· 1 of 2 completed by webhook")
