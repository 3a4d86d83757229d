"""A model: its fields, what it makes, how sure we are of it; and the models known in this process, by id.

The known models (:data:`MODELS`, written by hand from the verified contract) are always there, as the offline
fallback. A catalogue read from an API (:mod:`playground.client.catalogue`) registers its models here too, refined by
the known facts, so that every layer looks a model up the same way: :func:`get_model`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .params import Param, show
from .sizes import OUTPUT_SIZES

# Model types as the catalogue has them, in the order the page lists them.
FAMILIES = ("image-to-video", "text-to-video", "video-extend")


@dataclass(frozen=True)
class ModelSpec:
    """A model of the catalogue: its fields, its output sizes and how sure we are of it.

    ``disabled`` is the reason a model is listed but cannot be used here (a field of a kind the form does not
    know); ``source`` says where the spec came from: "known" (this package), "catalogue" (an API's, refined by the
    known facts) or "offline" (a known model used because no catalogue could be read)."""

    model_id: str
    title: str
    params: tuple[Param, ...]
    sizes: dict[str, dict[str, tuple[int, int]]] = field(default_factory=lambda: OUTPUT_SIZES)
    has_audio: bool = True
    confirmed: bool = True
    notes: str = ""
    type: str = "image-to-video"
    description: str = ""
    base_price: float | None = None
    sort_order: float = 1e9
    disabled: str = ""
    source: str = "known"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def media_fields(self) -> tuple[Param, ...]:
        """The fields that carry pictures, clips or sounds: sent as URLs, travelling beside a request's settings."""
        return tuple(p for p in self.params if p.media is not None)

    @property
    def settings(self) -> tuple[Param, ...]:
        """The fields that are not media."""
        return tuple(p for p in self.params if p.media is None)

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.param("resolution").choices or ()) if self.has("resolution") else ()

    @property
    def family(self) -> str:
        """The group the page lists it under: its catalogue type, or "other"."""
        return self.type if self.type in FAMILIES else "other"

    def defaults(self) -> dict[str, Any]:
        """The defaults the API applies to omitted optional fields."""
        return {p.name: p.default for p in self.params if p.default is not None}


_NAMED = 6  # models named in a message; a catalogue holds far more, and a message stays one short sentence


def some_models(ids: Iterable[str], more_note: str = "") -> str:
    """The first few of ``ids`` for a message, then how many more ("a, b, c or 12 more``more_note``")."""
    ids = list(ids)
    more = f" or {len(ids) - _NAMED} more{more_note}" if len(ids) > _NAMED else ""
    return f"{', '.join(ids[:_NAMED])}{more}"


class UnknownModel(ValidationError, KeyError):
    """The model id is not in the catalogue (a ValidationError naming ``model``; a KeyError for lookups)."""

    def __init__(self, model_id: Any):
        self.model_id = model_id
        known = some_models(all_models(), " (client.catalogue() lists them)")
        super().__init__(f"model: {show(model_id)} is not known; choose one of {known}")

    def __str__(self) -> str:  # KeyError would quote the message
        return "; ".join(self.problems)


# The hand-written models (filled by .known); a catalogue's models, registered as it is read.
MODELS: dict[str, ModelSpec] = {}
_CATALOGUE: dict[str, ModelSpec] = {}
_LOCK = threading.Lock()


def register(specs: Iterable[ModelSpec]) -> None:
    """Make a catalogue's models known to :func:`get_model` (a later spec of an id replaces the earlier one)."""
    with _LOCK:
        for spec in specs:
            _CATALOGUE[spec.model_id] = spec


def get_model(model_id: str) -> ModelSpec:
    """The model of ``model_id``: a catalogue's when one was read, else the known one; :class:`UnknownModel`
    otherwise."""
    if not isinstance(model_id, str):
        raise UnknownModel(model_id)
    spec = _CATALOGUE.get(model_id) or MODELS.get(model_id)
    if spec is None:
        raise UnknownModel(model_id)
    return spec


def find_model(model_id: Any) -> ModelSpec | None:
    """:func:`get_model`, or None when the model is not known."""
    try:
        return get_model(model_id)
    except UnknownModel:
        return None


def all_models() -> dict[str, ModelSpec]:
    """Every model known in this process by id: the known ones, then the catalogue's, in family and sort order."""
    merged = {**MODELS, **_CATALOGUE}
    return dict(sorted(merged.items(), key=lambda kv: (_family_rank(kv[1]), kv[1].sort_order, kv[0] not in MODELS)))


def _family_rank(spec: ModelSpec) -> int:
    return FAMILIES.index(spec.type) if spec.type in FAMILIES else len(FAMILIES)


__all__ = ["ModelSpec", "UnknownModel", "MODELS", "FAMILIES", "register", "get_model", "find_model", "all_models",
           "some_models"]
