"""The one typed request built from a model's fields, and the checks it passes before anything is paid. Pure.

Every model works the same way, whether this package knows it by hand or read it from a catalogue: its media fields
(images, clips, sounds, lists of them) travel beside the request as files or URLs; its other fields are checked, given
their defaults and a concrete seed, and a field the model does not have is refused (the API would drop it silently
and bill its defaults).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from ..errors import ValidationError
from .known import SPICY
from .params import show
from .schema import TRANSPORT_FIELDS
from .sizes import SEED_MAX
from .spec import get_model

# The known models' media fields (every model's are found from its schema: ModelSpec.media_fields).
IMAGE_FIELDS = ("image", "last_image")
_PLACEHOLDER = "https://placeholder.invalid/{}"


def validate(model_id: str, params: Mapping[str, Any], *, allow_unknown: bool = False) -> list[str]:
    """Check ``params`` against the model; return one message per problem, each naming the field.

    An empty list means the request is acceptable. Unknown fields are refused unless ``allow_unknown``; an unknown
    model raises :class:`UnknownModel`; a model listed but disabled is refused with its reason.
    """
    spec = get_model(model_id)
    if spec.disabled:
        return [f"model: {model_id} cannot be used here; {spec.disabled}"]
    problems: list[str] = []
    for p in spec.params:
        value = params.get(p.name)
        if value is None:
            if p.required:
                problems.append(f"{p.name}: is required")
            continue
        message = p.check(value)
        if message:
            problems.append(message)
    if not allow_unknown:
        for name in params:
            if name not in spec.names and name not in TRANSPORT_FIELDS:
                label = name if isinstance(name, str) and len(name) <= 60 else show(name)
                problems.append(f"{label}: is not a field of {model_id}; fields are {', '.join(spec.names)}")
    for name in TRANSPORT_FIELDS:
        if name in params and not isinstance(params[name], bool):
            problems.append(f"{name}: expected true or false, got {show(params[name])}")
    return problems


def with_defaults(model_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the model's defaults filled in for omitted fields (None counts as omitted)."""
    spec = get_model(model_id)
    merged = spec.defaults()
    merged.update({k: v for k, v in params.items() if v is not None})
    for p in spec.params:  # 5.0 from a slider is sent as 5: the API's integer fields want integers
        if p.name in merged:
            merged[p.name] = p.coerce(merged[p.name])
    return merged


def media_names(model_id: str) -> tuple[str, ...]:
    """The names of the model's media fields (``("image", "last_image")`` for the spicy model)."""
    return tuple(p.name for p in get_model(model_id).media_fields)


def _placeholders(model_id: str, given: Iterable[str]) -> dict[str, Any]:
    spec = get_model(model_id)
    out: dict[str, Any] = {}
    for name in given:
        p = next((q for q in spec.media_fields if q.name == name), None)
        out[name] = [_PLACEHOLDER.format(name)] if p is not None and p.type is list else _PLACEHOLDER.format(name)
    return out


