"""The backend choice and the visitor's key, and this browser's identity: layout, handlers and wiring of the box
under the heading. A visitor's key is kept per session on the server (a ``gr.State``), in the browser only when they
tick "remember on this browser"; the identity token is always in the browser (see :mod:`playground.identity`) and
the owner it names in a ``gr.State`` on the server, set on load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..errors import WaveSpeedError
from ..session import API_LABEL, IDENTITY_KEY, LOCAL_LABEL, Playground, signed_in_owner
from . import present


@dataclass
class KeyBox:
    """The backend choice and the visitor's key (kept per session on the server, in the browser only if asked); the
    browser's identity token (in the browser) and the owner it names (on the server, set on load)."""

    key_state: gr.State
    stored_key: gr.BrowserState
    backend: gr.Radio
    key: gr.Textbox
    remember: gr.Checkbox
    line: gr.Markdown
    identity: gr.BrowserState
    owner: gr.State

    def owner_of(self, values: dict) -> str:
        """The ledger owner in an event's values ("" before the page has loaded)."""
        return values.get(self.owner) or ""

    def current_key(self, values: dict) -> str:
        """The freshest key: the box's, since the visitor may click Run before its blur event stored it."""
        return (values.get(self.key) or "").strip() or (values.get(self.key_state) or "")


def key_box(default_backend: str, has_owner_key: bool, storage_secret: str) -> KeyBox:
    key_state = gr.State("")
    stored_key = gr.BrowserState("", storage_key="seedance-playground-key", secret=storage_secret)
    identity = gr.BrowserState("", storage_key=IDENTITY_KEY, secret=storage_secret)
    owner = gr.State("")
    with gr.Row(equal_height=True):
        backend = gr.Radio([LOCAL_LABEL, API_LABEL], value=default_backend, label="Backend", scale=2)
        key = gr.Textbox(label="WaveSpeed API key", type="password", scale=3,
                         placeholder="optional: use your own key beyond the host's limits" if has_owner_key
                         else "your key (kept on the server for this session only)")
        remember = gr.Checkbox(label="Remember on this browser", value=False, scale=1)
    line = gr.Markdown(elem_id="backend-line")
    return KeyBox(key_state, stored_key, backend, key, remember, line, identity, owner)


def _history(pg: Playground, page: Any, owner: str, key: str | None) -> dict:
    from .handlers import _history

    return _history(pg, page, owner, key)


def owner_of(owner: Any, request: gr.Request | None) -> str:
    from .handlers import owner_of

    return owner_of(owner, request)


def backend_text(pg: Playground, choice: str, key: str, owner: str) -> str:
    """The line under the backend choice: who pays, and the money behind it."""
    try:
        payer = pg.payer(choice, key)
    except WaveSpeedError as exc:
        return present.note(exc)
    try:
        money = pg.balance_text(payer, owner)
    except WaveSpeedError as exc:
        money = present.note(exc)
    return present.backend_line(payer.label, money)


def describe_backend(pg: Playground, page: Any, choice: str, key: str, owner: str, request: gr.Request) -> dict:
    return {page.keys.line: backend_text(pg, choice, key, owner_of(owner, request))}


def store_key(pg: Playground, page: Any, key: str, keep: bool) -> dict:
    key = (key or "").strip()
    return {page.keys.key_state: key, page.keys.stored_key: key if keep else ""}


def use_key(pg: Playground, page: Any, key: str, keep: bool, choice: str, owner: str, request: gr.Request) -> dict:
    """A typed key switches to the API: one handler sets the radio and the line, so no slower event overwrites it."""
    key = (key or "").strip()
    choice = API_LABEL if key else choice
    return {**store_key(pg, page, key, keep), page.keys.backend: gr.update(value=choice),
            page.keys.line: backend_text(pg, choice, key, owner_of(owner, request))}


def remember_key(pg: Playground, page: Any, key: str, keep: bool) -> dict:
    return {page.keys.stored_key: key if keep else ""}


def restore(pg: Playground, page: Any, saved: str, token: str, request: gr.Request) -> dict:
    """On load: this browser's identity (a new one minted when it has none this server made), the key remembered on
    this browser (if any), the backend line and this visitor's history (a signed-in visitor's: their account's)."""
    owner = pg.identity.owner(token)
    if owner is None:
        token = pg.identity.mint()
        owner = pg.identity.owner(token)
    owner = signed_in_owner(request) or owner
    key = (saved or "").strip() if isinstance(saved, str) else ""
    choice = API_LABEL if key else pg.default_backend
    if choice == LOCAL_LABEL:
        pg.warm_local()
    line = backend_text(pg, choice, key, owner) + (" Key remembered on this browser." if key else "")
    return {page.keys.key_state: key, page.keys.remember: bool(key), page.keys.backend: gr.update(value=choice),
            page.keys.line: line, page.keys.identity: token, page.keys.owner: owner,
            **_history(pg, page, owner, key)}



def wire(pg: Playground, page: Any, demo: gr.Blocks) -> None:
    from .events import PRIVATE, bind

    keys = page.keys
    keys.key.change(bind(store_key, pg, page), inputs=[keys.key, keys.remember],
                    outputs=[keys.key_state, keys.stored_key], **PRIVATE)
    gr.on([keys.key.submit, keys.key.blur], bind(use_key, pg, page),
          inputs=[keys.key, keys.remember, keys.backend, keys.owner],
          outputs=[keys.key_state, keys.stored_key, keys.backend, keys.line], **PRIVATE)
    keys.remember.change(bind(remember_key, pg, page), inputs=[keys.key_state, keys.remember],
                         outputs=keys.stored_key, **PRIVATE)
    keys.backend.input(bind(describe_backend, pg, page), inputs=[keys.backend, keys.key_state, keys.owner],
                       outputs=keys.line, **PRIVATE)
    demo.load(bind(restore, pg, page), inputs=[keys.stored_key, keys.identity],
              outputs=[keys.key_state, keys.remember, keys.backend, keys.line, keys.identity, keys.owner,
                       page.history.table], **PRIVATE)
