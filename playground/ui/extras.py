"""A catalogue model's fields the form has no control of its own for: each takes a free slot of its kind from a fixed,
hidden pool (text boxes, numbers, checkboxes, dropdowns; no uploads yet), so /config stays the same whatever the
model. The slots are assigned in the schema's order, the same way whenever the model is the same, so a slot's value
is read back by the field it was given to; slots the chosen model does not use are ignored.

>>> from playground.contract import Param
>>> placed, left = assign([Param.of_kind("glow", "number"), Param.of_kind("style", "enum", choices=("a", "b"))])
>>> sorted((slot, p.name) for slot, p in placed.items()), left
([(('choice', 0), 'style'), (('number', 0), 'glow')], [])
"""

from __future__ import annotations

from collections.abc import Iterable
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
                "enum": "choice"}
POOL = {"text": 4, "number": 4, "check": 3, "choice": 3}
MAX_EXTRA_TEXT = 5_000  # a text slot takes at most this many characters (the schema's own limit when lower)

Slot = tuple[str, int]


@dataclass
class ExtraSlots:
    """The pool of controls, hidden until a model's field takes one."""

    texts: list[gr.Textbox]
    numbers: list[gr.Number]
    checks: list[gr.Checkbox]
    choices: list[gr.Dropdown]

    def slots(self) -> dict[Slot, Any]:
        groups = {"text": self.texts, "number": self.numbers, "check": self.checks, "choice": self.choices}
        return {(kind, i): component for kind, items in groups.items() for i, component in enumerate(items)}

    @property
    def all(self) -> list[Any]:
        return [*self.texts, *self.numbers, *self.checks, *self.choices]


def build_slots() -> ExtraSlots:
    """The pool, every slot hidden. Layout only: call inside ``gr.Blocks``."""
    hidden = {"visible": False}
    return ExtraSlots(
        texts=[gr.Textbox(label=f"Text {i + 1}", max_lines=3, max_length=MAX_EXTRA_TEXT, elem_id=f"extra-text-{i}",
                          **hidden) for i in range(POOL["text"])],
        numbers=[gr.Number(label=f"Number {i + 1}", elem_id=f"extra-number-{i}", **hidden)
                 for i in range(POOL["number"])],
        checks=[gr.Checkbox(label=f"Option {i + 1}", elem_id=f"extra-check-{i}", **hidden)
                for i in range(POOL["check"])],
        choices=[gr.Dropdown([], label=f"Choice {i + 1}", elem_id=f"extra-choice-{i}", **hidden)
                 for i in range(POOL["choice"])])


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
    optional one without a slot (an upload: the pool has no upload slots yet) is sent as its default, unasked."""
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


def slot_update(kind: str, param: Param) -> Any:
    """A slot shown as ``param``: its label, description, range, step, choices and default."""
    shown = {"visible": True, "label": label(param), "info": param.description or None}
    if kind == "number":
        step = param.step or (1 if param.kind in ("integer", "seed") else None)
        return gr.update(**shown, minimum=param.minimum, maximum=param.maximum, step=step, value=param.default)
    if kind == "check":
        return gr.update(**shown, value=bool(param.default))
    if kind == "choice":
        choices = list(param.choices or ())
        return gr.update(**shown, choices=choices, value=param.default if param.default in choices else None)
    limit = min(param.max_length or MAX_EXTRA_TEXT, MAX_EXTRA_TEXT)
    return gr.update(**shown, max_length=limit, value=param.default if isinstance(param.default, str) else "")


def updates(pool: ExtraSlots, spec: ModelSpec) -> dict[Any, Any]:
    """Every slot for ``spec``: the ones its fields take shown as those fields, the others hidden."""
    placed, _ = assign(extra_params(spec))
    return {component: slot_update(slot[0], placed[slot]) if slot in placed else gr.update(visible=False)
            for slot, component in pool.slots().items()}


def read(pool: ExtraSlots, values: dict, model: Any) -> dict[str, Any]:
    """The values of the slots ``model`` 's fields took, by field name (an empty text box or an unset number or
    dropdown: left out, for the schema's default or its "is required"). Other slots are ignored; a text longer than
    a box takes is refused by the field's name (ValidationError)."""
    spec = find_model(model)
    if spec is None:
        return {}
    placed, _ = assign(extra_params(spec))
    components = pool.slots()
    out = {}
    for slot, param in placed.items():
        value = values.get(components[slot])
        if value is None or (isinstance(value, str) and not value.strip() and slot[0] != "choice"):
            continue
        if isinstance(value, str) and len(value) > MAX_EXTRA_TEXT:  # the box's own limit, for a value sent by hand
            raise ValidationError(f"{param.name}: is {len(value):,} characters long; the limit is {MAX_EXTRA_TEXT:,}")
        out[param.name] = value
    return out
