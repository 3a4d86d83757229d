"""500 invalid calls of generate() against a running local API: each one is a ValidationError naming the field at
fault, and not one upload or submit POST is sent.

Each example breaks exactly one thing of an otherwise valid call: a field's type or range, an unknown field or model,
the prompt, or an image (garbage bytes, truncated files, too small, badly proportioned, a header claiming a huge
size, wrong types, missing files, bad data: URIs, URLs that answer 404 or are not images or do not answer).
"""

from __future__ import annotations

import base64
import inspect
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from playground.client import Client
from playground.contract import (
    ASPECT_RATIOS,
    MODELS,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
    SEED_MAX,
    SPICY,
    TRANSPORT_FIELDS,
)
from playground.errors import ValidationError
from playground.jobs import Ledger
from playground.pipeline import generate
from tests.support import KEY, make_image, png_claiming


def png_of(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def fuzz_env(shared_local_api, tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    client = Client(api_key=KEY, base_url=shared_local_api.url)
    ledger = Ledger(home / "ledger.sqlite3")
    image = make_image(home / "good.png", (800, 450))
    return client, ledger, image, shared_local_api.url


# ---- invalid values, per field ----------------------------------------------------------------------------

not_text = st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.binary(max_size=20),
                     st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                          max_size=2))
not_whole = st.one_of(st.text(max_size=8), st.floats().filter(lambda f: not f.is_integer()), st.booleans(),
                      st.binary(max_size=8), st.lists(st.integers(), max_size=2))
not_bool = st.one_of(st.integers(), st.floats(), st.text(max_size=6), st.binary(max_size=4),
                     st.lists(st.booleans(), max_size=2))

BAD_FIELD_VALUES = {
    "duration": st.one_of(not_whole, st.integers(max_value=3), st.integers(min_value=13),
                          st.floats(-1e9, 3.0).filter(float.is_integer)),
    "resolution": st.one_of(not_text, st.text(max_size=8).filter(lambda s: s not in RESOLUTIONS)),
    "aspect_ratio": st.one_of(not_text, st.text(max_size=6).filter(lambda s: s not in ASPECT_RATIOS)),
    "camera_fixed": not_bool,
    "generate_audio": not_bool,
    "seed": st.one_of(not_whole, st.integers(max_value=-2), st.integers(min_value=SEED_MAX + 1)),
    **{name: not_bool for name in TRANSPORT_FIELDS},
}

bad_prompts = st.one_of(
    not_text,
    st.integers(PROMPT_MAX_CHARS + 1, 300_000).map(lambda n: "é" * n),
    st.just("a" * 200_000),
)

_TAKEN = set(inspect.signature(generate).parameters) | set(MODELS[SPICY].names) | set(TRANSPORT_FIELDS)
unknown_fields = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(lambda n: n not in _TAKEN)
unknown_models = st.one_of(st.text(max_size=40).filter(lambda m: m not in MODELS), st.none(), st.integers(),
                           st.lists(st.text(max_size=3), max_size=2))


def _missing(path: str) -> bool:
    try:
        return not os.path.exists(path)
    except ValueError:
        return True


def bad_images(good_png: bytes, base_url: str):
    """Anything that is not an acceptable image, from cheap byte blobs (no large files)."""
    return st.one_of(
        st.binary(max_size=600),
        st.integers(1, len(good_png) // 2).map(lambda n: good_png[:n]),  # truncated
        st.tuples(st.integers(1, 299), st.integers(1, 700)).map(png_of),  # a side too small
        st.tuples(st.integers(300, 420), st.integers(1052, 1100), st.booleans()).map(
            lambda t: png_of((t[0], t[1]) if t[2] else (t[1], t[0]))),  # width/height beyond 0.4 to 2.5
        st.tuples(st.integers(6001, 2**31 - 1), st.integers(300, 2**31 - 1)).map(
            lambda wh: png_claiming(*wh)),  # a bomb or an oversized header
        st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)),
        st.text(max_size=30).filter(lambda s: s.strip() and _missing(s) and not s.startswith(("http", "data:"))),
        st.binary(max_size=60).map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
        st.sampled_from(["data:text/plain,hello", "data:image/png;base64,@@@", "data:nothing"]),
        st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True).map(lambda p: f"{base_url}/media/uploads/none/{p}.png"),
        st.sampled_from(["http://127.0.0.1:9/closed.png", f"{base_url}/api/v3/balance"]),
    )


@st.composite
def invalid_calls(draw, image, good_png: bytes, base_url: str):
    """(kind of fault, field at fault, positional args, keyword args) of a call with exactly one thing wrong."""
    kind = draw(st.sampled_from(["field", "prompt", "unknown_field", "model", "image", "last_image"]))
    if kind == "field":
        field = draw(st.sampled_from(sorted(BAD_FIELD_VALUES)))
        value = draw(BAD_FIELD_VALUES[field])
        return field, field, (image,), {field: value}
    if kind == "prompt":
        return kind, "prompt", (image, draw(bad_prompts)), {}
    if kind == "unknown_field":
        name = draw(unknown_fields)
        return kind, name, (image,), {name: draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans()))}
    if kind == "model":
        return kind, "model", (image,), {"model": draw(unknown_models)}
    bad = draw(bad_images(good_png, base_url))
    if kind == "image":
        return kind, "image", (bad,), {}
    return kind, "last_image", (image,), {"last_image": bad}


@pytest.fixture(scope="module")
def good_png(fuzz_env):
    return fuzz_env[2].read_bytes()


def test_every_invalid_call_is_a_validation_error_naming_the_field_and_nothing_is_sent(fuzz_env, good_png):
    client, ledger, image, base_url = fuzz_env
    seen: dict[str, int] = {}

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(call=invalid_calls(image, good_png, base_url))
    def check(call):
        kind, field, args, kwargs = call
        with pytest.raises(ValidationError) as err:
            generate(*args, client=client, ledger=ledger, **{"resolution": "480p", **kwargs})
        message = str(err.value)
        assert message.startswith(f"{field}:"), (field, message)
        assert "\n" not in message and len(message) < 600
        assert client.requests_sent.get("submit", 0) == 0
        assert client.requests_sent.get("upload", 0) == 0
        seen[kind] = seen.get(kind, 0) + 1

    check()
    assert ledger.jobs() == []
    # The run covered every kind of fault, each many times, and ran the 500 examples asked for.
    assert {"prompt", "unknown_field", "model", "image", "last_image", "duration", "seed", "camera_fixed"} <= set(seen)
    assert sum(seen.values()) >= 500
