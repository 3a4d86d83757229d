"""Input images: read a path, bytes or PIL image, check it against the model's limits, and make upload bytes.

Everything here runs before any request is sent, so a bad file costs nothing. Messages name the field.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .contract import IMAGE_LIMITS, ImageLimits
from .errors import ValidationError

# Pillow's names for the formats the API accepts (V); HEIC needs a plugin Pillow lacks, so it is sent as PNG.
_SEND_AS_IS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"}


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to upload: its bytes, their hash, and what it is."""

    field: str
    data: bytes
    filename: str
    width: int
    height: int
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def prepare_image(source: Any, field: str = "image", limits: ImageLimits = IMAGE_LIMITS) -> PreparedImage:
    """Read and check an image; EXIF orientation is applied so the video is the right way up.

    Refused with a ValidationError naming ``field``: non-images, empty or truncated files, sides outside
    300-6000 px, width/height outside 0.4-2.5, files over 30 MB.
    """
    name = "image"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValidationError(f"{field}: file {str(path)!r} does not exist")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ValidationError(f"{field}: {path.name} is {size / 2**20:.1f} MB; the limit is "
                                  f"{limits.max_bytes // 2**20} MB per image")
        raw = path.read_bytes()
        name = path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif isinstance(source, Image.Image):
        raw = None
    else:
        raise ValidationError(f"{field}: expected a file path, bytes, a PIL image or a URL, got "
                              f"{type(source).__name__}")

    if raw is not None:
        if not raw:
            raise ValidationError(f"{field}: the file is empty")
        if len(raw) > limits.max_bytes:
            raise ValidationError(f"{field}: the image is {len(raw) / 2**20:.1f} MB; the limit is "
                                  f"{limits.max_bytes // 2**20} MB per image")
        try:
            img = Image.open(io.BytesIO(raw))
            fmt = img.format or ""
            img.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            what = "is not an image" if isinstance(exc, UnidentifiedImageError) else "is damaged or truncated"
            label = name if isinstance(source, (str, os.PathLike)) else "the file"
            raise ValidationError(f"{field}: {label} {what}; use a JPEG, PNG, WebP, BMP, TIFF or GIF") from None
    else:
        img, fmt = source, ""

    # Only an EXIF orientation other than 1 changes the picture; then the bytes must be re-encoded upright.
    turned = raw is not None and img.getexif().get(0x0112, 1) not in (1, None)
    oriented = ImageOps.exif_transpose(img) if turned else img
    w, h = oriented.size
    if min(w, h) < limits.min_side or max(w, h) > limits.max_side:
        raise ValidationError(f"{field}: {w}x{h} px is outside the allowed {limits.min_side} to {limits.max_side} "
                              "px per side")
    ratio = w / h
    if not limits.min_ratio <= ratio <= limits.max_ratio:
        raise ValidationError(f"{field}: width/height is {ratio:.2f} ({w}x{h}); allowed {limits.min_ratio} to "
                              f"{limits.max_ratio}")

    if raw is not None and fmt in _SEND_AS_IS and not turned:
        data = raw
        filename = name if "." in name else f"{name}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
    else:
        buf = io.BytesIO()
        oriented.convert("RGBA" if oriented.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
        data = buf.getvalue()
        filename = Path(name).stem + ".png"
    if len(data) > limits.max_bytes:
        raise ValidationError(f"{field}: the image is {len(data) / 2**20:.1f} MB once prepared; the limit is "
                              f"{limits.max_bytes // 2**20} MB")
    return PreparedImage(field, data, filename, w, h, hashlib.sha256(data).hexdigest())
