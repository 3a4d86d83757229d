"""What every handler of the page knows of the event it serves: whose session it is, which visitor, who owns the
runs, and how a problem reaches the visitor. Imports nothing else of :mod:`playground.ui`, so every module of the page
may use it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import WaveSpeedError
from ..session import visitor_of


def session_of(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "anonymous") if request is not None else "anonymous"


def visitor(request: gr.Request | None) -> str:
    """The per-visitor cap's identity: the client address (not the session, which a reload renews)."""
    if request is None:
        return ""
    return visitor_of(getattr(request, "headers", None), getattr(getattr(request, "client", None), "host", None))


def owner_of(owner: Any, request: gr.Request | None) -> str:
    """Who the ledger files this visitor's runs under: the browser's identity (set on load, kept on the server), or
    the session before the page has loaded (a script over the queue protocol)."""
    return owner if isinstance(owner, str) and owner else session_of(request)


def readable(exc: WaveSpeedError) -> gr.Error:
    """The toast for ``exc``: its sentence under a title saying what kind of problem it is, no traceback."""
    titles = {"ValidationError": "Check the inputs", "CapExceeded": "Over the host's limit",
              "AuthError": "Key refused", "InsufficientCredits": "Insufficient credits"}
    return gr.Error(str(exc), title=titles.get(type(exc).__name__) or "Error", print_exception=False)
