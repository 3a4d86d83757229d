"""The model contract: fields, ranges, sizes, and field-named validation messages."""

import json
from pathlib import Path

import pytest

from playground import contract
from playground.contract import FAST, MODELS, SPICY, STANDARD, V1_PRO_FAST, output_size, validate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "contract" / "seedance-spicy.json"


def _spec_json():
    if not SHARED.exists():
        pytest.skip("shared/contract is not beside this checkout")
    return json.loads(SHARED.read_text())


def test_sizes_match_the_shared_contract_for_every_resolution_and_ratio():
    sizes = _spec_json()["output"]["sizes"]
    for resolution, by_ratio in sizes.items():
        for ratio, (w, h) in by_ratio.items():
            assert output_size(resolution, ratio) == (w, h)


def test_parameters_defaults_and_ranges_match_the_shared_contract():
    spec = MODELS[SPICY]
    for name, p in _spec_json()["parameters"].items():
        param = spec.param(name)
        assert param.required == p["required"], name
        assert param.default == p.get("default"), name
        if "enum" in p:
            assert list(param.choices) == p["enum"], name
        if "minimum" in p:
            assert (param.minimum, param.maximum) == (p["minimum"], p["maximum"]), name


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("duration", 3, "4 to 12"),
        ("duration", 13, "4 to 12"),
        ("duration", "five", "whole number"),
        ("resolution", "4k", "480p, 720p, 1080p"),
        ("aspect_ratio", "2:1", "16:9"),
        ("camera_fixed", "yes", "true or false"),
        ("generate_audio", 1, "true or false"),
        ("seed", -2, "-1 to 2147483647"),
        ("seed", 2147483648, "-1 to 2147483647"),
        ("prompt", 5, "text"),
    ],
)
def test_each_bad_value_gets_a_message_naming_the_field_value_and_what_is_allowed(field, value, words):
    problems = validate(SPICY, {"image": "https://example.com/a.png", field: value})
    assert len(problems) == 1
    assert problems[0].startswith(f"{field}:")
    assert str(value) in problems[0] or repr(value) in problems[0]
    assert words in problems[0]


def test_missing_image_and_unknown_model_are_named():
    assert validate(SPICY, {}) == ["image: is required"]
    with pytest.raises(KeyError, match="model: 'nope/x' is not known"):
        validate("nope/x", {"image": "u"})


def test_a_full_valid_request_has_no_problems():
    params = {"image": "https://x/a.png", "last_image": "https://x/b.png", "prompt": "zoom in", "duration": 12,
              "resolution": "1080p", "aspect_ratio": "9:16", "camera_fixed": True, "generate_audio": False,
              "seed": 2147483647}
    assert validate(SPICY, params) == []


def test_related_models_keep_their_documented_differences():
    assert validate(SPICY, {"image": "u"}) == []
    assert validate(STANDARD, {"image": "u"}) == ["prompt: is required"]
    assert "resolution" in validate(FAST, {"image": "u", "resolution": "480p"})[0]
    v1 = validate(V1_PRO_FAST, {"image": "u", "prompt": "p", "duration": 2, "last_image": "u"})
    assert v1 == [v1[0]] and v1[0].startswith("last_image:")
    assert not MODELS[FAST].confirmed and not MODELS[V1_PRO_FAST].confirmed
    assert output_size("720p", "16:9", model_id=V1_PRO_FAST) == (1248, 704)


def test_omitted_ratio_follows_the_image():
    assert output_size("720p", image_size=(600, 1000)) == (720, 1280)
    assert output_size("480p", image_size=(1000, 1000)) == (640, 640)
    assert output_size("480p", image_size=(2400, 1000)) == (992, 432)
    assert contract.frame_count(5) == 120


def test_whole_floats_from_sliders_are_sent_as_integers():
    from playground.contract import with_defaults

    full = with_defaults(SPICY, {"image": "u", "duration": 6.0, "seed": 3.0})
    assert full["duration"] == 6 and isinstance(full["duration"], int) and isinstance(full["seed"], int)