@dataclass(frozen=True)
class VideoRequest:
    """One request to a model, checked and complete: built once (from a form, the command line, a sweep plan or a
    ledger row) and carried unchanged to the ledger and the POST.

    ``fields`` holds every model field with the model's defaults applied and a concrete seed (never -1), but no
    media: those travel beside it as files or URLs (see :meth:`body`). ``explicit_seed`` is False when the seed was
    drawn at random here, so the request is not one anybody can ask for again on purpose.

    >>> r = VideoRequest.build(prompt="slow zoom in", resolution="480p", duration=4, seed=7)
    >>> r.seed, r.resolution, r.duration, r.generate_audio, r.explicit_seed
    (7, '480p', 4, True, True)
    >>> VideoRequest.build(duration=13)
    Traceback (most recent call last):
    playground.errors.ValidationError: duration: 13 is out of range; allowed 4 to 12 (seconds)
    """

    model: str
    fields: Mapping[str, Any]
    explicit_seed: bool = True

    @classmethod
    def build(cls, model: str = SPICY, *, has_last_image: bool = False, media: Iterable[str] | None = None,
              **fields: Any) -> VideoRequest:
        """Check ``fields`` by name (one ValidationError listing every problem, each naming its field), drop None
        values and a blank prompt, apply the model's defaults, and replace a seed of -1 or None by a random one.

        ``media`` names the media fields given beside the request (their presence is then checked: a required one
        missing is named); None assumes the required ones are there and ``last_image`` when ``has_last_image``."""
        spec = get_model(model)
        given = {k: v for k, v in fields.items() if v is not None}
        prompt = given.get("prompt")
        if isinstance(prompt, str) and not prompt.strip():
            del given["prompt"]  # a blank prompt is omitted; anything but text is judged by the contract as it is
        names = list(dict.fromkeys([*IMAGE_FIELDS, *(p.name for p in spec.media_fields)]))
        problems = [f"{name}: pass the {_what(spec, name)} beside the request, not as a field" for name in names
                    if name in given]
        if media is None:
            media = [p.name for p in spec.media_fields if p.required] or (["image"] if spec.has("image") else [])
        media = list(media) + (["last_image"] if has_last_image and "last_image" not in media else [])
        settings = {k: v for k, v in given.items() if k not in names}
        problems += validate(model, {**settings, **_placeholders(model, media)})
        if problems:
            raise ValidationError(problems)
        full = with_defaults(model, settings)
        seed = full.get("seed")
        explicit = seed is not None and seed != -1
        if spec.has("seed"):
            full["seed"] = int(seed) if explicit else random.randint(0, SEED_MAX)
        return cls(model, MappingProxyType(full), explicit)

    @classmethod
    def from_params(cls, model: str, params: Mapping[str, Any]) -> VideoRequest:
        """The request a ledger row or a history entry was made with (its media ignored), checked again."""
        skip = set(media_names(model)) | set(IMAGE_FIELDS)
        return cls.build(model, **{k: v for k, v in params.items() if k not in skip})

    def with_changes(self, **changes: Any) -> VideoRequest:
        """A checked copy with some fields changed, e.g. ``request.with_changes(resolution="1080p")``; the seed stays
        unless changed (``seed=-1`` draws a new random one)."""
        changed = VideoRequest.build(self.model, **{**self.fields, **changes})
        return changed if "seed" in changes else replace(changed, explicit_seed=self.explicit_seed)

    @property
    def seed(self) -> int:
        return int(self.fields.get("seed", 0))

    @property
    def resolution(self) -> str:
        return str(self.fields.get("resolution", ""))

    @property
    def duration(self) -> int:
        value = self.fields.get("duration", 0)
        try:
            return int(float(str(value).removesuffix("s")))
        except ValueError:
            return 0

    @property
    def generate_audio(self) -> bool:
        return bool(self.fields.get("generate_audio", False)) and get_model(self.model).has_audio

    @property
    def prompt(self) -> str:
        return str(self.fields.get("prompt") or "")

    def params(self) -> dict[str, Any]:
        """The fields as a plain dict (a copy)."""
        return dict(self.fields)

    def body(self, media: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body to POST: the fields and the media's URLs."""
        return {**self.fields, **media}

    def fingerprint(self, backend_id: str, media_hashes: Mapping[str, str]) -> str:
        """The identity the ledger files this request under (see :func:`fingerprint`)."""
        return fingerprint(backend_id, self.model, self.fields, media_hashes)


def _what(spec: Any, name: str) -> str:
    p = next((q for q in spec.media_fields if q.name == name), None)
    kind = p.media if p is not None else "image"
    return {"image": "picture", "video": "clip", "audio": "sound"}[kind] + ("s" if p is not None and p.type is list
                                                                             else "")


def fingerprint(base_url: str, model: str, params: Mapping[str, Any], media_hashes: Mapping[str, str]) -> str:
    """Identity of a request: the backend, the model, the parameters, and the media's content (not their URLs)."""
    stable = {k: v for k, v in params.items() if k not in media_hashes}
    stable.update({f"{k}#sha256": v for k, v in media_hashes.items()})
    blob = json.dumps([base_url.rstrip("/"), model, stable], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


__all__ = ["IMAGE_FIELDS", "VideoRequest", "validate", "with_defaults", "media_names", "fingerprint"]
