"""A catalogue entry (``GET /api/v3/models``) read into a :class:`ModelSpec`: each property of the model's request
schema mapped to a :class:`Param` of a kind the form knows. Pure.

The request schema is ``api_schema.api_schemas[*].request_schema`` (the ``model_run`` one, else the first):
``properties``, ``required``, ``x-order-properties`` (unlisted keys last), with ``type`` (a string or a list),
``enum``, ``minimum``/``maximum``/``step``, ``minItems``/``maxItems``, ``items.type``, ``default``, ``title``,
``description``, ``x-ui-component`` and ``x-accept``. Upload fields are found by name (``image``, ``image_url(s)``,
``video...``, ``audio...``) or by ``x-ui-component: uploader(s)``; any list of strings is a list of media URLs.
``x-hidden`` fields and the transport switches are left to the client. A field of another kind (an object, a list of
numbers) disables the model, naming the field.

>>> entry = {"model_id": "acme/m", "type": "text-to-video", "api_schema": {"api_schemas": [{"type": "model_run",
...          "request_schema": {"properties": {"prompt": {"type": "string"}, "mask": {"type": "object"}}}}]}}
>>> spec_from_entry(entry).disabled
'mask: a field of a kind this playground does not know (object)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .params import Param
from .sizes import PROMPT_MAX_CHARS
from .spec import MODELS, ModelSpec

# Fields the API itself accepts on every model besides the model's inputs (V): never part of a form.
TRANSPORT_FIELDS = ("enable_sync_mode", "enable_base64_output")
_MEDIA_NAME = re.compile(r"(?:^|_)(image|video|audio)(?:s|_url|_urls)?$")
_UNITS = {"duration": "seconds"}


class SchemaError(ValueError):
    """A catalogue entry that cannot be read at all (no id, no request schema): it is left out of the list."""


def request_schema(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The entry's request schema: the ``model_run`` one, else the first; SchemaError when there is none."""
    api = entry.get("api_schema")
    schemas = api.get("api_schemas") if isinstance(api, Mapping) else None
    if not isinstance(schemas, list) or not schemas:
        raise SchemaError(f"{entry.get('model_id')!r}: no api_schema.api_schemas")
    usable = [s for s in schemas if isinstance(s, Mapping)]
    run = next((s for s in usable if s.get("type") == "model_run"), usable[0] if usable else None)
    schema = run.get("request_schema") if run else None
    if not isinstance(schema, Mapping) or not isinstance(schema.get("properties"), Mapping):
        raise SchemaError(f"{entry.get('model_id')!r}: the request schema has no properties")
    return schema


def _types(spec: Mapping[str, Any]) -> list[str]:
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    return [k for k in kinds if k != "null"]


def _media(name: str, spec: Mapping[str, Any]) -> str | None:
    match = _MEDIA_NAME.search(name)
    if match:
        return match.group(1)
    component = str(spec.get("x-ui-component", ""))
    if component.startswith("uploader"):
        props = spec.get("x-ui-component-props")
        accept = str(spec.get("x-accept") or (props.get("accept", "") if isinstance(props, Mapping) else ""))
        return next((kind for kind in ("video", "audio") if accept.startswith(kind)), "image")
    return None


def kind_of_property(name: str, spec: Mapping[str, Any]) -> str | None:
    """The :data:`~.params.KINDS` kind of one schema property, or None when the form does not know it."""
    types = _types(spec)
    if len(types) != 1 or not isinstance(spec, Mapping):
        return None
    (kind,) = types
    if kind == "array":
        items = spec.get("items") if isinstance(spec.get("items"), Mapping) else {}
        # A list of strings is a list of media URLs: of images unless its name or uploader says clips or sounds.
        media = _media(name, spec) or _media(name.removesuffix("s"), items) or "image"
        return f"{media}s" if _types(items) in ([], ["string"]) and "enum" not in items else None
    if "enum" in spec and isinstance(spec["enum"], list) and spec["enum"] and kind in ("string", "integer", "number"):
        return "enum"
    if kind == "string":
        return _media(name, spec) or "text"
    if kind == "integer":
        return "seed" if name == "seed" else "integer"
    return {"number": "number", "boolean": "boolean"}.get(kind)


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def param_of(name: str, spec: Mapping[str, Any], required: bool) -> Param | None:
    """The Param of one schema property; None when its kind is not known."""
    kind = kind_of_property(name, spec)
    if kind is None:
        return None
    fields: dict[str, Any] = {
        "required": required, "default": spec.get("default"), "description": str(spec.get("description") or ""),
        "title": str(spec.get("title") or ""), "unit": _UNITS.get(name, ""),
        "minimum": _number(spec.get("minimum")), "maximum": _number(spec.get("maximum")),
        "step": _number(spec.get("step")),
    }
    if kind == "enum":
        fields["choices"] = tuple(spec["enum"])
    if kind == "text":
        fields["max_length"] = PROMPT_MAX_CHARS  # no source states a limit: a bound before anything is paid
    if kind.endswith("s") and kind != "text":
        fields["min_items"], fields["max_items"] = spec.get("minItems"), spec.get("maxItems")
    return Param.of_kind(name, kind, **fields)


def spec_from_entry(entry: Mapping[str, Any]) -> ModelSpec:
    """The ModelSpec of one catalogue entry, refined by what this package knows of the same model (sizes, audio,
    confirmations); ``disabled`` names the first field of a kind the form does not know."""
    model_id = entry.get("model_id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise SchemaError(f"catalogue entry without a model_id: {str(entry)[:80]}")
    schema = request_schema(entry)
    properties, required = schema["properties"], set(schema.get("required") or ())
    order = [n for n in schema.get("x-order-properties") or () if n in properties]
    order += [n for n in properties if n not in order]
    params, disabled = [], ""
    for name in order:
        spec = properties[name]
        if name in TRANSPORT_FIELDS or (isinstance(spec, Mapping) and spec.get("x-hidden")):
            continue
        param = param_of(name, spec if isinstance(spec, Mapping) else {}, name in required)
        if param is None:
            shown = _types(spec) if isinstance(spec, Mapping) else type(spec).__name__
            disabled = disabled or f"{name}: a field of a kind this playground does not know ({_kind_text(shown)})"
            continue
        params.append(param)
    base = _number(entry.get("base_price"))
    sort = _number(entry.get("sort_order"))
    names = {p.name for p in params}
    spec = ModelSpec(model_id, str(entry.get("name") or model_id), tuple(params),
                     has_audio="generate_audio" in names, confirmed=False, type=str(entry.get("type") or ""),
                     description=str(entry.get("description") or ""),
                     base_price=base, sort_order=sort if sort is not None else 1e9, disabled=disabled,
                     source="catalogue")
    return refine(spec)


def _kind_text(types: Any) -> str:
    return "/".join(types) if isinstance(types, list) and types else str(types or "no type")


def refine(spec: ModelSpec) -> ModelSpec:
    """A catalogue spec with the verified facts of the known model of the same id (its output sizes, its audio,
    whether its prices are confirmed, its notes); the schema's fields stay the catalogue's."""
    known = MODELS.get(spec.model_id)
    if known is None:
        return spec
    return replace(spec, sizes=known.sizes, has_audio=known.has_audio and spec.has_audio, confirmed=known.confirmed,
                   notes=known.notes, title=spec.title or known.title)


__all__ = ["TRANSPORT_FIELDS", "SchemaError", "request_schema", "kind_of_property", "param_of", "spec_from_entry",
           "refine"]
