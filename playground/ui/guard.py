"""What any event of the page accepts from a visitor, checked before its handler runs: every event is reachable over
Gradio's queue protocol by anyone, private ones included, so none may trust that its values came from its form.

Every value is bounded (text length, list length, nesting depth, number size) and a refusal names the field; a
handler's WaveSpeedError becomes its readable toast, and anything else a short sentence, never an exception's text.

>>> problem("x" * 30_000)
'is 30,000 characters long; the limit is 20,000'
>>> problem([[[[[[[1]]]]]]])
'is nested too deeply'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

from ..errors import WaveSpeedError
from .context import readable

log = logging.getLogger(__name__)

# The longest text any field takes: a prompt is at most 5,000 characters; keys, URLs and seed lists far less.
MAX_TEXT = 20_000
MAX_ITEMS = 64        # items in a list (a model list, a gallery selection) or keys in a dict (an uploaded file's)
MAX_DEPTH = 5         # a file is a dict in a list at most; nothing the page sends is deeper
MAX_NUMBER = 10**15   # far above any seed (2**31), duration or job id
BROKEN = ("Something went wrong in the playground; it is logged on the server. Nothing was sent for this click "
          "unless History shows it.")


def problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is more than any field takes, or None."""
    if isinstance(value, str):
        return f"is {len(value):,} characters long; the limit is {MAX_TEXT:,}" if len(value) > MAX_TEXT else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "is too large a number" if abs(value) > MAX_NUMBER else None
    if isinstance(value, float):
        return None if math.isfinite(value) and abs(value) <= MAX_NUMBER else "is not a number in range"
    if isinstance(value, (list, tuple, Mapping)):
        if depth >= MAX_DEPTH:
            return "is nested too deeply"
        if len(value) > MAX_ITEMS:
            return f"has {len(value):,} items; at most {MAX_ITEMS} are taken"
        items = [*value.keys(), *value.values()] if isinstance(value, Mapping) else value
        return next((p for p in (problem(item, depth + 1) for item in items) if p), None)
    return None  # gr.Request, gr.SelectData and the like come from Gradio, not from the visitor's values


def field_name(key: Any) -> str:
    """A component's label (or its elem_id) for messages; a parameter's name as it is."""
    if isinstance(key, str):
        return key
    return str(getattr(key, "label", None) or getattr(key, "elem_id", None) or type(key).__name__)


def check(arguments: Mapping[str, Any]) -> None:
    """Raise a toast naming the first field whose value is more than any field takes. A form given as one dict of
    ``{component: value}`` is checked per component."""
    for name, value in arguments.items():
        if isinstance(value, Mapping) and value and not all(isinstance(k, str) for k in value):
            for component, item in value.items():
                why = problem(item, 1)
                if why:
                    raise refusal(f"{field_name(component)}: {why}")
            continue
        why = problem(value)
        if why:
            raise refusal(f"{name}: {why}")


def refusal(message: str) -> gr.Error:
    return gr.Error(message, title="Check the inputs", print_exception=False)


def translate(exc: BaseException, handler: str) -> BaseException:
    """What a visitor is told of an exception a handler raised: a toast, never the exception's own text."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, WaveSpeedError):
        return readable(exc)
    log.error("the %s event failed", handler, exc_info=exc)
    return gr.Error(BROKEN, print_exception=False)


class GuardedBlocks(gr.Blocks):
    """``gr.Blocks`` whose events refuse, by field name, values Gradio itself cannot read (a file that was not
    uploaded to this page, a number where a picture goes): Gradio checks them before any handler runs, and its own
    refusal would reach the visitor as an empty error (exception texts are never shown)."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):  # noqa: ANN001 - Gradio's
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever Gradio refused, the visitor reads one named sentence
            log.info("refused an event's values before its handler: %s", type(exc).__name__)
            raise refusal(unfit_input(block_fn, inputs, exc)) from None


def _input_names(block_fn: Any) -> list[str]:
    """The names an event's values go by: its function's parameters (an endpoint's, as clients name them) when they
    match its inputs one to one, else the components' labels."""
    components = list(block_fn.inputs)
    try:
        import inspect

        params = [p.name for p in inspect.signature(block_fn.fn).parameters.values()
                  if p.annotation not in (gr.Request, gr.Progress, gr.SelectData, "gr.Request")]
    except (TypeError, ValueError):
        params = []
    return params if len(params) == len(components) else [field_name(c) for c in components]


def unfit_input(block_fn: Any, values: list[Any], exc: BaseException) -> str:
    """Which of an event's values Gradio could not read, and why, as one sentence naming its field."""
    components = list(block_fn.inputs)
    if len(values) != len(components):
        return "the event's values do not fit its form"
    for component, value, name in zip(components, values, _input_names(block_fn), strict=True):
        if getattr(component, "data_model", None) is None or value is None:
            continue
        if not isinstance(value, Mapping) or not isinstance(value.get("path", value.get("url")), str):
            return f"{name}: expected an uploaded file, got {type(value).__name__}"
        if isinstance(exc, InvalidPathError):
            return f"{name}: only files uploaded to this page can be used; upload the file, or give its https address"
    return "the event's values do not fit its form"
