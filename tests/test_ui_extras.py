"""A catalogue model's other fields on the page's form: which take a slot, which leave the model unavailable."""

from __future__ import annotations

from playground.contract import ModelSpec, Param
from playground.ui.extras import POOL, assign, extra_params
from playground.ui.model_form import model_choices, unavailable


def _spec(*params: Param) -> ModelSpec:
    return ModelSpec("acme/odd-v1/text-to-video", "Odd", (Param.of_kind("prompt", "text", required=True), *params),
                     type="text-to-video", source="catalogue")


def test_each_field_takes_a_slot_of_its_kind_and_one_without_room_or_an_upload_is_named():
    texts = [Param.of_kind(f"note_{i}", "text", required=True) for i in range(POOL["text"] + 1)]
    crowded = _spec(*texts)
    assert unavailable(crowded) == f"note_{POOL['text']}: this form has no room for another text field"
    assert model_choices([crowded]) == [(f"Text-to-video · Odd (unavailable: {unavailable(crowded)})",
                                         crowded.model_id)]
    upload = _spec(Param.of_kind("mask", "image", required=True))
    assert unavailable(upload) == "mask: a image field is not on this form"
    # An optional upload without a slot leaves the model usable (it is sent as its default, unasked).
    fits = _spec(Param.of_kind("glow", "number"), Param.of_kind("style", "enum", choices=("ink", "oil"),
                                                               required=True),
                 Param.of_kind("tiles", "boolean"), Param.of_kind("refs", "images"))
    assert unavailable(fits) == ""
    placed, left = assign(extra_params(fits))
    assert {slot: p.name for slot, p in placed.items()} == {("number", 0): "glow", ("choice", 0): "style",
                                                            ("check", 0): "tiles"}
    assert [p.name for p in left] == ["refs"]
