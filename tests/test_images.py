"""Input images are checked before anything is sent: every refusal names the field."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from playground.errors import ValidationError
from playground.images import prepare_image


def _png(w, h, color=(200, 120, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def test_a_good_png_passes_through_untouched():
    data = _png(800, 450)
    prep = prepare_image(data)
    assert prep.data == data and prep.size == (800, 450) and len(prep.sha256) == 64


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "image: the file is empty"),
        (b"%PDF-1.4 not an image at all", "image: the file is not an image"),
        (_png(800, 450)[:200], "damaged or truncated"),
        (_png(1, 1), "outside the allowed 300 to 6000"),
        (_png(9000, 2000), "outside the allowed 300 to 6000"),
        (_png(2500, 500), "width/height is 5.00"),
        (_png(300, 800), "width/height is 0.38"),
    ],
)
def test_bad_images_are_refused_with_the_field_named(data, words):
    with pytest.raises(ValidationError) as err:
        prepare_image(data)
    assert str(err.value).startswith("image:")
    assert words in str(err.value)


def test_last_image_errors_name_last_image(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ValidationError, match=r"^last_image: notes.txt is not an image"):
        prepare_image(bad, "last_image")
    with pytest.raises(ValidationError, match="does not exist"):
        prepare_image(tmp_path / "missing.png")


def test_files_over_30_mb_are_refused_before_reading(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:
        fh.truncate(31 * 1024 * 1024)
    with pytest.raises(ValidationError, match="31.0 MB; the limit is 30 MB"):
        prepare_image(big)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (800, 400), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    prep = prepare_image(buf.getvalue())
    assert prep.size == (400, 800)
    assert Image.open(io.BytesIO(prep.data)).size == (400, 800)


@settings(max_examples=25, deadline=None)
@given(w=st.integers(1, 7000), h=st.integers(1, 7000))
def test_any_size_is_either_accepted_within_limits_or_refused_with_the_field(w, h):
    img = Image.new("L", (w, h))
    ok = 300 <= min(w, h) and max(w, h) <= 6000 and 0.4 <= w / h <= 2.5
    try:
        prep = prepare_image(img)
    except ValidationError as exc:
        assert not ok and str(exc).startswith("image:")
    else:
        assert ok and prep.size == (w, h)


def test_an_upright_jpeg_is_sent_as_the_same_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (800, 450), (10, 200, 30)).save(buf, format="JPEG")
    prep = prepare_image(buf.getvalue())
    assert prep.data == buf.getvalue() and prep.filename == "image.jpg"
