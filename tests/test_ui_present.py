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


def test_the_heading_and_the_price_table_follow_the_model():
    from playground.contract import FAST, STANDARD, V1_PRO_FAST

    assert present.header_text(V1_PRO_FAST).startswith("# Seedance V1 Pro Fast · Image-to-Video\n")
    assert V1_PRO_FAST in present.header_text(V1_PRO_FAST) and "2-12 s video." in present.header_text(V1_PRO_FAST)
    assert "Spicy" in present.header_text("not a model")
    v1 = present.pricing_frame(V1_PRO_FAST)
    assert list(v1.columns) == ["seconds", "480p", "720p", "1080p"] and list(v1["seconds"])[0] == 2
    assert all(cell.startswith("~$") for cell in v1["480p"])  # the vendor does not confirm it: estimates
    assert "480p · audio" not in present.pricing_frame(FAST)  # 720p and 1080p only
    standard = present.pricing_frame(STANDARD)
    assert standard.loc[0, "720p · audio"] == "$0.208" and standard.loc[0, "1080p · audio"] == "~$0.416"
    assert "makes no audio" in present.pricing_note(V1_PRO_FAST)


def test_a_history_row_says_where_it_comes_from():
    from playground.jobs import Job

    base = dict(created_at=0.0, updated_at=0.0, sent_at=None, finished_at=None, base_url="local", account="",
                session="b:1", model="bytedance/seedance-v1.5-pro/image-to-video-spicy", params={"prompt": "p"},
                fingerprint="f", seed=7, resolution="480p", duration=4, audio=False, cost=0.0, status="reused",
                request_id=None, outputs=[], nsfw=[], inference_ms=None, error="", error_code=None, video_path=None)
    rows = present.history_rows([Job(id=9, reused_from=3, **base), Job(id=10, draft_of=9, **base)])
    assert rows[0][-1] == "reuse of job 3" and rows[1][-1] == "final of job 9"
    assert present.HISTORY_HEADERS[-1] == "from"


def test_a_cancel_before_anything_was_sent_says_so():
    from playground.session import RunOutcome

    assert "before anything was sent" in present.cancelled_line(RunOutcome(cancelled_jobs=[0], wall_s=1.0))
    assert "job 4 is in History" in present.cancelled_line(RunOutcome(cancelled_jobs=[4], wall_s=1.0))


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
