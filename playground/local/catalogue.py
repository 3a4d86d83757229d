"""The local API's catalogue: the models it serves, each validated, priced and rendered from its own schema.

Built-in entries come from :mod:`.catalogue_data`; a JSON file (``LocalConfig.catalogue_path``, or the environment's
``PLAYGROUND_LOCAL_CATALOGUE``) and ``LocalConfig.extra_models`` add models or replace ones of the same id, so a test
can invent a model. An entry without an ``x-local`` block is priced generically (``base_price``, times
``duration / 5`` when the model has a duration) and rendered from its fields: an image field makes an image-to-video
preview, a video field a continuation, neither a picture drawn from the prompt.

>>> catalogue = Catalogue.load()
>>> catalogue.get("bytedance/seedance-v1.5-pro/image-to-video-spicy").list_price({"resolution": "480p", "duration": 4,
...                                                                               "generate_audio": False})
0.048
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.contract import ASPECT_RATIOS, OUTPUT_SIZES, SEED_MAX, V1_OUTPUT_SIZES, show

from . import catalogue_data, schema
from .errors import InvalidRequest

SIZE_TABLES = {"seedance-1.5": OUTPUT_SIZES, "seedance-1.0": V1_OUTPUT_SIZES}
RENDER_RESOLUTIONS = ("480p", "720p", "1080p")
# First path segments of the API's own routes: a model id may not start with one.
RESERVED = ("predictions", "media", "model", "models", "balance", "billings", "webhook", "user")
DEFAULT_DURATION = 5


@dataclass(frozen=True)
class RenderPlan:
    """What to render for one task, read from the model's fields: kind ("image", "text" or "extend"), where its
    pictures come from, and the settings the renderer takes (resolution already one the size table has)."""

    model: str
    kind: str
    sizes: dict[str, dict[str, tuple[int, int]]]
    resolution: str
    duration: int
    seed: int
    aspect_ratio: str | None = None
    prompt: str | None = None
    camera_fixed: bool = False
    audio: bool = False
    source: tuple[str, str] | None = None  # (field, URL) of the first frame (image) or the clip (extend)
    last_image: tuple[str, str] | None = None

    @property
    def inputs(self) -> list[tuple[str, str, str]]:
        """(field, URL, "image" or "video") of every media input the render reads."""
        found = []
        if self.source is not None:
            found.append((*self.source, "video" if self.kind == "extend" else "image"))
        if self.last_image is not None:
            found.append((*self.last_image, "image"))
        return found


def render_resolution(value: Any) -> str:
    """A resolution the size table has: itself, or the nearest for others ("4k" -> "1080p", "540p" -> "480p")."""
    text = str(value or "").lower()
    if text in RENDER_RESOLUTIONS:
        return text
    digits = "".join(c for c in text if c.isdigit())
    lines = int(digits) * (540 if text.endswith("k") else 1) if digits else 720
    return "480p" if lines < 600 else "720p" if lines < 900 else "1080p"


@dataclass(frozen=True)
class ModelEntry:
    """One model of the catalogue."""

    raw: Mapping[str, Any]  # the entry as given, "x-local" included
    request_schema: Mapping[str, Any]
    rates: Mapping[str, float] | None = None
    audio_off_factor: float = 0.5
    sizes: dict[str, dict[str, tuple[int, int]]] = field(default_factory=lambda: OUTPUT_SIZES)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelEntry:
        """An entry from its catalogue shape; ValueError naming the model and what is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"catalogue entry: expected an object, got {type(raw).__name__}")
        model_id = raw.get("model_id")
        if not isinstance(model_id, str) or not model_id.strip() or model_id != model_id.strip() or " " in model_id:
            raise ValueError(f"catalogue entry: model_id must be a model id without spaces, got {model_id!r}")
        if model_id.startswith("/") or model_id.split("/")[0] in RESERVED:
            raise ValueError(f"catalogue entry {model_id}: model_id must not start with / or {', '.join(RESERVED)}")
        api_schema = raw.get("api_schema")
        schemas = api_schema.get("api_schemas") if isinstance(api_schema, Mapping) else None
        if not isinstance(schemas, list) or not schemas or not all(isinstance(s, Mapping) for s in schemas):
            raise ValueError(f"catalogue entry {model_id}: api_schema.api_schemas must be a list of schemas")
        run = next((s for s in schemas if s.get("type") == "model_run"), schemas[0])
        request = run.get("request_schema")
        if not isinstance(request, Mapping) or not isinstance(request.get("properties"), Mapping):
            raise ValueError(f"catalogue entry {model_id}: the model_run schema needs request_schema.properties")
        base = raw.get("base_price", 0)
        if isinstance(base, bool) or not isinstance(base, (int, float)) or base < 0:
            raise ValueError(f"catalogue entry {model_id}: base_price must be a number >= 0, got {base!r}")
        local = raw.get("x-local") or {}
        sizes = SIZE_TABLES.get(local.get("sizes", "seedance-1.5"))
        if sizes is None:
            raise ValueError(f"catalogue entry {model_id}: x-local.sizes must be one of {', '.join(SIZE_TABLES)}")
        return cls(raw, request, local.get("rates"), float(local.get("audio_off_factor", 0.5)), sizes)

    @property
    def model_id(self) -> str:
        return self.raw["model_id"]

    @property
    def type(self) -> str:
        return str(self.raw.get("type") or "")

    @property
    def sort_order(self) -> float:
        value = self.raw.get("sort_order")
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 1e9

    @property
    def fields(self) -> list[schema.Field]:
        return schema.fields_of(self.request_schema)

    def _names(self) -> set[str]:
        return {f.name for f in self.fields}

    # --- checking and pricing ---

    def accept(self, inputs: Mapping[str, Any], *, partial: bool = False) -> schema.Checked:
        """``inputs`` checked against the schema (unknown keys dropped); see :func:`.schema.check_inputs`."""
        return schema.check_inputs(self.request_schema, inputs, partial=partial)

    def with_defaults(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return schema.with_defaults(self.request_schema, inputs)

    def list_price(self, inputs: Mapping[str, Any]) -> float:
        """USD before any discount for checked ``inputs``; omitted fields are priced at their defaults."""
        params = self.with_defaults(inputs)
        seconds = _seconds(params.get("duration")) if "duration" in self._names() else None
        if not self.rates:
            base = float(self.raw.get("base_price", 0))
            return round(base * (seconds / DEFAULT_DURATION if seconds is not None else 1), 6)
        rate = self.rates.get(str(params.get("resolution")), max(self.rates.values()))
        audio = "generate_audio" in self._names() and params.get("generate_audio") is True
        return round(rate * (seconds if seconds is not None else DEFAULT_DURATION)
                     * (1.0 if audio else self.audio_off_factor), 6)

    @property
    def base_price(self) -> float:
        """The floor of the model's prices: the cheapest resolution at the shortest duration (the live field)."""
        if not self.rates:
            return float(self.raw.get("base_price", 0))
        names = {f.name: f for f in self.fields}
        shortest = names["duration"].spec.get("minimum", DEFAULT_DURATION) if "duration" in names else DEFAULT_DURATION
        allowed = names["resolution"].spec.get("enum", list(self.rates)) if "resolution" in names else list(self.rates)
        rate = min(self.rates.get(r, max(self.rates.values())) for r in allowed)
        # Without audio (or without an audio field, where the factor always applies) is the cheaper case.
        return round(rate * shortest * min(1.0, self.audio_off_factor), 6)

    @property
    def formula(self) -> str:
        """The price as the live catalogue writes it: JSONata returning ``{"total_price": ...}`` (informative)."""
        names = self._names()
        if not self.rates:
            scale = " * duration / 5" if "duration" in names else " * 1"
            return '{"total_price": base_price' + scale + "}"
        rates = list(self.rates.items())
        chain = f"{rates[-1][1]:g}"
        for resolution, rate in reversed(rates[:-1]):
            chain = f'resolution = "{resolution}" ? {rate:g} : {chain}'
        audio = ""
        if self.audio_off_factor != 1:
            audio = (f" * (generate_audio ? 1 : {self.audio_off_factor:g})" if "generate_audio" in names
                     else f" * {self.audio_off_factor:g}")
        return '{"total_price": duration * (' + chain + ")" + audio + "}"

    def served(self, server: str) -> dict[str, Any]:
        """The entry as ``GET /api/v3/models`` shows it (``server``: this API's base URL)."""
        entry = {k: v for k, v in self.raw.items() if k != "x-local"}
        entry.setdefault("name", self.model_id)
        entry.setdefault("description", "")
        entry.setdefault("type", self.type)
        entry.setdefault("sort_order", self.sort_order if self.sort_order != 1e9 else 100000)
        entry.update(base_price=self.base_price, formula=self.formula)
        schemas = [dict(s) for s in entry["api_schema"]["api_schemas"]]
        schemas.sort(key=lambda s: s.get("type") != "model_run")  # model_run first: the CLI reads [0]
        for item in schemas:
            item.setdefault("method", "POST")
            item.setdefault("api_path", f"/api/v3/{self.model_id}")
            item["server"] = server
        entry["api_schema"] = {**entry["api_schema"], "api_schemas": schemas}
        return entry

    # --- what to render ---

    def render_plan(self, params: Mapping[str, Any]) -> RenderPlan:
        """The render of a task with ``params`` (defaults applied, seed resolved)."""
        fields = self.fields
        video = _first(fields, params, "video")
        image = _first(fields, params, "image", named="image") or _first(fields, params, "image")
        if video is not None and (self.type == "video-extend" or image is None):
            kind, source = "extend", video
        elif image is not None and self.type != "text-to-video":
            kind, source = "image", image
        else:
            kind, source = "text", None
        last = ("last_image", params["last_image"]) if isinstance(params.get("last_image"), str) else None
        ratio = params.get("aspect_ratio")
        seconds = _seconds(params.get("duration"))
        prompt = params.get("prompt")
        return RenderPlan(
            model=self.model_id, kind=kind, sizes=self.sizes, resolution=render_resolution(params.get("resolution")),
            duration=max(1, round(seconds)) if seconds is not None else DEFAULT_DURATION,
            seed=int(params["seed"]), aspect_ratio=ratio if ratio in ASPECT_RATIOS else None,
            prompt=prompt if isinstance(prompt, str) else None, camera_fixed=params.get("camera_fixed") is True,
            audio=params.get("generate_audio") is True, source=source, last_image=last if kind != "extend" else None,
        )

    def resolve_seed(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with a concrete seed: -1 or none (also for a model without a seed field) drawn at random."""
        seed = params.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            params["seed"] = secrets.randbelow(SEED_MAX + 1)
        return params


def _seconds(value: Any) -> float | None:
    """A duration as a number: 5, 5.0 or "5" (an enum of strings, or "5s"); None when it is none of these."""
    if isinstance(value, str):
        try:
            value = float(value.strip().lower().removesuffix("s"))
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _first(fields: list[schema.Field], params: Mapping[str, Any], kind: str, named: str | None = None):
    """(field, URL) of the first given upload of ``kind`` (a list's first item counts), else None."""
    for f in fields:
        if f.media != kind or (named is not None and f.name != named):
            continue
        value = params.get(f.name)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v), None)
        if isinstance(value, str) and value:
            return f.name, value
    return None


class Catalogue:
    """The models of one server, by id, in ``sort_order``."""

    def __init__(self, entries: Iterable[ModelEntry]):
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            self._entries[entry.model_id] = entry  # a later entry replaces one of the same id

    @classmethod
    def load(cls, path: Path | str | None = None, extra: Iterable[Mapping[str, Any]] = ()) -> Catalogue:
        """The built-in models, then those of the JSON file at ``path``, then ``extra``; ValueError naming the
        problem when an entry or the file is not usable."""
        raws: list[Mapping[str, Any]] = list(catalogue_data.MODELS)
        if path is not None:
            raws += _read_file(Path(path))
        raws += list(extra)
        return cls(ModelEntry.from_dict(raw) for raw in raws)

    def get(self, model_id: str) -> ModelEntry:
        """The entry of ``model_id``; InvalidRequest naming the model when there is none."""
        entry = self._entries.get(model_id)
        if entry is None:
            raise InvalidRequest(f"model: {show(model_id)} is not known; GET /api/v3/models lists the models")
        return entry

    def __iter__(self):
        return iter(sorted(self._entries.values(), key=lambda e: (e.sort_order, e.model_id)))

    def __len__(self) -> int:
        return len(self._entries)


def _read_file(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"catalogue file {path}: cannot be read as JSON ({exc})") from None
    if isinstance(data, Mapping):  # the API's own reply, or {"models": [...]} as the CLI caches it
        data = data.get("data", data.get("models"))
    if not isinstance(data, list):
        raise ValueError(f"catalogue file {path}: expected a list of model entries")
    return data


__all__ = ["Catalogue", "ModelEntry", "RenderPlan", "render_resolution"]
