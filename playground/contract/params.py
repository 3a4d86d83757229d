"""One input field of a model, of a kind the form knows, and its check: one message naming the field. Pure.

>>> Param("duration", int, minimum=4, maximum=12, unit="seconds").check(13)
'duration: 13 is out of range; allowed 4 to 12 (seconds)'
>>> Param("frames", list, kind="images", max_items=2).check(["u", "v", "w"])
'frames: has 3 items; allowed 0 to 2'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The kinds of field the form and the client know; a schema field of any other kind disables its model.
MEDIA_KINDS = ("image", "video", "audio")
LIST_KINDS = ("images", "videos", "audios")
KINDS = ("text", "integer", "number", "boolean", "enum", "seed", *MEDIA_KINDS, *LIST_KINDS)
_TYPES = {"text": str, "integer": int, "number": float, "boolean": bool, "seed": int, **{k: str for k in MEDIA_KINDS},
          **{k: list for k in LIST_KINDS}}


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message about a huge value stays one short line."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4,300 digits has no repr
        return "a number too large to show"
    return text if len(text) <= limit else f"{text[:limit - 15]}... ({type(value).__name__}, {_size(value)})"


def _size(value: Any) -> str:
    try:
        return f"{len(value):,} long"
    except TypeError:
        return "long"


def kind_of(type_: type, choices: tuple[Any, ...] | None, name: str) -> str:
    """The kind of a field written by hand (the known models): from its Python type, choices and name."""
    if choices is not None:
        return "enum"
    if name == "seed" and type_ is int:
        return "seed"
    if type_ is str and name in ("image", "last_image"):
        return "image"
    return {str: "text", int: "integer", float: "number", bool: "boolean", list: "images"}[type_]


@dataclass(frozen=True)
class Param:
    """One input field of a model: its kind (one of :data:`KINDS`), whether it is required, its default, choices,
    range and step, and how the form labels it. ``type`` is the Python type a value of it has."""

    name: str
    type: type
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    description: str = ""
    max_length: int | None = None
    kind: str = ""
    step: float | None = None
    title: str = ""
    min_items: int | None = None
    max_items: int | None = None

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", kind_of(self.type, self.choices, self.name))

    @classmethod
    def of_kind(cls, name: str, kind: str, **fields: Any) -> Param:
        """A field of ``kind`` with its Python type (``Param.of_kind("strength", "number", minimum=0)``)."""
        return cls(name, _TYPES.get(kind, str) if kind != "enum" else _enum_type(fields.get("choices")), kind=kind,
                   **fields)

    @property
    def media(self) -> str | None:
        """"image", "video" or "audio" for an upload field (or a list of them), else None."""
        if self.kind in MEDIA_KINDS:
            return self.kind
        if self.kind in LIST_KINDS:
            return self.kind[:-1]
        return None

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    def check(self, value: Any) -> str | None:
        """Return a message naming this field when ``value`` is not allowed, else None.

        Types are strict: text must be ``str`` (bytes or numbers are never turned into text), booleans ``bool``, and
        whole numbers ``int`` (a float only when it has no fraction, as sliders send 5.0).
        """
        if self.type is bool:
            return None if isinstance(value, bool) else f"{self.name}: expected true or false, got {show(value)}"
        if self.type is list:
            return self._check_list(value)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    return f"{self.name}: expected a whole number, got {show(value)}"
        if self.type is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                                   or not math.isfinite(value)):
            return f"{self.name}: expected a number, got {show(value)}"
        if self.type is str and not isinstance(value, str):
            return f"{self.name}: expected text, got {show(value)}"
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            return f"{self.name}: {show(value)} is not allowed; choose one of {allowed}"
        message = self._check_range(value)
        if message:
            return message
        if self.max_length is not None and isinstance(value, str) and len(value) > self.max_length:
            return f"{self.name}: is {len(value):,} characters long; the limit is {self.max_length:,}"
        if self.type is str and self.required and not value.strip():
            return f"{self.name}: is required and must not be empty"
        return None

    def _check_range(self, value: Any) -> str | None:
        low, high = self.minimum, self.maximum
        if not isinstance(value, (int, float)) or ((low is None or value >= low) and (high is None or value <= high)):
            return None
        unit = f" ({self.unit})" if self.unit else ""
        span = f"{_num(low)} to {_num(high)}" if low is not None and high is not None else (
            f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
        return f"{self.name}: {show(value)} is out of range; allowed {span}{unit}"

    def _check_list(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"{self.name}: expected a list, got {show(value)}"
        low, high = self.min_items, self.max_items
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            return f"{self.name}: has {len(value)} items; allowed {low or 0} to {high if high is not None else 'any'}"
        for i, item in enumerate(value):
            if not isinstance(item, str):
                return f"{self.name}[{i}]: expected a URL, got {show(item)}"
        return None

    def coerce(self, value: Any) -> Any:
        """``value`` as the model takes it: 5.0 from a slider is 5 for a whole-number field."""
        if self.type is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if self.choices is not None and isinstance(value, float) and value.is_integer() and int(value) in self.choices:
            return int(value)
        return value


def _num(value: float | None) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _enum_type(choices: Any) -> type:
    values = tuple(choices or ())
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return int
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float
    return str


__all__ = ["Param", "KINDS", "MEDIA_KINDS", "LIST_KINDS", "show", "kind_of"]
