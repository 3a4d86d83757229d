"""The Gradio playground: layout (:mod:`.layout`, :mod:`.boxes`), named handlers (:mod:`.handlers`, :mod:`.keys`,
:mod:`.final`, :mod:`.sweep_tab`, :mod:`.model_form`) on what every handler knows of its event (:mod:`.context`),
what the page says (:mod:`.present`), the public endpoints (:mod:`.endpoints`) and all the wiring, in one place
(:mod:`.events`). Who pays, runs and the
ledger's views live in :mod:`playground.session`; no HTTP and no SQL here.

>>> demo = build_app()                  # the API when WAVESPEED_API_KEY is set, else the free local preview
>>> demo.launch(**launch_kwargs())      # doctest: +SKIP

Named endpoints for ``gradio_client`` (and MCP when ``gradio[mcp]`` is installed): ``/generate`` and ``/price``.
Every other event is private.

Keys: a visitor's key lives in a per-session ``gr.State`` on the server; it reaches the browser's storage only when
the visitor ticks "remember on this browser", and never the environment, a log, the ledger or the page. The host's
key (``WAVESPEED_API_KEY``) never leaves the server and is spent only within :mod:`playground.caps`.

History: the browser keeps a token only this server can mint or read (:mod:`playground.identity`); on load it names
the owner, a per-session ``gr.State`` on the server, under which runs are filed. On a private machine History shows
the whole ledger; on a public host (``PLAYGROUND_PUBLIC=1``, a Space) each browser's own runs, across reloads and
restarts.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from ..session import API_LABEL, LOCAL_LABEL, MATCH_IMAGE, SAMPLES_DIR, Playground, default_outputs_dir
from . import events
from .guard import GuardedBlocks
from .layout import build_page

__all__ = ["API_LABEL", "LOCAL_LABEL", "MATCH_IMAGE", "SAMPLES_DIR", "Playground", "build_app", "launch_kwargs",
           "serve"]

# Delete Gradio's copies of served files older than a day, checked hourly (the ledger keeps its own videos).
DELETE_CACHE = (3600, 86400)
QUEUE_MAX = 256
QUEUE_IDLE_POLL_S = 0.02  # an event waits at most this long for an idle queue to notice it
CSS = """
#run-button, #cancel-button {min-height: 52px; font-size: 1.1rem; font-weight: 600;}
#status-line {min-height: 1.6em;}
#nsfw-notice {border-left: 4px solid #f59e0b; padding-left: .6rem;}
#backend-line {margin-top: .3rem;}
.playground-header h1 {margin-bottom: 0;}
/* A phone: the columns stack; the result comes right under the Run button, the samples after everything. */
@media (max-width: 767px) {
  #main-row {flex-direction: column; flex-wrap: nowrap;}
  #form-col, #output-col {display: contents;}
  #form-col > *, #output-col > * {width: 100%; min-width: 0;}
  #form-col > #samples {order: 2;}
  #output-col > * {order: 1;}
}
"""


def build_app(*, client_factory=None, ledger=None, caps=None, owner_key: str | None = None) -> gr.Blocks:
    """The playground's Blocks. Defaults: the ledger in ``PLAYGROUND_HOME``, caps from ``PLAYGROUND_*``, the host
    key from ``WAVESPEED_API_KEY``, and :func:`playground.backend.connect` for clients (the embedded local API
    starts on first use). Tests pass a ``client_factory(kind, key)`` aimed at a local API they started.
    """
    pg = Playground(client_factory=client_factory, ledger=ledger, caps=caps, owner_key=owner_key,
                    upload_folders=[get_upload_folder()])
    # The samples ship inside the package (site-packages once installed): Gradio serves them as they are. Videos
    # are handed to Gradio through launch(allowed_paths=...) (see launch_kwargs), which copies each into its cache.
    gr.set_static_paths([str(SAMPLES_DIR)])
    with GuardedBlocks(title="Seedance Playground", delete_cache=DELETE_CACHE, analytics_enabled=False) as demo:
        page = build_page(default_backend=pg.default_backend, has_owner_key=pg.has_owner_key,
                          storage_secret=pg.identity.storage_secret())
        events.wire(pg, page, demo)
    # A bounded queue: a flood of events waits in at most QUEUE_MAX places, then is told the queue is full.
    demo.queue(max_size=QUEUE_MAX)
    if hasattr(demo._queue, "sleep_when_free"):  # Gradio polls its idle queue every 1 ms on Linux: 10% of a core
        demo._queue.sleep_when_free = QUEUE_IDLE_POLL_S
    demo.playground = pg  # for tests and embedding: the server-side state behind the page
    demo.page = page  # and its components, for tests that call a handler as an event would
    return demo


def launch_kwargs(demo: gr.Blocks | None = None) -> dict[str, Any]:
    """What ``demo.launch`` needs besides the defaults: theme, CSS, the folders Gradio may serve files from, and,
    when ``gradio[mcp]`` is installed, the MCP server. Host and port come from ``GRADIO_SERVER_NAME`` /
    ``GRADIO_SERVER_PORT`` as Gradio reads them.

    Gradio serves a returned file only from the working directory, the temp dir or ``allowed_paths``: the videos
    live in ``PLAYGROUND_HOME/outputs`` (anywhere: a home folder, ``/data`` on a Space), so that folder, and only it
    (never the ledger beside it), is allowed, with the bundled samples.
    """
    playground = getattr(demo, "playground", None)
    outputs = playground.outputs_dir if playground is not None else default_outputs_dir()
    outputs.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "theme": gr.themes.Soft(primary_hue="violet", secondary_hue="indigo", neutral_hue="slate"),
        "css": CSS,
        "allowed_paths": [str(outputs), str(SAMPLES_DIR)],
    }
    if importlib.util.find_spec("mcp") is not None:
        kwargs["mcp_server"] = True
    return kwargs


def serve(*, host: str | None = None, port: int | None = None, share: bool = False) -> None:
    """Build the playground and serve it until stopped (``seedance-playground ui``; ``python app.py`` does the
    same)."""
    demo = build_app()
    kwargs = launch_kwargs(demo)
    if host:
        kwargs["server_name"] = host
    if port:
        kwargs["server_port"] = port
    demo.launch(share=share, **kwargs)
