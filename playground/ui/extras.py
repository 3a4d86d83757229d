"""A catalogue model's fields the form has no control of its own for: each takes a free slot of its kind from a fixed,
hidden pool (text boxes, numbers, checkboxes, dropdowns, and one upload each for a clip, a sound, a picture and a
list of pictures, each with a box for an address instead), so /config stays the same whatever the model. The slots
are assigned in the schema's order, the same way whenever the model is the same, so a slot's value is read back by
the field it was given to; slots the chosen model does not use are ignored.

>>> from playground.contract import Param
>>> placed, left = assign([Param.of_kind("glow", "number"), Param.of_kind("style", "enum", choices=("a", "b"))])
>>> sorted((slot, p.name) for slot, p in placed.items()), left
([(('choice', 0), 'style'), (('number', 0), 'glow')], [])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..contract import ModelSpec, Param, find_model
from ..errors import ValidationError

# The fields the Run form has a control for; a model's other fields take slots of the pool.
FORM_FIELDS = ("image", "last_image", "prompt", "duration", "resolution", "aspect_ratio", "camera_fixed",
               "generate_audio", "seed")
# Which slot holds a field of each kind, and how many slots of each the page has.
SLOT_OF_KIND = {"text": "text", "integer": "number", "number": "number", "seed": "number", "boolean": "check",
                "enum": "choice", "video": "video", "audio": "audio", "image": "image", "images": "images"}
# The media slots cover the catalogue's video models: a clip to extend or edit, a sound, one more picture and a list
# of reference pictures (lists of clips or sounds are optional wherever they appear, and sent as their default).
POOL = {"text": 4, "number": 4, "check": 3, "choice": 3, "video": 1, "audio": 1, "image": 1, "images": 1}
MEDIA_SLOTS = ("video", "audio", "image", "images")
MAX_EXTRA_TEXT = 5_000  # a text slot takes at most this many characters (the schema's own limit when lower)
MAX_URLS_TEXT = 20_000  # an address box: a list's addresses, one per line (each at most MAX_URL_CHARS)

Slot = tuple[str, int]


@dataclass
class ExtraSlots:
    """The pool of controls, hidden until a model's field takes one. Each media slot (an upload) has an address box
    beside it, in ``urls`` (one address per line for a list)."""

    texts: list[gr.Textbox]
    numbers: list[gr.Number]
    checks: list[gr.Checkbox]
    choices: list[gr.Dropdown]
    media: dict[Slot, Any]
    urls: dict[Slot, gr.Textbox]
    # What Reuse restored for a model it also chose: the model's change event shows these instead of the defaults.
    pending: gr.State

    def slots(self) -> dict[Slot, Any]:
        groups = {"text": self.texts, "number": self.numbers, "check": self.checks, "choice": self.choices}
        return {**{(kind, i): component for kind, items in groups.items() for i, component in enumerate(items)},
                **self.media}

    @property
    def all(self) -> list[Any]:
        return [*self.texts, *self.numbers, *self.checks, *self.choices, *self.media.values(), *self.urls.values()]


def _upload(kind: str, **shown: Any) -> Any:
    """One hidden upload of ``kind``: a clip, a sound, a picture or a list of pictures (files only: an address goes in
    the box beside it)."""
    if kind == "video":
        return gr.Video(label="Video", sources=["upload"], height=200, **shown)
    if kind == "audio":
        return gr.Audio(label="Audio", sources=["upload"], type="filepath", **shown)
    if kind == "image":
        return gr.Image(label="Picture", type="filepath", sources=["upload", "clipboard"], height=200, **shown)
    return gr.File(label="Pictures", file_count="multiple", file_types=["image"], height=120, **shown)


def build_slots() -> ExtraSlots:
    """The pool, every slot hidden. Layout only: call inside ``gr.Blocks``."""
    hidden = {"visible": False}
    media: dict[Slot, Any] = {}
    urls: dict[Slot, gr.Textbox] = {}
    for kind in MEDIA_SLOTS:
        for i in range(POOL[kind]):
            media[(kind, i)] = _upload(kind, elem_id=f"extra-{kind}-{i}", **hidden)
            urls[(kind, i)] = gr.Textbox(label=f"{kind.capitalize()} URL", max_lines=4 if kind == "images" else 1,
                                         max_length=MAX_URLS_TEXT, elem_id=f"extra-{kind}-{i}-url", **hidden)
    return ExtraSlots(
        texts=[gr.Textbox(label=f"Text {i + 1}", max_lines=3, max_length=MAX_EXTRA_TEXT, elem_id=f"extra-text-{i}",
                          **hidden) for i in range(POOL["text"])],
        numbers=[gr.Number(label=f"Number {i + 1}", elem_id=f"extra-number-{i}", **hidden)
                 for i in range(POOL["number"])],
        checks=[gr.Checkbox(label=f"Option {i + 1}", elem_id=f"extra-check-{i}", **hidden)
                for i in range(POOL["check"])],
        choices=[gr.Dropdown([], label=f"Choice {i + 1}", elem_id=f"extra-choice-{i}", **hidden)
                 for i in range(POOL["choice"])],
        media=media, urls=urls, pending=gr.State(None))


def extra_params(spec: ModelSpec) -> list[Param]:
    """The model's fields the form has no control of its own for, in the schema's order."""
    return [p for p in spec.params if p.name not in FORM_FIELDS]


def assign(params: Iterable[Param]) -> tuple[dict[Slot, Param], list[Param]]:
    """Each field a free slot of its kind, in order; the fields left without one (an upload, or no room)."""
    placed: dict[Slot, Param] = {}
    used = dict.fromkeys(POOL, 0)
    left = []
    for param in params:
        kind = SLOT_OF_KIND.get(param.kind)
        if kind is None or used[kind] >= POOL[kind]:
            left.append(param)
            continue
        placed[(kind, used[kind])] = param
        used[kind] += 1
    return placed, left


def unplaced(spec: ModelSpec) -> str:
    """Why the form cannot hold ``spec`` ("" when it can): the first required field without a slot, by name. An
    optional one without a slot (a list of clips, say) is sent as its default, unasked."""
    _, left = assign(extra_params(spec))
    left = [p for p in left if p.required]
    if not left:
        return ""
    param = left[0]
    if param.kind not in SLOT_OF_KIND:
        return f"{param.name}: a {param.kind} field is not on this form"
    return f"{param.name}: this form has no room for another {param.kind} field"


def label(param: Param) -> str:
    return param.label + (" (required)" if param.required else "")


def slot_update(kind: str, param: Param, value: Any = None) -> Any:
    """A slot shown as ``param``: its label, description, range, step, choices and ``value`` (its default when
    None). A media slot is emptied (``value`` goes in its address box)."""
    shown = {"visible": True, "label": label(param), "info": param.description or None}
    value = param.default if value is None else value
    if kind in MEDIA_SLOTS:
        return gr.update(visible=True, label=label(param), value=None)
    if kind == "number":
        step = param.step or (1 if param.kind in ("integer", "seed") else None)
        return gr.update(**shown, minimum=param.minimum, maximum=param.maximum, step=step, value=value)
    if kind == "check":
        return gr.update(**shown, value=bool(value))
    if kind == "choice":
        choices = list(param.choices or ())
        return gr.update(**shown, choices=choices, value=value if value in choices else None)
    limit = min(param.max_length or MAX_EXTRA_TEXT, MAX_EXTRA_TEXT)
    return gr.update(**shown, max_length=limit, value=value if isinstance(value, str) else "")


def url_update(kind: str, param: Param, value: Any = None) -> Any:
    """A media slot's address box shown for ``param`` (a list's addresses one per line)."""
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    more = " (one per line)" if kind == "images" else ""
    return gr.update(visible=True, label=f"{param.label}: or its http(s) address{more}",
                     value=value if isinstance(value, str) else "")


def updates(pool: ExtraSlots, spec: ModelSpec, values: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    """Every slot for ``spec``: the ones its fields take shown as those fields (holding ``values`` by field name,
    else the defaults; a medium by its address), the others hidden."""
    placed, _ = assign(extra_params(spec))
    values = values or {}
    out = {component: slot_update(slot[0], placed[slot], values.get(placed[slot].name)) if slot in placed
           else gr.update(visible=False) for slot, component in pool.slots().items()}
    out.update({box: url_update(slot[0], placed[slot], values.get(placed[slot].name)) if slot in placed
                else gr.update(visible=False, value="") for slot, box in pool.urls.items()})
    return out


def restored(pending: Any, spec: ModelSpec) -> dict[str, Any] | None:
    """The values Reuse left in ``pending`` for ``spec`` (None when it left none, or for another model)."""
    if isinstance(pending, Mapping) and pending.get("model") == spec.model_id and isinstance(pending.get("values"),
                                                                                           Mapping):
        return dict(pending["values"])
    return None


def values_of(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """A job's values of the fields ``spec`` 's slots hold (its media by the addresses they were uploaded to)."""
    placed, _ = assign(extra_params(spec))
    return {p.name: params[p.name] for p in placed.values() if params.get(p.name) is not None}


def read(pool: ExtraSlots, values: dict, model: Any) -> dict[str, Any]:
    """The values of the slots ``model`` 's fields took, by field name (an empty text box or an unset number or
    dropdown: left out, for the schema's default or its "is required"). Other slots and media are ignored (see
    :func:`read_media`); a text longer than a box takes is refused by the field's name (ValidationError)."""
    spec = find_model(model)
    if spec is None:
        return {}
    placed, _ = assign(extra_params(spec))
    components = pool.slots()
    out = {}
    for slot, param in placed.items():
        if slot[0] in MEDIA_SLOTS:
            continue
        value = values.get(components[slot])
        if value is None or (isinstance(value, str) and not value.strip() and slot[0] != "choice"):
            continue
        if isinstance(value, str) and len(value) > MAX_EXTRA_TEXT:  # the box's own limit, for a value sent by hand
            raise ValidationError(f"{param.name}: is {len(value):,} characters long; the limit is {MAX_EXTRA_TEXT:,}")
        out[param.name] = value
    return out


def read_media(pool: ExtraSlots, values: dict, model: Any) -> dict[str, Any]:
    """The media ``model`` 's fields took slots for, by field name, exactly as sent: an upload (Gradio's file value;
    a list of them for a list) or else the address box's text (a list's, one address per line). Nothing is read or
    trusted here: :meth:`playground.session.Playground.extra_media` checks them."""
    spec = find_model(model)
    if spec is None:
        return {}
    placed, _ = assign(extra_params(spec))
    out: dict[str, Any] = {}
    for slot, param in placed.items():
        if slot[0] not in MEDIA_SLOTS:
            continue
        upload, text = values.get(pool.media[slot]), values.get(pool.urls[slot])
        if isinstance(text, str) and slot[0] == "images":
            text = [line.strip() for line in text.splitlines() if line.strip()] or None
        elif isinstance(text, str):
            text = text.strip() or None
        if slot[0] == "images" and isinstance(upload, (list, tuple)) and isinstance(text, list):
            out[param.name] = [*upload, *text]
        elif upload not in (None, [], ""):
            out[param.name] = upload
        elif text is not None:
            out[param.name] = text
    return out
