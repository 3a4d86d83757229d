"""A model's request schema as the local API reads it: the kinds of fields, and a submit checked against them.

A schema is a catalogue entry's ``request_schema``: ``{type: "object", properties, required, "x-order-properties"}``
with the keywords the note lists (``type`` as a string or a list, ``enum``, ``minimum``, ``maximum``, ``minItems``,
``maxItems``, ``items.type``, ``default``, ``x-ui-component``, ``x-accept``, ``x-hidden``). As the real server does,
unknown keys are dropped silently (the client, not the server, must refuse them); every problem with a known field
is one message naming it. A field of a kind not known here (an object, say) is passed through unchecked.

>>> schema = {"properties": {"duration": {"type": "integer", "minimum": 4, "maximum": 12}}, "required": []}
>>> check_inputs(schema, {"duration": 13, "colour": "red"}).problems
['duration: 13 is out of range; allowed 4 to 12 (seconds)']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playground.contract import show

# No source states a prompt limit; a text field over this many characters (not a media URL) is refused before it
# costs anything, as the client does.
TEXT_MAX_CHARS = 5_000
_MEDIA_NAME = re.compile(r"(?:^|_)(image|video|audio)(?:s|_url|_urls)?$")
_UNITS = {"duration": "seconds"}


@dataclass(frozen=True)
class Field:
    """One property of a request schema."""

    name: str
    spec: Mapping[str, Any]
    required: bool = False

    @property
    def types(self) -> tuple[str, ...]:
        kind = self.spec.get("type")
        kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
        return tuple(k for k in kinds if k != "null")

    @property
    def default(self) -> Any:
        return self.spec.get("default")

    @property
    def is_list(self) -> bool:
        return "array" in self.types

    @property
    def hidden(self) -> bool:
        return bool(self.spec.get("x-hidden"))

    @property
    def media(self) -> str | None:
        """"image", "video" or "audio" for an upload field (by its name, or an uploader's ``x-accept``), else None."""
        if not {"string", "array"} & set(self.types):
            return None  # generate_audio is a switch, not an upload
        match = _MEDIA_NAME.search(re.sub(r"\[\d+\]$", "", self.name))  # a list's item is media when its list is
        if match:
            return match.group(1)
        if str(self.spec.get("x-ui-component", "")).startswith("uploader"):
            accept = str(self.spec.get("x-accept") or self.spec.get("x-ui-component-props", {}).get("accept", ""))
            return next((kind for kind in ("video", "audio") if accept.startswith(kind)), "image")
        return None

    def check(self, value: Any) -> str | None:
        """A message naming this field when ``value`` is not allowed, else None."""
        kinds = self.types
        if not kinds or not any(k in _CHECKS for k in kinds):
            return None  # a kind this server does not know: accepted as it is
        messages = [_CHECKS[k](self, value) for k in kinds if k in _CHECKS]
        return None if None in messages else messages[0]

    def coerce(self, value: Any) -> Any:
        """``value`` as the model takes it: 5.0 from a slider is 5 for an integer field."""
        if "integer" in self.types and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def _in_enum_and_range(field: Field, value: Any) -> str | None:
    spec, name = field.spec, field.name
    if "enum" in spec and value not in spec["enum"]:
        return f"{name}: {show(value)} is not allowed; choose one of {', '.join(str(c) for c in spec['enum'])}"
    low, high = spec.get("minimum"), spec.get("maximum")
    if isinstance(value, (int, float)) and ((low is not None and value < low) or (high is not None and value > high)):
        unit = f" ({_UNITS[name]})" if name in _UNITS else ""
        span = f"{low} to {high}" if low is not None and high is not None else (
            f"at least {low}" if low is not None else f"at most {high}")
        return f"{name}: {show(value)} is out of range; allowed {span}{unit}"
    return None


def _check_string(field: Field, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{field.name}: expected text, got {show(value)}"
    if field.required and not value.strip():
        return f"{field.name}: is required and must not be empty"
    if field.media is None and len(value) > TEXT_MAX_CHARS:
        return f"{field.name}: is {len(value):,} characters long; the limit is {TEXT_MAX_CHARS:,}"
    return _in_enum_and_range(field, value)


def _check_integer(field: Field, value: Any) -> str | None:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        return f"{field.name}: expected a whole number, got {show(value)}"
    return _in_enum_and_range(field, value)


def _check_number(field: Field, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{field.name}: expected a number, got {show(value)}"
    return _in_enum_and_range(field, value)


def _check_boolean(field: Field, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{field.name}: expected true or false, got {show(value)}"


def _check_array(field: Field, value: Any) -> str | None:
    name, spec = field.name, field.spec
    if not isinstance(value, list):
        return f"{name}: expected a list, got {show(value)}"
    low, high = spec.get("minItems"), spec.get("maxItems")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        return f"{name}: has {len(value)} items; allowed {low or 0} to {high if high is not None else 'any number'}"
    for i, item in enumerate(value):
        message = Field(f"{name}[{i}]", spec.get("items") or {}).check(item)
        if message:
            return message
    return None


_CHECKS = {"string": _check_string, "integer": _check_integer, "number": _check_number,
           "boolean": _check_boolean, "array": _check_array}


def fields_of(schema: Mapping[str, Any]) -> list[Field]:
    """The schema's fields in ``x-order-properties`` order, unlisted ones last."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    order = [n for n in schema.get("x-order-properties") or () if n in properties]
    order += [n for n in properties if n not in order]
    return [Field(name, properties[name], name in required) for name in order]


@dataclass(frozen=True)
class Checked:
    """A submit's inputs against a schema: what is kept, what is wrong (one message per field), what was dropped."""

    kept: dict[str, Any]
    problems: list[str]
    dropped: list[str]


def check_inputs(schema: Mapping[str, Any], inputs: Mapping[str, Any], *, partial: bool = False) -> Checked:
    """Check ``inputs`` against ``schema``; unknown keys are dropped, None counts as omitted.

    ``partial`` skips the required check (a price needs no image).
    """
    fields = fields_of(schema)
    known = {f.name for f in fields}
    kept = {k: v for k, v in inputs.items() if k in known and v is not None}
    dropped = [str(k) for k in inputs if k not in known]
    problems = []
    for field in fields:
        if field.name not in kept:
            if field.required and not partial:
                problems.append(f"{field.name}: is required")
            continue
        message = field.check(kept[field.name])
        if message:
            problems.append(message)
    return Checked({f.name: f.coerce(kept[f.name]) for f in fields if f.name in kept}, problems, dropped)


def with_defaults(schema: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs`` (already checked) with each omitted field's default filled in."""
    merged = {f.name: f.default for f in fields_of(schema) if f.default is not None and not f.hidden}
    merged.update(inputs)
    return merged


__all__ = ["Checked", "Field", "TEXT_MAX_CHARS", "check_inputs", "fields_of", "with_defaults"]
