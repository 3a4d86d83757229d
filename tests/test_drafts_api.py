"""Drafts, finals and sweeps: the session service (playground.drafts) and the /render_final and /sweep endpoints
through gradio_client, against a local API over real HTTP."""

from __future__ import annotations

import pytest
from browser_support import SAMPLES, client_factory_for, launched
from gradio_client import Client as GradioClient
from gradio_client import handle_file
from PIL import Image
from support import SLOW_OK

from playground.caps import Caps
from playground.contract import FAST, SPICY, STANDARD, V1_PRO_FAST, output_size
from playground.drafts import parse_seeds, plan_sweep
from playground.errors import ValidationError
from playground.media import probe
from playground.pricing import estimate_cost
from playground.session import RunForm
from playground.ui import build_app

IMAGE = SAMPLES / "koi_pond.jpg"
DRAFT = {"prompt": "the koi swim", "resolution": "480p", "duration": 4, "generate_audio": False, "seed": 7}


@pytest.fixture
def app(local_api, ledger):
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger,
                     caps=Caps(), owner_key="")
    with launched(demo) as running:
        yield running


def test_a_sweep_plan_is_seeds_times_models_each_checked_and_priced():
    form = RunForm(prompt="pan left", resolution="720p", duration=4, generate_audio=True)
    plan = plan_sweep(form, "3", [SPICY, STANDARD])
    assert [(job.model, job.seed) for job in plan.jobs] == [(SPICY, 1), (SPICY, 2), (SPICY, 3), (STANDARD, 1),
                                                     (STANDARD, 2), (STANDARD, 3)]
    assert plan.total == pytest.approx(6 * estimate_cost(SPICY, {"resolution": "720p", "duration": 4}))
    # Seedance 1.0 has no audio: the field is left out for it, not refused.
    v1 = plan_sweep(form, "1, 9", [V1_PRO_FAST])
    assert all("generate_audio" not in job.params for job in v1.jobs) and [job.seed for job in v1.jobs] == [1, 9]
    with pytest.raises(ValidationError, match=r"resolution: .* \(V1.5 Pro Fast\)"):
        plan_sweep(RunForm(prompt="x", resolution="480p", duration=4), "2", [SPICY, FAST])
    with pytest.raises(ValidationError, match="prompt"):
        plan_sweep(RunForm(resolution="720p", duration=4), "2", [STANDARD])
    assert parse_seeds("4") == [1, 2, 3, 4] and parse_seeds("42, 7") == [42, 7]
    with pytest.raises(ValidationError, match="seeds"):
        parse_seeds("four")


@pytest.mark.full_render
def test_render_final_re_renders_the_draft_at_1080p_with_its_seed_for_its_own_visitor_only(app, local_api):
    client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    _, draft = client.predict(image=handle_file(str(IMAGE)), **DRAFT, api_name="/generate")
    video, final = client.predict(job_id=draft["job_id"], resolution="1080p", duration=4, api_name="/render_final")
    info = probe(video)
    square = output_size("1080p", image_size=Image.open(IMAGE).size)  # the sample is square: 1:1 at 1080p
    assert (info.width, info.height, info.frames) == (*square, 96) == (1440, 1440, 96)
    assert final["seed"] == 7 and final["draft_of"] == draft["job_id"]
    assert final["params"]["image"] == draft["params"]["image"]  # the uploaded image, not uploaded again
    row = app.playground.ledger.get(final["job_id"])
    assert row.draft_of == draft["job_id"] and row.resolution == "1080p" and row.model == SPICY
    assert local_api.count_endpoint("upload") == 2  # the ticket and its PUT, once, for the draft
    stranger = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    with pytest.raises(Exception, match="not in your history"):
        stranger.predict(job_id=draft["job_id"], resolution="1080p", duration=4, api_name="/render_final")
    assert local_api.submits == 2


def test_the_sweep_endpoint_runs_seeds_by_models_and_returns_the_tiled_video_sheet_and_rows(app, local_api):
    client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
    tiled, sheet, rows = client.predict(image=handle_file(str(IMAGE)), prompt="ripples spread", seeds="2",
                                        models=[SPICY, FAST], duration=4, resolution="720p", generate_audio=False,
                                        api_name="/sweep")
    assert [(r["model"], r["seed"]) for r in rows] == [(SPICY, 1), (SPICY, 2), (FAST, 1), (FAST, 2)]
    assert all(r["cost_usd"] == estimate_cost(r["model"], {"resolution": "720p", "duration": 4,
                                                            "generate_audio": False}) for r in rows)
    assert probe(tiled).video_codec == "h264" and sheet.endswith(".png")
    assert local_api.submits == 4


