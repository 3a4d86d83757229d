"""Both notebooks, executed end to end with papermill against the embedded local API, and checked by what they write."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from PIL import Image

from playground.contract import SPICY, STANDARD, V1_PRO_FAST
from playground.media import probe
from playground.pricing import estimate_cost
from playground.report import MEASURE_COLUMNS
from playground.sweep import SWEEP_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SEED_SWEEP = NOTEBOOKS / "seed_sweep.ipynb"
COST = NOTEBOOKS / "cost_vs_resolution.ipynb"
EXTEND = "bytedance/seedance-v1.5-pro/video-extend"
KERNEL = "playground-tests"


@pytest.mark.parametrize("path", [SEED_SWEEP, COST], ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs_and_take_papermill_parameters(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "clear the outputs before committing"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("image_path", "prompt", "duration", "max_cost", "output_dir"):
        assert f"\n{name} = " in "\n" + tagged[0].source


@pytest.mark.parametrize("path", [SEED_SWEEP, COST], ids=lambda p: p.name)
def test_notebooks_import_the_installed_package_and_say_how_to_install_it(path):
    nb = nbformat.read(path, as_version=4)
    assert "sys.path" not in "".join(c.source for c in nb.cells)
    assert '%pip install "seedance-playground[notebooks]' in nb.cells[0].source


@pytest.fixture
def kernel_env(tmp_path, monkeypatch, installed_venv):
    """A kernel on a fresh virtual environment with the package installed from its wheel (not this checkout), run
    in a folder outside the checkout, with a fresh PLAYGROUND_HOME and no API key: the local API is used."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [installed_venv.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "playground tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name in ("WAVESPEED_API_KEY", "WAVESPEED_BASE_URL", "PLAYGROUND_LOCAL_TIMING", "PLAYGROUND_LOCAL_SPEED"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(notebook: Path, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    return papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), parameters=parameters,
                                      kernel_name=KERNEL, cwd=str(tmp_path), progress_bar=False,
                                      execution_timeout=300)


@pytest.mark.slow
def test_the_seed_sweep_notebook_runs_end_to_end_on_the_local_api_with_a_model_list(kernel_env):
    out = kernel_env / "out"
    run(SEED_SWEEP, kernel_env, output_dir=str(out), seeds=2, models=[SPICY, STANDARD], resolution="480p",
        duration=4, generate_audio=True, max_cost=1.0, final_resolution="720p")

    sweep = pd.read_csv(out / "sweep.csv")
    assert list(sweep.columns) == list(SWEEP_COLUMNS)
    assert list(zip(sweep["model"], sweep["seed"], strict=True)) == [(SPICY, 1), (SPICY, 2), (STANDARD, 1),
                                                                     (STANDARD, 2)]
    assert (sweep["status"] == "completed").all()
    price = estimate_cost(SPICY, {"resolution": "480p", "duration": 4, "generate_audio": True})
    assert list(sweep["cost"]) == list(sweep["charged"]) == [price] * 4  # the estimate, and the billing's figure

    sheet = Image.open(out / "contact_sheet.png")
    first = probe(sweep["output_path"][0])
    assert (first.width, first.height) == (864, 496)
    assert sheet.size == (6 * 256, 4 * round(256 * 496 / 864))  # 6 frames across, a row per clip

    tiled = probe(out / "side_by_side.mp4")
    assert tiled.video_codec == "h264" and tiled.pix_fmt == "yuv420p" and tiled.frames == 96
    assert tiled.width % 2 == 0 and tiled.height % 2 == 0

    ranked = pd.read_csv(out / "ranked.csv")
    assert ranked["score"].is_monotonic_decreasing and len(ranked) == 4
    final = pd.read_csv(out / "final.csv").iloc[0]
    assert (final["model"], final["seed"]) == (ranked["model"][0], ranked["seed"][0])
    assert final["resolution"] == "720p"
    assert final["cost"] == estimate_cost(final["model"], {"resolution": "720p", "duration": 4,
                                                           "generate_audio": True})
    video = probe(final["output_path"])
    assert (video.width, video.height, video.frames) == (1280, 720, 96)


@pytest.mark.slow
def test_the_cost_notebook_runs_end_to_end_on_the_local_api_with_a_model_list(kernel_env):
    out = kernel_env / "out"
    run(COST, kernel_env, output_dir=str(out), resolutions=["480p", "720p"], models=[SPICY, V1_PRO_FAST],
        duration=4, generate_audio=True, max_cost=1.0)

    pivot = pd.read_csv(out / "price_pivot.csv", index_col="resolution")
    assert list(pivot.index) == ["480p", "720p", "1080p"] and len(pivot.columns) == 9
    for resolution in pivot.index:
        for duration in pivot.columns:
            assert pivot.loc[resolution, duration] == estimate_cost(
                SPICY, {"resolution": resolution, "duration": int(duration), "generate_audio": True})
    assert len(pd.read_csv(out / "price_table.csv")) == 3 * 9 * 2

    by_model = pd.read_csv(out / "model_prices.csv", index_col="model")
    assert list(by_model.index) == [SPICY, V1_PRO_FAST] and list(by_model.columns) == ["480p", "720p", "1080p"]
    for model in by_model.index:
        for resolution in by_model.columns:
            assert by_model.loc[model, resolution] == estimate_cost(
                model, {"resolution": resolution, "duration": 4, "generate_audio": True})
    assert by_model.loc[V1_PRO_FAST, "480p"] == by_model.loc[SPICY, "480p"] / 2  # no audio

    measured = pd.read_csv(out / "measured.csv")
    assert list(measured.columns) == list(MEASURE_COLUMNS)
    assert list(zip(measured["model"], measured["resolution"], strict=True)) == [
        (SPICY, "480p"), (SPICY, "720p"), (V1_PRO_FAST, "480p"), (V1_PRO_FAST, "720p")]
    assert list(measured["width"][:2]) == [864, 1280] and (measured["status"] == "completed").all()
    for row in measured.to_dict("records"):
        assert row["cost"] == row["charged"] == estimate_cost(row["model"], {"resolution": row["resolution"],
                                                                             "duration": 4, "generate_audio": True})
        assert row["inference_s"] > 0 and row["file_mb"] > 0
    for picture in ("price.png", "measured.png"):
        assert Image.open(out / picture).size[0] > 300

    shot = pd.read_csv(out / "extension_chain.csv")  # a draft and two extensions, each linked to the clip before
    assert list(shot["model"]) == [SPICY, EXTEND, EXTEND] and shot["seed"].nunique() == 1
    assert list(shot["extends"][1:].astype(int)) == list(shot["job"][:2])
    assert list(shot["charged"]) == list(shot["estimate"]) == [0.096] * 3  # 480p, 4 s with audio, as billed
    assert [probe(kernel_env / path).frames for path in shot["video_path"]] == [96] * 3


def test_the_price_plot_keeps_series_with_equal_prices_apart():
    """480p with audio costs about what 720p without does, and 720p with audio exactly what 1080p without does:
    in the cost notebook's plot no series may hide another."""
    import matplotlib

    matplotlib.use("Agg")
    from playground.report import plot_price

    lines = plot_price().axes[0].lines
    points = [set(zip(line.get_xdata(), line.get_ydata(), strict=True)) for line in lines]
    assert len(lines) == 6
    assert all(not (a & b) for i, a in enumerate(points) for b in points[i + 1:])
    assert len({(line.get_marker(), line.get_fillstyle()) for line in lines}) == 6
