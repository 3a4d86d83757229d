"""What any event accepts: every value bounded before a handler runs, a refusal naming the field, and never an
exception's own text (the attack suite, tests/test_attack_surface.py, drives the same over HTTP)."""

from __future__ import annotations

import tracemalloc

import gradio as gr
import pytest

from playground.drafts import MAX_SWEEP_CLIPS, model_ids, parse_seeds
from playground.errors import ValidationError
from playground.ui import guard
from playground.ui.events import bind


@pytest.mark.parametrize("value, why", [
    ("x" * (guard.MAX_TEXT + 1), "characters long"),
    (list(range(guard.MAX_ITEMS + 1)), "items"),
    ([[[[[["deep"]]]]]], "nested too deeply"),
    (10**30, "too large"),
    (float("nan"), "not a number in range"),
    ({"k" * (guard.MAX_TEXT + 1): 1}, "characters long"),
])
def test_values_beyond_any_field_are_named(value, why):
    assert why in guard.problem(value)


def test_ordinary_values_pass():
    for value in ("slow zoom in", 5, 4.0, True, None, {"path": "/tmp/x.png", "meta": {"_type": "gradio.FileData"}},
                  ["bytedance/seedance-v1.5-pro/image-to-video-spicy"]):
        assert guard.problem(value) is None


def handler(pg, prompt: str, seeds: str) -> str:
    return f"{prompt}:{seeds}"


def broken(pg, prompt: str) -> str:
    raise TypeError("int() argument must be a string, not 'NoneType'")


def test_a_bound_event_refuses_by_field_name_before_the_handler_runs():
    event = bind(handler, object())
    assert event("a", "2") == "a:2"
    with pytest.raises(gr.Error) as caught:
        event("a", "1" * 30_000)
    assert caught.value.message.startswith("seeds: is 30,000 characters long")


def test_a_bound_event_never_shows_an_exceptions_own_text():
    with pytest.raises(gr.Error) as caught:
        bind(broken, object())("a")
    assert "NoneType" not in caught.value.message and caught.value.message == guard.BROKEN


@pytest.mark.parametrize("text", ["10000000", "9" * 50, "17", " ".join(["1"] * 17), "1 " * 5000])
def test_seed_counts_over_a_sweep_are_refused_before_anything_is_built(text):
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match="^seeds: "):
            parse_seeds(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # bytes: nothing the size of the count was built


def test_seeds_within_a_sweep_are_read():
    assert parse_seeds("3") == [1, 2, 3] and parse_seeds("7, 1 42") == [7, 1, 42]
    assert len(parse_seeds(str(MAX_SWEEP_CLIPS))) == MAX_SWEEP_CLIPS
    for bad in ("0", "-1", "abc", "1.5", "", [1, 2], None, 3.0):
        with pytest.raises(ValidationError, match="^seeds: "):
            parse_seeds(bad)


@pytest.mark.parametrize("models", [5, "x", [1], [["a"]], {"a": 1}, ["not/a-model"]])
def test_models_must_be_a_list_of_known_model_ids(models):
    with pytest.raises(ValidationError, match="^models: "):
        model_ids(models)
