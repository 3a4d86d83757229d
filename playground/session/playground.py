"""The server side of the playground page, without Gradio: one :class:`Playground` per app, made of the rooms of
this package (who pays, prices, runs, history, deliveries)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import backend as backends
from ..caps import Caps, visitor_id
from ..contract import SPICY, find_model
from ..errors import ValidationError
from ..identity import BrowserIdentity, load_secret
from ..images import prepare_image
from ..jobs import Ledger, account_tag
from ..pipeline.inputs import prepare_file
from ..pricing import Quote
from ..webhooks import Webhooks, public_webhook_url
from .deliveries import Deliveries
from .form import SAMPLES_DIR, RunForm, image_url, upload_path
from .history import History
from .payers import API_LABEL, LOCAL_LABEL, ClientFactory, Payers, default_client_factory
from .prices import Prices
from .runs import Runs


def visitor_of(headers: Mapping[str, str] | None, host: str | None) -> str:
    """The per-visitor cap's identity: the client address (not the session, which a reload renews)."""
    return visitor_id(headers, host)


def default_outputs_dir() -> Path:
    """Where the default ledger keeps its videos (``PLAYGROUND_HOME/outputs``)."""
    return Ledger().home / "outputs"


class Playground(Payers, Prices, Runs, History, Deliveries):
    """Who pays, the runs in flight and the ledger's views for the page's visitors. No Gradio components.

    ``session`` arguments are a visitor's page session (Gradio's session hash: one tab, what Cancel stops);
    ``owner`` is who the ledger files a run under and whose History it joins (the browser's identity, see
    :mod:`playground.identity`; the session when there is none). ``user_key`` is the key the visitor typed (may be
    empty). ``upload_folders`` are where visitors' files may be read from, besides the samples.

    History: on a private machine (``caps.public`` false) every visitor sees the machine's whole ledger; on a public
    host each browser sees its own runs (reloads and restarts included) and the jobs of a key it holds, never
    another visitor's.
    """

    def __init__(self, *, client_factory: ClientFactory | None = None, ledger: Ledger | None = None,
                 caps: Caps | None = None, owner_key: str | None = None, model: str = SPICY,
                 upload_folders: Iterable[str | Path] = (), webhook_url: str | None = None):
        self.client_factory = client_factory or default_client_factory
        self.default_factory = client_factory is None
        self.ledger = ledger or Ledger()
        self.caps = caps if caps is not None else Caps.from_env()
        self._owner_key = (owner_key if owner_key is not None else backends.env_key()).strip()
        self.model = model
        self.identity = BrowserIdentity(load_secret(self.ledger.home))
        self.upload_folders = (*(Path(f).resolve() for f in upload_folders), SAMPLES_DIR.resolve())
        # Where the service delivers the end of each run's tasks (None: polling only). PLAYGROUND_PUBLIC_URL, or the
        # Space's own address; the receiver (see receiver()) must be served there.
        self.webhook_url = webhook_url if webhook_url is not None else public_webhook_url()
        # This app's webhook secrets and the inbox where its receiver meets its runs (shared by both, never global).
        self.webhooks = Webhooks()
        owner_secret = os.environ.get("WAVESPEED_WEBHOOK_SECRET", "").strip()
        if owner_secret and self._owner_key:
            self.webhooks.secrets.set(account_tag(self._owner_key), owner_secret)
        self._quotes: dict[tuple, tuple[float, Quote]] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._failures: dict[str, tuple[str, bool]] = {}  # session -> why its run stopped, and whether it sent
        self._local_url: str | None = None  # the local preview's address, once asked (the Code tab shows it)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Playground(ledger={self.ledger!r}, host key={'set' if self._owner_key else 'not set'})"

    @property
    def has_owner_key(self) -> bool:
        return bool(self._owner_key)

    @property
    def default_backend(self) -> str:
        return API_LABEL if self._owner_key else LOCAL_LABEL

    @property
    def outputs_dir(self) -> Path:
        """The folder of the ledger's videos: the only one besides the samples the page may serve files from."""
        return self.ledger.home / "outputs"

    @property
    def whole_ledger(self) -> bool:
        """Whether History shows every job of the ledger: on a private machine, yes; on a public host, never."""
        return not self.caps.public

    def owner_of(self, token: Any, session: str) -> str:
        """The ledger owner for a browser's stored identity ``token`` (see :mod:`playground.identity`); a session
        without a valid one (a script over the API, a browser that keeps no storage) owns what it runs by its
        session."""
        return self.identity.owner(token) or session

    def hides(self, nsfw: bool) -> bool:
        """Whether an output flagged ``nsfw`` is kept off the page (the host's choice)."""
        return bool(nsfw) and self.caps.hide_nsfw

    # ---- what a visitor sent -------------------------------------------------------------------------------

    def upload_path(self, value: Any, field: str = "image") -> str | None:
        """The server path of an uploaded file (see :func:`upload_path`)."""
        return upload_path(value, field, self.upload_folders)

    def check_image(self, value: Any, field: str = "image") -> None:
        """Refuse (ValidationError naming ``field``) an upload that is not a usable image, before any run."""
        path = self.upload_path(value, field)
        if path:
            prepare_image(path, field)

    def check_media(self, value: Any, field: str, kind: str) -> None:
        """Refuse (ValidationError naming ``field``) an upload that is not a usable ``kind`` ("image", "video",
        "audio", or "images" for a list of pictures), before any run."""
        if kind == "images":
            for i, item in enumerate(value if isinstance(value, (list, tuple)) else [value]):
                self.check_image(item, f"{field}[{i}]")
            return
        if kind == "image":
            self.check_image(value, field)
            return
        path = self.upload_path(value, field)
        if path:
            prepare_file(path, field, kind)

    def extra_media(self, form: RunForm) -> dict[str, Any]:
        """The chosen model's other media in ``form`` (a clip to extend, a sound, reference pictures), by field:
        each an uploaded file's path (only a file uploaded through this page) or an http(s) address, a list for a
        list field, its number of items checked against the schema. Their content is checked when the run reads
        them, before anything is sent. Fields the model lacks are ignored."""
        spec = find_model(form.model if form.model is not None else self.model)
        if spec is None or not isinstance(form.media, Mapping):
            return {}
        out: dict[str, Any] = {}
        for param in spec.media_fields:
            value = form.media.get(param.name)
            if param.name in ("image", "last_image") or value in (None, "", []):
                continue
            if param.type is list:
                items = list(value) if isinstance(value, (list, tuple)) else [value]
                out[param.name] = [self._medium(item, f"{param.name}[{i}]") for i, item in enumerate(items)]
                problem = param.check(out[param.name])
                if problem:
                    raise ValidationError(problem)
            else:
                out[param.name] = self._medium(value, param.name)
        return out

    def _medium(self, value: Any, field: str) -> str:
        """One medium as sent: text is an address (http(s) only), anything else an upload of this page's."""
        found = image_url(value, field) if isinstance(value, str) else self.upload_path(value, field)
        if not found:
            raise ValidationError(f"{field}: upload the file or give its http(s) address")
        return found

    def sources(self, form: RunForm) -> tuple[str | None, str | None]:
        """The image (an uploaded file or an http(s) URL) and the optional last image of ``form``, checked; none
        for a model that takes no image (text-to-video), which refuses one."""
        source = self.upload_path(form.image, "image") or image_url(form.image_url)
        last = self.upload_path(form.last_image, "last_image")
        spec = find_model(form.model if form.model is not None else self.model)
        if spec is not None and not spec.has("image"):
            if source is not None or last is not None:
                raise ValidationError(f"image: {spec.model_id} makes a video from the prompt alone; remove the image")
            return None, None
        if source is None:
            raise ValidationError("image: upload an image or give its URL")
        return source, last