@pytest.mark.parametrize(("caps", "max_sweep", "refusal"), [
    (Caps(), "0.1", "over the maximum of $0.10 per sweep"),
    (Caps(max_cost_per_session=0.1), "5", "$0.10 is left of this browser's budget"),
    (Caps(max_resolution="480p"), "5", "up to 480p"),
], ids=["max per sweep", "session budget", "resolution cap"])
def test_a_sweep_on_the_host_key_over_a_limit_is_refused_whole_before_anything_is_sent(local_api, ledger,
                                                                                       monkeypatch, caps, max_sweep,
                                                                                       refusal):
    monkeypatch.setenv("PLAYGROUND_MAX_SWEEP_COST", max_sweep)
    demo = build_app(client_factory=client_factory_for(local_api), ledger=ledger, caps=caps, owner_key="host-key")
    resolution = "720p" if caps.max_resolution else "480p"
    with launched(demo) as app:
        client = GradioClient(app.url, verbose=False, httpx_kwargs=SLOW_OK)
        with pytest.raises(Exception, match=refusal.replace("$", r"\$")):
            client.predict(image=handle_file(str(IMAGE)), prompt="x", seeds="3", models=[SPICY], duration=4,
                           resolution=resolution, generate_audio=False, api_name="/sweep")
    assert local_api.submits == 0


def test_the_run_price_with_a_key_is_the_vendors_asked_once_per_model_and_setting(local_api, ledger):
    from playground.session import API_LABEL, LOCAL_LABEL, Playground

    pg = Playground(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(), owner_key="")
    mine = pg.payer(API_LABEL, "my-key")
    cheap = {"resolution": "480p", "duration": 4, "generate_audio": False, "seed": 3}
    first = pg.quote(SPICY, cheap, mine)
    assert (first.usd, first.confirmed, first.source) == (0.048, True, "live price from the API")
    assert pg.quote(SPICY, {**cheap, "seed": 99}, mine) == first  # the seed does not change the price: cached
    assert local_api.count_endpoint("price") == 1
    fast = pg.quote(FAST, {**cheap, "resolution": "720p"}, mine)
    assert fast.source == "live price from the API" and local_api.count_endpoint("price") == 2
    silent = {k: v for k, v in cheap.items() if k != "generate_audio"}  # V1 Pro Fast has no audio field
    table = pg.quote(V1_PRO_FAST, silent, pg.payer(LOCAL_LABEL, ""))  # no key: the table, marked as an estimate
    assert not table.confirmed and local_api.count_endpoint("price") == 2
    with pytest.raises(ValidationError, match="resolution"):
        pg.quote(FAST, cheap, mine)  # Fast has no 480p: refused by name, nothing asked


def test_the_sweep_button_prices_what_will_be_paid_and_the_summary_counts_every_clip(local_api, ledger):
    from playground.drafts import held_by_ledger, run_sweep
    from playground.session import LOCAL_LABEL
    from playground.status import UNCHARGED
    from playground.ui.sweep_tab import summary

    pg = build_app(client_factory=client_factory_for(local_api), ledger=ledger, caps=Caps(),
                   owner_key="").playground
    form = RunForm(image=str(IMAGE), prompt="the koi swim", resolution="480p", duration=4, generate_audio=False)
    payer = pg.payer(LOCAL_LABEL, "")
    first = run_sweep(pg, form, "2", None, payer=payer, session="tab", owner="b:me")
    assert not first.cancelled and first.sheet.is_file() and first.tiled.is_file()
    posters = list(first.posters.values())
    assert len(posters) == 2 and all(Image.open(p).format == "JPEG" for p in posters)  # the gallery's thumbnails

    plan = held_by_ledger(pg, plan_sweep(form, "3", None), payer, form)
    assert plan.held == [True, True, False]
    assert plan.label == "Run sweep · 3 clips · $0.048 (2 already paid: $0.00)"
    again = run_sweep(pg, form, "3", None, payer=payer, session="tab", owner="b:me")
    assert local_api.submits == 3
    text = summary(again)
    before = {int(i) for i in first.rows["job_id"]}
    new = [j for j in ledger.jobs() if j.status not in UNCHARGED and j.cost > 0 and j.id not in before]
    assert len(new) == 1
    assert f"1 sent, $0.048 (job {new[0].id} in History)" in text
    assert "2 already paid, shown again at $0.00" in text and "3 clips" in text
    reused = [j for j in ledger.jobs() if j.status == "reused"]
    assert len(reused) == 2 and {j.session for j in reused} == {"b:me"} and all(j.cost == 0 for j in reused)
    assert held_by_ledger(pg, plan_sweep(form, "3", None), payer, form).label.endswith(
        "(all 3 already paid: shown again at $0.00)")
