"""Pricing: every row of the seed's table, the per-second rule, and the table the UI and notebooks show."""

import json
from pathlib import Path

import pytest

from playground.contract import SPICY, STANDARD, V1_PRO_FAST
from playground.pricing import estimate_cost, format_usd, price_table, quote

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "contract" / "seedance-spicy.json"
SEED_TABLE = [  # the vendor page's table, copied by hand so the test stands without shared/
    ("480p", 5, 0.12, 0.06), ("720p", 5, 0.26, 0.13), ("1080p", 5, 0.52, 0.26),
    ("480p", 10, 0.24, 0.12), ("720p", 10, 0.52, 0.26), ("1080p", 10, 1.04, 0.52),
]


@pytest.mark.parametrize(("resolution", "duration", "on", "off"), SEED_TABLE)
def test_every_row_of_the_seed_pricing_table(resolution, duration, on, off):
    assert estimate_cost(SPICY, {"resolution": resolution, "duration": duration, "generate_audio": True}) == on
    assert estimate_cost(SPICY, {"resolution": resolution, "duration": duration, "generate_audio": False}) == off


def test_the_shared_contract_table_agrees():
    if not SHARED.exists():
        pytest.skip("shared/contract is not beside this checkout")
    for row in json.loads(SHARED.read_text())["pricing_usd"]["table"]:
        params = {"resolution": row["resolution"], "duration": row["duration"]}
        assert estimate_cost(SPICY, {**params, "generate_audio": True}) == row["audio_on"]
        assert estimate_cost(SPICY, {**params, "generate_audio": False}) == row["audio_off"]


def test_defaults_and_odd_durations():
    assert estimate_cost(SPICY, {}) == 0.26  # 720p, 5 s, audio on
    assert estimate_cost(SPICY, {"resolution": "480p", "duration": 4, "generate_audio": False}) == 0.048
    assert estimate_cost(SPICY, {"resolution": "1080p", "duration": 12}) == 1.248


def test_unconfirmed_prices_are_labelled_estimates():
    assert quote(SPICY, {}).label() == "$0.26"
    assert quote(STANDARD, {"resolution": "1080p"}).confirmed is False
    assert quote(V1_PRO_FAST, {}).label().startswith("~$")
    assert "estimate" in quote(V1_PRO_FAST, {}).label()


def test_format_usd_keeps_the_digits_that_matter():
    assert format_usd(0.048) == "$0.048"
    assert format_usd(0.26) == "$0.26"
    assert format_usd(1.0) == "$1.00"


def test_price_table_has_every_combination_and_consistent_columns():
    df = price_table()
    assert len(df) == 3 * 9 * 2
    assert list(df.columns) == ["resolution", "duration_s", "audio", "cost_usd", "usd_per_second",
                                "clips_per_10_usd", "confirmed"]
    row = df[(df.resolution == "720p") & (df.duration_s == 5) & df.audio].iloc[0]
    assert row.cost_usd == 0.26 and row.clips_per_10_usd == 38 and row.usd_per_second == 0.052
