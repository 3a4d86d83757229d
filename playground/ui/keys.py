"""The backend choice and the visitor's key, and this browser's identity: the handlers of the box under the
heading (its layout: :mod:`.boxes`, its wiring: :mod:`.events`). A visitor's key is kept per session on the server
(a ``gr.State``), in the browser only when they tick "remember on this browser"; the identity token is always in
the browser (see :mod:`playground.identity`) and the owner it names in a ``gr.State`` on the server, set on load."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import WaveSpeedError
from ..session import API_LABEL, LOCAL_LABEL, Playground
from . import present
from .context import owner_of
from .present import history_update


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
    this browser (if any), the backend line and this visitor's history."""
    owner = pg.identity.owner(token)
    if owner is None:
        token = pg.identity.mint()
        owner = pg.identity.owner(token)
    key = (saved or "").strip() if isinstance(saved, str) else ""
    choice = API_LABEL if key else pg.default_backend
    if choice == LOCAL_LABEL:
        pg.warm_local()
    line = backend_text(pg, choice, key, owner) + (" Key remembered on this browser." if key else "")
    return {page.keys.key_state: key, page.keys.remember: bool(key), page.keys.backend: gr.update(value=choice),
            page.keys.line: line, page.keys.identity: token, page.keys.owner: owner,
            **history_update(pg, page, owner, key)}
