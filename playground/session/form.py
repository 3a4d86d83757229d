"""What a visitor asks for, exactly as given (a :class:`RunForm`), and the files and addresses it may name."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract import SEED_MAX, SPICY, VideoRequest, find_model, show
from ..errors import ValidationError

MATCH_IMAGE = "match image"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
MAX_BATCH = 4
MAX_URL_CHARS = 2_048  # the longest address browsers and CDNs reliably take
_OWN = ("image", "image_url", "prompt", "last_image", "aspect_ratio")  # given by their own fields, never as extras


def _whole(value: Any) -> Any:
    """A number box's float as the int it shows; anything else unchanged, for the contract to judge by name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class RunForm:
    """What a visitor asks for, from the page's form or the /generate arguments, exactly as given: no coercion
    ("false" stays a string and is refused by name, never read as true). ``image`` is Gradio's FileData (a dict)
    or a path; ``image_url`` an http(s) address."""

    image: Any = None
    image_url: Any = None
    prompt: Any = None
    last_image: Any = None
    duration: Any = None
    resolution: Any = None
    aspect_ratio: Any = MATCH_IMAGE
    camera_fixed: Any = None
    generate_audio: Any = None
    seed: Any = -1
    batch: Any = 1
    model: Any = SPICY
    extras: Any = None  # the model's other fields by name (the page's extra slots); names it lacks are ignored
    media: Any = None  # the model's other media by field name, as sent (see Playground.extra_media)

    def fields(self) -> dict[str, Any]:
        """The model fields; missing values take the contract's defaults, a missing seed is random (-1). Fields the
        chosen model does not have (audio on Seedance 1.0, say) are left out, as the page hides them."""
        fields: dict[str, Any] = {
            "duration": _whole(self.duration),
            "resolution": self.resolution,
            "camera_fixed": self.camera_fixed,
            "generate_audio": self.generate_audio,
            "seed": -1 if self.seed is None else _whole(self.seed),
        }
        if self.aspect_ratio not in (None, "", MATCH_IMAGE):
            fields["aspect_ratio"] = self.aspect_ratio
        spec = find_model(self.model)  # a catalogue's model as well as a known one
        names = spec.names if spec is not None else None
        if isinstance(self.extras, Mapping) and names is not None:
            fields.update({k: _whole(v) for k, v in self.extras.items()
                           if isinstance(k, str) and k in names and k not in fields and k not in _OWN})
        return {k: v for k, v in fields.items() if v is not None and (names is None or k in names)}

    def requests(self, *, has_last_image: bool, default_model: str = SPICY,
                 media: Iterable[str] | None = None) -> list[VideoRequest]:
        """The form, read once into what the API is asked: one :class:`~playground.contract.VideoRequest` per job of
        the batch (random seeds when more than one), each checked against the model (a ValidationError naming the
        field, before anything is sent). ``default_model`` when the form names none; ``media`` names the media
        given (a required one missing is named), None: the image and ``has_last_image``."""
        model = default_model if self.model is None else self.model
        return batch_requests(model, self.prompt, self.fields(), self.runs, has_last_image=has_last_image,
                              media=media)

    @property
    def runs(self) -> int:
        """How many jobs the batch slider asks for: 1..MAX_BATCH (a ValidationError naming ``batch`` otherwise,
        never clamped)."""
        batch = _whole(self.batch if self.batch is not None else 1)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
            raise ValidationError(f"batch: expected a whole number from 1 to {MAX_BATCH}, got {show(batch)}")
        return batch


def batch_requests(model: Any, prompt: Any, fields: Mapping[str, Any], runs: int, *,
                   has_last_image: bool, media: Iterable[str] | None = None) -> list[VideoRequest]:
    """``runs`` requests of ``model`` with ``fields`` (the seed given when one, random seeds when more), each checked
    against the model: a ValidationError naming the field, before anything is sent."""
    seeds = [fields.get("seed", -1)] if runs == 1 else [random.randint(0, SEED_MAX) for _ in range(runs)]
    return [VideoRequest.build(model, has_last_image=has_last_image, media=media, prompt=prompt,
                               **{**fields, "seed": seed})
            for seed in seeds]


def upload_path(value: Any, field: str, folders: Iterable[Path]) -> str | None:
    """The server path of an image a visitor sent: only a file in one of ``folders`` (Gradio's upload folder and the
    samples). Anything else is refused with one message that says nothing about which server files exist."""
    if value is None or value == "":
        return None
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, (str, Path)):
        path = getattr(value, "path", None)
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValidationError(f"{field}: expected an uploaded image file")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ValidationError(f"{field}: only files uploaded to this page can be used; upload the image, or give "
                              "its http(s) address as image_url")
    return str(resolved)


def image_url(value: Any, field: str = "image_url") -> str | None:
    """An http(s) address a visitor typed for ``field`` (None when blank); a ValidationError naming it otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected text (an http(s) URL), got {type(value).__name__}")
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValidationError(f"{field}: is {len(url):,} characters long; an address is at most {MAX_URL_CHARS:,}")
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValidationError(f"{field}: give an http(s) address (https://...); other kinds are not fetched")
    return url or None
