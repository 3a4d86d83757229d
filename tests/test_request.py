"""VideoRequest: one checked request, built once, with the model's defaults and a concrete seed."""

from __future__ import annotations

import pytest

from playground.contract import FAST, SEED_MAX, SPICY, V1_PRO_FAST, VideoRequest
from playground.errors import ValidationError
from playground.jobs import fingerprint
from playground.pricing import price_of, quote
from playground.status import COMPLETED, IN_FLIGHT, PENDING, REJECTED, TERMINAL, UNCHARGED, UNFINISHED


def test_build_applies_the_models_defaults_and_keeps_an_explicit_seed():
    request = VideoRequest.build(prompt="slow zoom in", seed=42)
    assert dict(request.fields) == {"prompt": "slow zoom in", "duration": 5, "resolution": "720p",
                                    "camera_fixed": False, "generate_audio": True, "seed": 42}
    assert (request.seed, request.resolution, request.duration, request.generate_audio) == (42, "720p", 5, True)
    assert request.explicit_seed and request.model == SPICY


@pytest.mark.parametrize("seed", [None, -1])
def test_a_random_seed_is_drawn_once_and_is_concrete(seed):
    request = VideoRequest.build(seed=seed)
    assert 0 <= request.seed <= SEED_MAX and request.fields["seed"] == request.seed
    assert not request.explicit_seed


def test_every_problem_is_listed_each_naming_its_field_before_anything_is_sent():
    with pytest.raises(ValidationError) as caught:
        VideoRequest.build(duration=13, resolution="4k", camera_fixed="yes", colour="red")
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == ["duration", "resolution", "camera_fixed", "colour"]
    with pytest.raises(ValidationError, match="resolution: '480p' is not allowed"):
        VideoRequest.build(FAST, resolution="480p")
    with pytest.raises(ValidationError, match="model: 'nope' is not known"):
        VideoRequest.build("nope")


def test_a_last_image_is_refused_for_a_model_without_one_and_images_travel_beside_the_request():
    with pytest.raises(ValidationError, match="last_image: is not a field"):
        VideoRequest.build(V1_PRO_FAST, prompt="x", has_last_image=True)
    with pytest.raises(ValidationError, match="image: pass the picture beside the request"):
        VideoRequest.build(image="https://example.com/a.png")
    request = VideoRequest.build(seed=3)
    body = request.body({"image": "https://cdn.example/a.png"})
    assert body == {**request.fields, "image": "https://cdn.example/a.png"}
    assert "image" not in request.fields


def test_blank_prompts_and_none_values_are_omitted_and_slider_floats_become_whole_numbers():
    request = VideoRequest.build(prompt="   ", aspect_ratio=None, duration=6.0, seed=9.0)
    assert "prompt" not in request.fields and "aspect_ratio" not in request.fields
    assert request.fields["duration"] == 6 and type(request.fields["duration"]) is int
    assert request.seed == 9
    with pytest.raises(ValidationError, match="prompt: expected text"):
        VideoRequest.build(prompt=b"bytes")


def test_with_changes_checks_again_and_keeps_the_seed():
    request = VideoRequest.build(prompt="pan", resolution="480p", seed=77)
    final = request.with_changes(resolution="1080p")
    assert final.seed == 77 and final.resolution == "1080p" and final.prompt == "pan" and final.explicit_seed
    assert request.resolution == "480p"  # the original is unchanged
    with pytest.raises(ValidationError, match="duration"):
        request.with_changes(duration=99)
    random_one = VideoRequest.build()
    assert not random_one.with_changes(duration=4).explicit_seed
    assert random_one.with_changes(duration=4).seed == random_one.seed


def test_the_fields_cannot_be_changed_in_place():
    request = VideoRequest.build(seed=1)
    with pytest.raises(TypeError):
        request.fields["seed"] = 2  # type: ignore[index]


def test_from_params_rebuilds_a_ledger_rows_request_without_its_images():
    request = VideoRequest.build(prompt="p", resolution="480p", duration=4, seed=5)
    row_params = {**request.body({"image": "https://cdn/x.png"})}
    again = VideoRequest.from_params(SPICY, row_params)
    assert again == request


def test_the_fingerprint_and_the_price_are_the_ledgers_and_the_pricing_tables():
    request = VideoRequest.build(resolution="480p", duration=4, generate_audio=False, seed=8)
    hashes = {"image": "abc"}
    assert request.fingerprint("local", hashes) == fingerprint("local", SPICY, dict(request.fields), hashes)
    assert request.fingerprint("local", hashes) != request.with_changes(seed=9).fingerprint("local", hashes)
    assert price_of(request) == quote(SPICY, dict(request.fields))
    assert price_of(request).usd == 0.048


def test_the_status_sets_agree():
    assert COMPLETED in TERMINAL and not TERMINAL & IN_FLIGHT
    assert IN_FLIGHT <= set(UNFINISHED) and PENDING in UNFINISHED
    assert REJECTED in UNCHARGED and COMPLETED not in UNCHARGED
