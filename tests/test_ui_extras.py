"""A catalogue model's other fields on the page's form: which take a slot, which leave the model unavailable, how
uploads and addresses are read back by field, and how Reuse puts a job's fields back."""

from __future__ import annotations

import pytest

from playground.caps import Caps
from playground.contract import ModelSpec, Param, register, spec_from_entry
from playground.errors import ValidationError
from playground.local.catalogue_data import MODELS as LOCAL_CATALOGUE
from playground.local.catalogue_data import V15_EXTEND
from playground.session import Playground, RunForm
from playground.ui import extras
from playground.ui.extras import POOL, assign, extra_params
from playground.ui.model_form import model_choices, unavailable


def _spec(*params: Param, model_id: str = "acme/odd-v1/text-to-video") -> ModelSpec:
    return ModelSpec(model_id, "Odd", (Param.of_kind("prompt", "text", required=True), *params),
                     type="text-to-video", source="catalogue")


def _extend() -> ModelSpec:
    return spec_from_entry(next(e for e in LOCAL_CATALOGUE if e["model_id"] == V15_EXTEND))


def test_each_field_takes_a_slot_of_its_kind_and_one_without_room_or_a_slot_kind_is_named():
    texts = [Param.of_kind(f"note_{i}", "text", required=True) for i in range(POOL["text"] + 1)]
    crowded = _spec(*texts)
    assert unavailable(crowded) == f"note_{POOL['text']}: this form has no room for another text field"
    assert model_choices([crowded]) == [(f"Text-to-video · Odd (unavailable: {unavailable(crowded)})",
                                         crowded.model_id)]
    two_clips = _spec(Param.of_kind("clip", "video", required=True), Param.of_kind("tail", "video", required=True))
    assert unavailable(two_clips) == "tail: this form has no room for another video field"
    clips = _spec(Param.of_kind("takes", "videos", required=True))
    assert unavailable(clips) == "takes: a videos field is not on this form"
    # An optional field without a slot leaves the model usable (it is sent as its default, unasked).
    fits = _spec(Param.of_kind("glow", "number"), Param.of_kind("style", "enum", choices=("ink", "oil"),
                                                               required=True),
                 Param.of_kind("tiles", "boolean"), Param.of_kind("refs", "images"),
                 Param.of_kind("mask", "image", required=True), Param.of_kind("music", "audio"),
                 Param.of_kind("ref_clips", "videos"))
    assert unavailable(fits) == ""
    placed, left = assign(extra_params(fits))
    assert {slot: p.name for slot, p in placed.items()} == {
        ("number", 0): "glow", ("choice", 0): "style", ("check", 0): "tiles", ("images", 0): "refs",
        ("image", 0): "mask", ("audio", 0): "music"}
    assert [p.name for p in left] == ["ref_clips"]


def test_the_local_video_extend_model_is_listed_as_usable_with_its_clip_in_the_video_slot():
    spec = _extend()
    assert unavailable(spec) == ""
    assert model_choices([spec]) == [("Video-extend · Seedance V1.5 Pro Video Extend", V15_EXTEND)]
    placed, _ = assign(extra_params(spec))
    assert {slot: p.name for slot, p in placed.items()} == {("video", 0): "video"}


class _Pool:
    """Stand-ins for the pool's components: read() and read_media() only look values up by them."""

    def __init__(self):
        self.media = {(kind, i): f"{kind}-{i}" for kind in extras.MEDIA_SLOTS for i in range(POOL[kind])}
        self.urls = {slot: f"{name}-url" for slot, name in self.media.items()}

    def slots(self):
        return {**{(kind, i): f"{kind}-{i}" for kind in ("text", "number", "check", "choice")
                   for i in range(POOL[kind])}, **self.media}


def test_media_are_read_back_by_field_an_upload_before_its_address_a_list_one_address_per_line(tmp_path):
    spec = _spec(Param.of_kind("clip", "video", required=True), Param.of_kind("refs", "images", max_items=2),
                 model_id="acme/odd-v1/read-back")
    register([spec])
    pool = _Pool()
    upload = {"path": str(tmp_path / "a.mp4"), "orig_name": "a.mp4"}
    values = {"video-0": upload, "video-0-url": "https://cdn.example/ignored.mp4",
              "images-0": None, "images-0-url": " https://cdn.example/1.png \n\n https://cdn.example/2.png "}
    assert extras.read_media(pool, values, spec.model_id) == {
        "clip": upload, "refs": ["https://cdn.example/1.png", "https://cdn.example/2.png"]}
    assert extras.read(pool, values, spec.model_id) == {}  # media never pass as settings
    values["video-0"] = None
    assert extras.read_media(pool, values, spec.model_id)["clip"] == "https://cdn.example/ignored.mp4"


def test_reuse_values_are_the_jobs_own_fields_and_are_kept_only_for_their_model():
    spec = _extend()
    job_params = {"video": "https://up.example/clip.mp4", "prompt": "on", "duration": 4, "seed": 3}
    values = extras.values_of(spec, job_params)
    assert values == {"video": "https://up.example/clip.mp4"}
    pending = {"model": V15_EXTEND, "values": values}
    assert extras.restored(pending, spec) == values
    assert extras.restored({"model": "other/model", "values": values}, spec) is None
    assert extras.restored("junk", spec) is None


def test_extra_media_takes_only_this_pages_uploads_or_http_addresses_and_checks_a_lists_length(tmp_path, ledger):
    spec = _spec(Param.of_kind("clip", "video", required=True), Param.of_kind("refs", "images", max_items=1),
                 model_id="acme/odd-v1/extra-media")
    register([spec])
    folder = tmp_path / "uploads"
    folder.mkdir()
    clip = folder / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    pg = Playground(ledger=ledger, caps=Caps(), owner_key="", upload_folders=[folder])

    def media(**given):
        return pg.extra_media(RunForm(model=spec.model_id, media=given))

    assert media(clip={"path": str(clip)}) == {"clip": str(clip.resolve())}
    assert media(clip="https://cdn.example/c.mp4") == {"clip": "https://cdn.example/c.mp4"}
    with pytest.raises(ValidationError, match="^clip: only files uploaded to this page can be used"):
        media(clip={"path": "/etc/passwd"})
    with pytest.raises(ValidationError, match=r"^clip: give an http\(s\) address"):
        media(clip="/etc/passwd")
    with pytest.raises(ValidationError, match=r"^refs: has 2 items; allowed 0 to 1"):
        media(clip="https://cdn.example/c.mp4", refs=["https://a.example/1.png", "https://a.example/2.png"])
    pg.check_media({"path": str(clip)}, "clip", "video")  # a clip passes the upload check
    still = folder / "still.png"
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ValidationError, match="^clip: still.png is not a video file"):
        pg.check_media({"path": str(still)}, "clip", "video")
