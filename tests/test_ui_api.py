"""The playground's named endpoints through gradio_client, against a local API started by the test."""

from __future__ import annotations

import pytest
import requests
from browser_support import SAMPLES, client_factory_for, launched
from gradio_client import Client as GradioClient
from gradio_client import handle_file
from support import SLOW_OK

from playground.caps import Caps
from playground.contract import output_size
from playground.local import LocalConfig, start_server
from playground.media import probe
from playground.pricing import quote
from playground.ui import build_app

SPICY_SAMPLE = SAMPLES / "sunset_beach.jpg"  # 1280x720: 16:9
OWNER_KEY = "owner-key-do-not-leak-7f3a"


@pytest.fixture
def app(local_api, tmp_path, ledger):
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger,
                     caps=Caps(), owner_key="")
    with launched(demo) as running:
        yield running


@pytest.mark.full_render
def test_generate_returns_an_mp4_of_the_contracts_size(app, local_api):
    client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    video, details = client.predict(image=handle_file(str(SPICY_SAMPLE)), prompt="slow zoom in", duration=4,
                                    resolution="480p", generate_audio=False, api_name="/generate")
    info = probe(video)
    assert (info.width, info.height) == output_size("480p", image_size=(1280, 720)) == (864, 496)
    assert info.frames == 4 * 24 and not info.has_audio and info.video_codec == "h264"
    assert details["cost_usd"] == pytest.approx(0.048) and details["request_id"] and details["seed"] >= 0
    assert local_api.submits == 1


def test_price_matches_the_pricing_module(app):
    client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    for resolution, duration, audio in (("480p", 4, False), ("720p", 5, True), ("1080p", 12, True)):
        got = client.predict(resolution=resolution, duration=duration, generate_audio=audio, api_name="/price")
        assert got == pytest.approx(quote("bytedance/seedance-v1.5-pro/image-to-video-spicy",
                                          {"resolution": resolution, "duration": duration,
                                           "generate_audio": audio}).usd)


def test_only_the_four_named_endpoints_are_public(app):
    info = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK).view_api(print_info=False, return_format="dict")
    assert sorted(info["named_endpoints"]) == ["/generate", "/price", "/render_final", "/sweep"]
    assert not info["unnamed_endpoints"]


def test_a_bad_image_is_refused_by_name_before_anything_is_sent(app, local_api, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    with pytest.raises(Exception, match="image: .*is not an image"):
        client.predict(image=handle_file(str(notes)), resolution="480p", duration=4, api_name="/generate")
    assert local_api.count("POST", "/api/v3/") == 0


def test_the_hosts_daily_cap_refuses_the_second_job(local_api, ledger):
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger,
                     caps=Caps(max_cost_per_day=0.10), owner_key=OWNER_KEY)
    with launched(demo) as running:
        client = GradioClient(running.url, verbose=False, httpx_kwargs=SLOW_OK)
        job = dict(image=handle_file(str(SPICY_SAMPLE)), resolution="480p", duration=5, generate_audio=True,
                   api_name="/generate")
        video, details = client.predict(**job)
        assert details["cost_usd"] == pytest.approx(0.12)
        with pytest.raises(Exception, match=r"daily budget of \$0\.10"):
            client.predict(**job)
        config = requests.get(running.url + "config", timeout=10).text
    assert local_api.submits == 1
    assert local_api.balance(OWNER_KEY) == pytest.approx(10.0 - 0.12)
    assert ledger.spent() == pytest.approx(0.12)
    assert OWNER_KEY not in config


def test_nsfw_outputs_are_flagged_and_hidden_when_the_host_says_so(ledger):
    with start_server(LocalConfig(timing="instant", faults="task:nsfw", render="protocol")) as server:
        demo = build_app(client_factory=client_factory_for(server), ledger=ledger,
                         caps=Caps(hide_nsfw=True), owner_key="")
        with launched(demo) as running:
            video, details = GradioClient(running.url, verbose=False, httpx_kwargs=SLOW_OK).predict(
                image=handle_file(str(SPICY_SAMPLE)), resolution="480p", duration=4, generate_audio=False,
                api_name="/generate")
    assert details["nsfw"] is True
    assert video is None


