"""Seed and grid sweeps against the local API over HTTP: rows, prices, reuse, caps, failures, limits, measurements."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from playground.client import Client, PollSchedule  # noqa: E402
from playground.contract import FAST, SPICY, STANDARD, V1_PRO_FAST, output_size  # noqa: E402
from playground.errors import CapExceeded, ValidationError  # noqa: E402
from playground.images import prepare_image  # noqa: E402
from playground.local import LocalConfig, start_server  # noqa: E402
from playground.media import clips_of, motion_energy, probe, side_by_side, varied_fields  # noqa: E402
from playground.pipeline import generate  # noqa: E402
from playground.pricing import estimate_cost, price_pivot  # noqa: E402
from playground.report import (  # noqa: E402
    MEASURE_COLUMNS,
    measure_resolutions,
    plot_measurements,
    plot_price,
    rank_clips,
    results_frame,
)
from playground.samples import demo_image  # noqa: E402
from playground.sweep import (  # noqa: E402
    SWEEP_COLUMNS,
    estimate_sweep,
    grid_sweep,
    rerender,
    seed_list,
    seed_sweep,
    sweep_cost,
)
from tests.support import KEY, GenerateEnv, local_client  # noqa: E402

SMALL = {"resolution": "480p", "duration": 4, "generate_audio": True}
PRICE_480P_4S = estimate_cost(SPICY, SMALL)


def make_client(server) -> Client:
    # The contract's typical times put the first poll of a first 480p job ~7 s out; the local API is done in ~1 s.
    return local_client(server, poll=PollSchedule(max_gap=0.3))


@pytest.fixture
def env(local_api, tmp_path, ledger_factory):
    client = make_client(local_api)
    ledger = ledger_factory(home=tmp_path / "home")
    image = demo_image(tmp_path / "demo.png")
    return GenerateEnv(client, ledger, image, tmp_path)


@pytest.mark.full_render
def test_seed_sweep_gives_one_row_per_seed_with_the_documented_columns_and_the_pricing_modules_costs(
        local_api, env, capsys):
    client, ledger, image, tmp = env
    df = seed_sweep(image, "slow zoom in", [11, 12, 13], client=client, ledger=ledger, out_dir=tmp / "out", **SMALL)

    assert list(df.columns) == list(SWEEP_COLUMNS)
    assert list(df["seed"]) == [11, 12, 13]
    assert list(df["status"]) == ["completed"] * 3
    assert list(df["cost"]) == [PRICE_480P_4S] * 3 == [0.096] * 3
    assert (df["resolution"] == "480p").all() and (df["duration"] == 4).all() and df["generate_audio"].all()
    assert df["request_id"].nunique() == 3 and df["error"].eq("").all() and not df["reused"].any()
    assert (df["inference_ms"] > 0).all() and (df["wall_s"] > 0).all()
    info = probe(df["output_path"][0])
    assert (info.width, info.height, info.frames, info.has_audio) == (864, 496, 96, True)
    assert local_api.submits == 3
    assert local_api.balance(KEY) == pytest.approx(10.0 - 3 * 0.096)
    # The estimate was shown before anything was sent.
    assert "3 jobs (480p, 4 s, audio on): $0.288 estimated" in capsys.readouterr().err
    # The sweep's rows are the ledger's, under the same identity generate() gives them.
    assert estimate_sweep(image, "slow zoom in", [11, 12, 13], client=client, ledger=ledger, **SMALL).to_pay == 0


def test_running_the_same_seed_sweep_again_makes_zero_new_posts(local_api, env):
    client, ledger, image, tmp = env
    first = seed_sweep(image, "pan left", 3, client=client, ledger=ledger, out_dir=tmp / "out", **SMALL)
    posts = local_api.count("POST", "/")
    submits = local_api.submits

    again = seed_sweep(image, "pan left", 3, client=client, ledger=ledger, out_dir=tmp / "out", **SMALL)

    assert local_api.submits == submits == 3
    assert local_api.count("POST", "/") == posts  # no upload either
    assert again["reused"].all()
    assert list(again["request_id"]) == list(first["request_id"])
    assert list(again["output_path"]) == list(first["output_path"])
    assert list(again["cost"]) == list(first["cost"])


def test_a_max_cost_below_the_estimate_submits_nothing_and_says_why(local_api, env):
    client, ledger, image, tmp = env
    with pytest.raises(CapExceeded) as caught:
        seed_sweep(image, "slow zoom in", 8, max_cost=0.5, client=client, ledger=ledger, out_dir=tmp / "out",
                   **SMALL)
    message = str(caught.value)
    assert "max_cost $0.50" in message and "$0.768" in message and "8 new jobs" in message
    assert "nothing was submitted" in message
    assert local_api.submits == 0
    assert local_api.count("POST", "/") == 0 and local_api.count("PUT", "/") == 0
    assert ledger.jobs() == []


def test_max_cost_counts_only_what_the_ledger_has_not_already_paid_for(local_api, env):
    client, ledger, image, tmp = env
    seed_sweep(image, None, [1, 2], client=client, ledger=ledger, out_dir=tmp / "out", progress=False, **SMALL)
    # Four seeds cost $0.384; two are paid already, so $0.20 covers the $0.192 left.
    df = seed_sweep(image, None, [1, 2, 3, 4], max_cost=0.20, client=client, ledger=ledger, out_dir=tmp / "out",
                    progress=False, **SMALL)
    assert list(df["status"]) == ["completed"] * 4
    assert list(df["reused"]) == [True, True, False, False]
    assert local_api.submits == 4


def test_a_failed_job_is_a_row_with_its_status_and_error_and_the_others_still_complete(local_api, env):
    client, ledger, image, tmp = env
    local_api.faults.add("task:fail:1200")
    df = seed_sweep(image, None, 3, client=client, ledger=ledger, out_dir=tmp / "out", progress=False, **SMALL)

    assert len(df) == 3
    failed = df[df["status"] == "failed"]
    assert len(failed) == 1
    row = failed.iloc[0]
    assert "moderation" in row["error"] and row["request_id"] in row["error"]
    assert row["cost"] == 0.0 and row["output_path"] == ""
    assert list(df[df["status"] == "completed"]["cost"]) == [PRICE_480P_4S] * 2


def test_a_rate_limited_submit_is_sent_again_because_the_429_created_nothing(local_api, env):
    client, ledger, image, tmp = env
    local_api.faults.add("submit:429:0.1x2")
    df = seed_sweep(image, None, 3, client=client, ledger=ledger, out_dir=tmp / "out", progress=False, **SMALL)

    assert list(df["status"]) == ["completed"] * 3
    assert local_api.submits == 3 + 2
    assert len(local_api.tasks()) == 3
    assert local_api.balance(KEY) == pytest.approx(10.0 - 3 * 0.096)


def test_a_rate_limited_wait_is_never_resubmitted_and_the_next_run_collects_the_task(local_api, env):
    client, ledger, image, tmp = env
    client.retry.base_delay = 0.01
    local_api.faults.add("result:429:0x*")
    df = seed_sweep(image, None, [5], client=client, ledger=ledger, out_dir=tmp / "out", progress=False, **SMALL)
    row = df.iloc[0]
    assert row["status"] in ("created", "processing") and "Rate limited" in row["error"]
    assert row["request_id"] and row["cost"] == PRICE_480P_4S  # still owed: the task exists
    assert local_api.submits == 1

    local_api.faults.clear()
    again = seed_sweep(image, None, [5], client=client, ledger=ledger, out_dir=tmp / "out", progress=False, **SMALL)
    assert again.iloc[0]["status"] == "completed"
    assert again.iloc[0]["request_id"] == row["request_id"]
    assert local_api.submits == 1


def test_a_sweep_that_stopped_mid_flight_resumes_its_tasks_instead_of_paying_again(tmp_path, ledger):
    # Realistic timing: a 480p 4 s task takes ~1 s, so a short wait leaves it at the API, as a crash would.
    with start_server(LocalConfig(timing="realistic", speed=0.05, concurrency=4, render="protocol")) as server:
        client = make_client(server)
        image = demo_image(tmp_path / "demo.png")
        with pytest.raises(Exception, match="not finished"):
            generate(image, client=client, ledger=ledger, seed=9, timeout=0.2, out_dir=tmp_path / "out", **SMALL)
        assert ledger.jobs()[0].status in ("created", "processing")

        df = seed_sweep(image, None, [9, 10], client=client, ledger=ledger, out_dir=tmp_path / "out",
                        progress=False, **SMALL)
        assert list(df["status"]) == ["completed"] * 2
        assert server.submits == 2
        assert df.iloc[0]["request_id"] == ledger.jobs()[-1].request_id


def test_never_more_tasks_at_the_api_than_the_concurrency(tmp_path, ledger):
    with start_server(LocalConfig(timing="realistic", speed=0.02, concurrency=8, render="protocol")) as server:
        client = make_client(server)
        image = demo_image(tmp_path / "demo.png")
        df = seed_sweep(image, None, 5, concurrency=2, client=client, ledger=ledger, out_dir=tmp_path / "out",
                        progress=False, **SMALL)
        assert list(df["status"]) == ["completed"] * 5
        assert server.max_in_flight() == 2


@pytest.mark.full_render
def test_grid_sweep_runs_every_combination_and_prices_each(local_api, env):
    client, ledger, image, tmp = env
    grid = {"resolution": ["480p", "720p"], "camera_fixed": [False, True]}
    df = grid_sweep(image, grid, "slow zoom in", seeds=[3], client=client, ledger=ledger, out_dir=tmp / "out",
                    generate_audio=False, duration=4, progress=False)

    assert list(df.columns) == list(SWEEP_COLUMNS)
    assert list(zip(df["resolution"], df["camera_fixed"], strict=True)) == [
        ("480p", False), ("480p", True), ("720p", False), ("720p", True)]
    assert (df["seed"] == 3).all() and (df["status"] == "completed").all()
    for row in df.to_dict("records"):
        assert row["cost"] == estimate_cost(SPICY, {"resolution": row["resolution"], "duration": 4,
                                                    "generate_audio": False})
        info = probe(row["output_path"])
        assert (info.width, info.height) == output_size(row["resolution"], image_size=(1280, 720))
    assert df.attrs["varied"] == ["resolution", "camera_fixed"]


def test_bad_values_are_refused_before_anything_is_sent(local_api, env):
    client, ledger, image, tmp = env
    with pytest.raises(ValidationError, match="resolution"):
        grid_sweep(image, {"resolution": ["480p", "4k"]}, client=client, ledger=ledger)
    with pytest.raises(ValidationError, match="duration"):
        seed_sweep(image, None, 2, client=client, ledger=ledger, duration=13)
    with pytest.raises(ValidationError, match="seeds"):
        seed_sweep(image, None, [-1], client=client, ledger=ledger)
    with pytest.raises(ValidationError, match="grid"):
        grid_sweep(image, {"image": ["a", "b"]}, client=client, ledger=ledger)
    with pytest.raises(ValidationError, match="concurrency"):
        seed_sweep(image, None, 2, concurrency=0, client=client, ledger=ledger)
    assert local_api.count("POST", "/") == 0


def test_seed_lists_are_explicit_and_sweep_cost_matches_the_pricing_module():
    assert seed_list(3) == [1, 2, 3]
    assert seed_list(2, first_seed=40) == [40, 41]
    assert seed_list([5, 5, 2]) == [5, 2]
    for bad in ([-1], [], [2**31], 0, True, ["x"]):
        with pytest.raises(ValidationError, match="seeds"):
            seed_list(bad)
    assert sweep_cost(8, **SMALL) == pytest.approx(8 * PRICE_480P_4S) == pytest.approx(0.768)
    assert sweep_cost([1, 2], grid={"resolution": ["480p", "1080p"]}, duration=10) == pytest.approx(
        2 * (estimate_cost(SPICY, {"resolution": "480p", "duration": 10})
             + estimate_cost(SPICY, {"resolution": "1080p", "duration": 10})))


def test_the_price_pivot_holds_the_pricing_modules_figures():
    pivot = price_pivot(audio=True)
    assert list(pivot.index) == ["480p", "720p", "1080p"]
    assert list(pivot.columns) == list(range(4, 13))
    for resolution in pivot.index:
        for duration in pivot.columns:
            assert pivot.loc[resolution, duration] == estimate_cost(
                SPICY, {"resolution": resolution, "duration": int(duration), "generate_audio": True})
    silent = price_pivot(audio=False, value="usd_per_second")
    assert silent.loc["1080p", 10] == pytest.approx(0.052)


@pytest.mark.full_render
def test_measure_resolutions_reports_size_time_file_and_cost_per_megapixel_second(local_api, env):
    client, ledger, image, tmp = env
    df = measure_resolutions(image, "slow zoom in", ["480p", "720p"], duration=4, client=client, ledger=ledger,
                             out_dir=tmp / "out", max_cost=1.0)
    assert list(df.columns) == list(MEASURE_COLUMNS)
    assert list(df["resolution"]) == ["480p", "720p"]
    assert list(zip(df["width"], df["height"], strict=True)) == [(864, 496), (1280, 720)]
    for row in df.to_dict("records"):
        cost = estimate_cost(SPICY, {"resolution": row["resolution"], "duration": 4, "generate_audio": True})
        assert row["cost"] == cost
        assert row["usd_per_megapixel_second"] == pytest.approx(cost / (row["width"] * row["height"] / 1e6 * 4),
                                                                rel=1e-4)
        assert row["inference_s"] > 0 and row["file_mb"] > 0 and row["status"] == "completed"
    fig = plot_measurements(df)
    assert len(fig.axes) == 4 and all(len(ax.patches) == 2 for ax in fig.axes)


def test_plot_price_draws_a_line_per_resolution_and_audio_setting():
    fig = plot_price()
    lines = fig.axes[0].get_lines()
    assert len(lines) == 6
    first = lines[0]
    # Each series sits at the durations 4..12, nudged sideways by less than half a second so equal prices
    # (480p with audio, 720p without) stay visible side by side instead of hiding each other.
    assert [round(x) for x in first.get_xdata()] == list(range(4, 13))
    assert first.get_ydata()[0] == estimate_cost(SPICY, {"resolution": "480p", "duration": 4})
    points = [tuple(zip(line.get_xdata(), line.get_ydata(), strict=True)) for line in lines]
    assert len(set(points)) == len(points)
    assert {line.get_marker() for line in lines} == {"o", "s", "^"}


@pytest.mark.full_render
def test_rank_clips_orders_by_the_score_best_first_and_rerender_keeps_the_winners_seed(local_api, env):
    client, ledger, image, tmp = env
    df = seed_sweep(image, "fast zoom in", [21, 22], client=client, ledger=ledger, out_dir=tmp / "out",
                    progress=False, **SMALL)
    ranked = rank_clips(df)
    energies = {seed: motion_energy(path) for seed, path in zip(df["seed"], df["output_path"], strict=True)}
    assert list(ranked["seed"]) == sorted(energies, key=energies.get, reverse=True)
    assert list(ranked["score"]) == [energies[s] for s in ranked["seed"]]
    second = df["output_path"][1]
    by_seed = rank_clips(df, score=lambda path: 1.0 if path == second else 0.0)
    assert list(by_seed["seed"]) == [22, 21]

    best = ranked.iloc[0]
    final = rerender(best, image, resolution="720p", client=client, ledger=ledger, out_dir=tmp / "final")
    assert final.seed == best["seed"] and final.params["prompt"] == "fast zoom in"
    assert final.params["resolution"] == "720p"
    assert (final.info.width, final.info.height) == (1280, 720)
    again = rerender(best, image, resolution="720p", client=client, ledger=ledger, out_dir=tmp / "final")
    assert again.reused and local_api.submits == 3
    with pytest.raises(CapExceeded, match="max_cost"):
        rerender(best, image, resolution="1080p", max_cost=0.1, client=client, ledger=ledger)
    frame = results_frame([final])
    assert list(frame.columns) == list(SWEEP_COLUMNS) and frame["seed"][0] == best["seed"]


def test_demo_image_is_the_same_everywhere_and_a_valid_input(tmp_path):
    a = prepare_image(demo_image(tmp_path / "a.png"))
    b = prepare_image(demo_image(tmp_path / "b.png"))
    assert a.sha256 == b.sha256 and a.size == (1280, 720)


# ---- sweeps across models ------------------------------------------------------------------------------------------


def test_a_sweep_over_two_models_is_one_plan_priced_in_total_and_each_row_names_its_model(local_api, env, capsys,
                                                                                        tmp_path):
    client, ledger, image, tmp = env
    models = [SPICY, STANDARD]
    total = sweep_cost([1, 2], model=models, **SMALL)
    assert total == pytest.approx(4 * PRICE_480P_4S)
    estimate = estimate_sweep(image, "slow zoom in", [1, 2], model=models, client=client, ledger=ledger, **SMALL)
    assert estimate.to_pay == pytest.approx(total) and estimate.varied == ("model",)
    assert local_api.submits == 0  # pricing sent nothing

    df = seed_sweep(image, "slow zoom in", [1, 2], model=models, client=client, ledger=ledger, out_dir=tmp / "out",
                    progress=False, **SMALL)
    assert "4 jobs (2 models; 480p, 4 s, audio on): $0.384 estimated" in capsys.readouterr().err
    assert list(zip(df["model"], df["seed"], strict=True)) == [(SPICY, 1), (SPICY, 2), (STANDARD, 1), (STANDARD, 2)]
    assert (df["status"] == "completed").all() and list(df["cost"]) == [PRICE_480P_4S] * 4
    for model in models:
        assert [p for m, p, _ in local_api.requests_log if m == "POST"].count(f"/api/v3/{model}") == 2
    assert sorted(j.model for j in ledger.jobs()) == sorted(models * 2)
    # The contact sheet and the tiled video label each clip by its model, since the model varies.
    clips = clips_of(df)
    assert varied_fields(clips) == ("model",)
    assert clips[2].label(("model",)) == "seed 1 · V1.5 Pro"
    tiled = probe(side_by_side(df, tmp_path / "tiled.mp4"))
    assert tiled.video_codec == "h264" and tiled.pix_fmt == "yuv420p"
    # The winner is rendered again with its own model.
    again = rerender(df.iloc[3], image, client=client, ledger=ledger, out_dir=tmp / "out")
    assert again.model == STANDARD and again.seed == 2 and again.reused


def test_a_field_a_model_lacks_is_dropped_when_left_at_its_default_and_refused_when_asked_for(local_api, env):
    client, ledger, image, tmp = env
    both = [SPICY, V1_PRO_FAST]
    df = seed_sweep(image, "slow zoom in", [4], model=both, client=client, ledger=ledger, out_dir=tmp / "out",
                    progress=False, resolution="480p", duration=4)
    assert list(df["model"]) == both
    assert bool(df["generate_audio"][0])  # spicy's default
    assert df["generate_audio"].isna()[1]  # V1 Pro Fast has no audio: left out, and priced without it
    assert list(df["cost"]) == [PRICE_480P_4S, PRICE_480P_4S / 2]
    posts = local_api.count("POST", "/")

    asked = [({"generate_audio": True}, both, "generate_audio: V1 Pro Fast"),
             ({"resolution": "480p"}, [SPICY, FAST], "resolution: '480p' is not allowed; choose one of 720p, 1080p "
                                                     "(V1.5 Pro Fast)"),
             ({"last_image": image}, both, "last_image: V1 Pro Fast"),
             ({"prompt": None}, [SPICY, STANDARD], "prompt: is required (V1.5 Pro)")]
    for fields, models, message in asked:
        prompt = fields.pop("prompt", "slow zoom in")
        with pytest.raises(ValidationError) as caught:
            seed_sweep(image, prompt, 2, model=models, client=client, ledger=ledger, progress=False, duration=4,
                       **fields)
        assert message in str(caught.value)
    with pytest.raises(ValidationError, match="model: 'seedance-2' is not known"):
        sweep_cost(2, model=[SPICY, "seedance-2"])
    assert local_api.count("POST", "/") == posts  # nothing sent for any of them
