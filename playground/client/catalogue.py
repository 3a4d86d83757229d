"""The API's catalogue of models: ``GET /api/v3/models`` (one envelope, no paging), read into
:class:`~playground.contract.ModelSpec` objects and registered so every layer can look a model up by id.

As the official CLI does, the catalogue is cached for an hour per base URL, in memory and in the playground's home
(``cache/models-<hash>.json``: ``{fetched_at, base_url, models}``, the entries as the API gave them; never a key).
A loopback API (the embedded local one, a new server each run) is cached in memory only, unless a folder is given.
When it cannot be read, an older cached copy is used, else the models this package knows by hand (offline).

>>> catalogue = client.catalogue()                           # doctest: +SKIP
>>> [m.model_id for m in catalogue.video_models()][:2]       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..contract import FAMILIES, MODELS, ModelSpec, SchemaError, find_model, get_model, register, spec_from_entry
from ..errors import ServerError, WaveSpeedError
from .transport import READ_TIMEOUT, RETRYABLE_STATUS, Transient, Transport, log, retry_after_of

CACHE_TTL_S = 3600.0
_MEMORY: dict[str, Catalogue] = {}
_MEMORY_LOCK = threading.Lock()


@dataclass(frozen=True)
class Catalogue:
    """The models of one API, by id, and where the list came from: "api", "cache" (an hour at most), "stale cache"
    (older, because the API did not answer) or "offline" (the known models only)."""

    base_url: str
    models: dict[str, ModelSpec]
    fetched_at: float
    source: str
    error: str = ""
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def video_models(self) -> list[ModelSpec]:
        """The video models, image-to-video first, then text-to-video and video-extend, each in ``sort_order``."""
        videos = [m for m in self.models.values() if m.type in FAMILIES]
        return sorted(videos, key=lambda m: (FAMILIES.index(m.type), m.sort_order, m.model_id))

    def fresh(self, now: float | None = None) -> bool:
        return self.source in ("api", "cache") and (now or time.time()) - self.fetched_at < CACHE_TTL_S


def read_entries(base_url: str, entries: list[Any], fetched_at: float, source: str) -> Catalogue:
    """A Catalogue from the API's entries; an entry that cannot be read at all is skipped, with its reason logged."""
    models, skipped = {}, []
    for entry in entries:
        try:
            spec = spec_from_entry(entry if isinstance(entry, dict) else {})
        except SchemaError as exc:
            skipped.append(str(exc))
            continue
        models[spec.model_id] = spec
    if skipped:
        log.info("%d catalogue entries skipped, e.g. %s", len(skipped), skipped[0])
    register(models.values())
    return Catalogue(base_url, models, fetched_at, source, skipped=tuple(skipped))


def offline(base_url: str, error: str) -> Catalogue:
    """The known models alone, for when no catalogue can be read."""
    return Catalogue(base_url, dict(MODELS), time.time(), "offline", error)


def cache_dir() -> Path:
    """Where catalogues are cached: ``PLAYGROUND_HOME/cache`` (the ledger's home)."""
    from ..jobs.model import default_home  # the home is the ledger's concept; imported late to keep layers light

    return default_home() / "cache"


def cache_file(base_url: str, folder: Path | None = None) -> Path:
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return (folder or cache_dir()) / f"models-{digest}.json"


def _read_cache(path: Path, base_url: str) -> tuple[float, list[Any]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("base_url") != base_url or not isinstance(data.get("models"), list):
        return None
    fetched = data.get("fetched_at")
    return (float(fetched), data["models"]) if isinstance(fetched, (int, float)) else None


def _write_cache(path: Path, base_url: str, entries: list[Any], fetched_at: float) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fetched_at": fetched_at, "base_url": base_url, "models": entries}),
                       encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only home still works, uncached
        log.info("catalogue not cached at %s (%s)", path, exc)


class Models(Transport):
    """The catalogue room of :class:`playground.client.Client`."""

    catalogue_cache: Path | None = None  # None: PLAYGROUND_HOME/cache, or memory only for a loopback API

    def fetch_models(self) -> list[Any]:
        """``GET /api/v3/models``: the raw entries (retried on 429, 5xx and dropped connections)."""
        def attempt() -> list[Any]:
            self._count("models")
            response = self._session.get(self._url("/api/v3/models"), auth=self._auth,
                                         timeout=(10.0, READ_TIMEOUT["get"]))
            if response.status_code in RETRYABLE_STATUS:
                raise Transient(self._http_error(response), retry_after_of(response))
            data = self._unwrap(response)
            if not isinstance(data, list):
                raise ServerError("The API's model list was not a list.")
            return data

        return self._retrying("GET /api/v3/models", attempt, lambda exc: ServerError(
            f"Reading the model catalogue failed ({type(exc).__name__}); check the network or the API's status"))

    def catalogue(self, *, refresh: bool = False) -> Catalogue:
        """The API's models (cached an hour per base URL; ``refresh`` reads them again). Never raises for an API
        that does not answer: an older copy or the known models are used, with ``source`` and ``error`` saying so."""
        now = time.time()
        memory = self._catalogue_memory()
        with _MEMORY_LOCK:
            held = memory.get(self.base_url)
        if held is not None and held.fresh(now) and not refresh:
            return held
        path = self._catalogue_file()
        cached = _read_cache(path, self.base_url) if path is not None else None
        if cached is not None and not refresh and now - cached[0] < CACHE_TTL_S:
            result = read_entries(self.base_url, cached[1], cached[0], "cache")
        else:
            try:
                entries = self.fetch_models()
            except WaveSpeedError as exc:
                log.info("model catalogue unavailable (%s)", exc)
                if cached is not None:
                    return read_entries(self.base_url, cached[1], cached[0], "stale cache")
                return offline(self.base_url, str(exc))
            if path is not None:
                _write_cache(path, self.base_url, entries, now)
            result = read_entries(self.base_url, entries, now, "api")
        with _MEMORY_LOCK:
            memory[self.base_url] = result
        return result

    def _loopback(self) -> bool:
        host = urlsplit(self.base_url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    def _catalogue_memory(self) -> dict[str, Catalogue]:
        """The process's catalogues by base URL; a loopback API's only for this client (its port may be another
        server's tomorrow, or the next test's)."""
        if not self._loopback():
            return _MEMORY
        if not hasattr(self, "_own_catalogue"):
            self._own_catalogue: dict[str, Catalogue] = {}
        return self._own_catalogue

    def _catalogue_file(self) -> Path | None:
        if self.catalogue_cache is not None:
            return cache_file(self.base_url, self.catalogue_cache)
        return None if self._loopback() else cache_file(self.base_url)

    def model_spec(self, model_id: Any) -> ModelSpec:
        """The model of ``model_id``: already known in this process, else looked up in this API's catalogue;
        :class:`~playground.contract.UnknownModel` (a ValidationError naming ``model``) when it has no such model."""
        known = find_model(model_id)
        if known is None and isinstance(model_id, str) and 0 < len(model_id.strip()) <= 200:
            known = self.catalogue().get(model_id)
        return known if known is not None else get_model(model_id)


__all__ = ["Catalogue", "Models", "CACHE_TTL_S", "cache_file", "read_entries", "offline"]