def test_the_mcp_server_is_on_only_when_gradio_mcp_is_installed():
    import importlib.util

    from playground.ui import launch_kwargs

    assert launch_kwargs().get("mcp_server", False) == (importlib.util.find_spec("mcp") is not None)


def test_every_parameter_of_the_four_tools_is_described_for_mcp_and_api_clients(ledger):
    """What gradio[mcp] shows an agent for each tool is read from the function's docstring, by the same Gradio
    function the MCP server calls: every parameter a caller gives has its sentence."""
    from gradio.utils import get_function_description

    demo = build_app(ledger=ledger, caps=Caps(), owner_key="")
    public = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name in ("generate", "price", "render_final",
                                                                             "sweep")}
    assert set(public) == {"generate", "price", "render_final", "sweep"}
    for name, fn in public.items():
        description, parameters, _ = get_function_description(fn.fn)
        given = {p: text for p, text in parameters.items() if p != "request"}
        assert description and len(given) >= 3, name
        assert all(len(text) > 10 for text in given.values()), (name, {p: t for p, t in given.items() if not t})
    assert "a count" in get_function_description(public["sweep"].fn)[1]["seeds"]
    assert "job_id" in get_function_description(public["render_final"].fn)[1]["job_id"]


def test_deleting_a_finished_job_from_the_apis_history_promises_no_stop_or_refund(local_api, ledger):
    from playground.session import LOCAL_LABEL
    from playground.ui import handlers

    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger,
                     caps=Caps(), owner_key="")
    pg, page = demo.playground, demo.page
    outcome = pg.run(str(SPICY_SAMPLE), None, None, {"resolution": "480p", "duration": 4, "generate_audio": False},
                     batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    job_id = outcome.results[0].job_id
    shown = handlers.cancel_remote(pg, page, job_id, "", "s1", None)  # returns, no error toast
    note = shown[page.history.note]
    assert note.startswith(f"Deleted task {outcome.results[0].request_id} (job {job_id}) from the API's history")
    assert "cancel" not in note and "refund" not in note  # a finished job: nothing to stop
    assert local_api.count("POST", "/api/v3/predictions/delete") == 1 and ledger.get(job_id).has_video


def test_extend_under_a_finished_video_is_priced_on_its_button_and_linked_in_history(local_api, ledger):
    from playground.session import LOCAL_LABEL
    from playground.ui import final

    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    pg, page = demo.playground, demo.page
    outcome = pg.run(str(SPICY_SAMPLE), None, None, {"resolution": "480p", "duration": 4, "generate_audio": False},
                     batch=1, payer=pg.payer(LOCAL_LABEL, ""), session="s1")
    clip = outcome.results[0]
    assert final.offer(pg, page, clip.job_id, "s1", "")[page.final.extend_run] == "Extend · $0.12"  # 480p, 5 s
    priced = final.extend_price(pg, page, clip.job_id, "the wave breaks", 4, "", "s1", None)
    assert priced[page.final.extend_run]["value"] == "Extend · $0.096"

    shown = final.extend(pg, page, clip.job_id, "the wave breaks", 4, "", "s1", None)
    row = ledger.jobs()[0]
    assert (row.model, row.extends, row.seed, row.resolution) == (
        "bytedance/seedance-v1.5-pro/video-extend", clip.job_id, clip.seed, "480p")
    assert shown[page.output.status].startswith(f"Extension of job {clip.job_id} done")
    assert probe(shown[page.output.video]["value"]).video_codec == "h264"
    table = shown[page.history.table]["value"] if isinstance(shown[page.history.table], dict) else None
    assert table is None or any(f"extends job {clip.job_id}" in str(r) for r in table)
    with pytest.raises(Exception, match="prompt: is required"):
        final.extend(pg, page, row.id, "", 4, "", "s1", None)
    assert len(ledger.jobs()) == 2  # the refusal sent nothing
