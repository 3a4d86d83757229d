"""How one local API server behaves: timing, keys, limits, balance, faults, its catalogue and discounts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.contract import IMAGE_LIMITS

from .faults import FaultPlan

TIMINGS = ("instant", "realistic")
RENDERS = ("full", "protocol")
ENV_PREFIX = "PLAYGROUND_LOCAL_"
_TRUE = ("1", "true", "yes")
# The settings read by LocalConfig.from_env: PLAYGROUND_LOCAL_<NAME> -> (field, how the text is read).
ENV_SETTINGS: dict[str, tuple[str, Any]] = {
    "TIMING": ("timing", str),
    "RENDER": ("render", str),
    "SPEED": ("speed", float),
    "CONCURRENCY": ("concurrency", int),
    "RPM": ("rpm", int),
    "BALANCE": ("balance", float),
    "FAULTS": ("faults", str),
    "ALLOW_PRIVATE_FETCH": ("allow_private_fetch", lambda text: text.strip().lower() in _TRUE),
    "CATALOGUE": ("catalogue_path", Path),
}


@dataclass
class LocalConfig:
    """Settings of :func:`playground.local.start_server`.

    ``timing="instant"`` renders as fast as the machine can; ``"realistic"`` keeps a task "processing" for
    ``contract.typical_inference_seconds(resolution, duration) * speed`` seconds, give or take ``jitter`` (at least
    the render time).

    ``render="full"`` renders each task's clip from its image; ``"protocol"`` gives every task the same tiny valid
    MP4 (64x64 H.264, encoded once per process), so thousands of tasks cost next to nothing while the timing model,
    limits and faults apply as usual: for tests and benchmarks that count requests rather than look at videos.

    The catalogue (``GET /api/v3/models``) is the built-in models (:mod:`.catalogue_data`), then the entries of the
    JSON file ``catalogue_path`` (``PLAYGROUND_LOCAL_CATALOGUE``), then ``extra_models``, each in the live
    catalogue's shape; an entry replaces a built-in one of the same id. ``discounts`` maps model ids to the share
    taken off their price (0.2: 20% off), as an account's discount shows in ``discounted_price`` and in the charge.
    """

    timing: str = "instant"
    render: str = "full"  # "full" or "protocol"
    speed: float = 1.0  # realistic-mode factor: 0.05 makes a 5 s 480p clip take ~1.25 s
    jitter: float = 0.1  # realistic mode: each task's time is drawn uniformly within +-10%, as real runs vary
    keys: frozenset[str] | None = None  # None: any non-empty bearer key is accepted; else other keys get 401
    concurrency: int = 2  # tasks of one key processing at once (Bronze level); later ones wait as "created"
    rpm: int | None = None  # submits per minute per key; over it: HTTP 429 with Retry-After
    balance: float = 10.0  # starting USD balance of every key's account
    allow_fetch: bool = False  # fetch public http(s) image URLs; otherwise such tasks fail with code 1402 (offline)
    # Also fetch loopback, private and link-local hosts. For tests only: it lets anyone who can submit make the
    # server probe its own network.
    allow_private_fetch: bool = False
    fetch_timeout: float = 30.0  # seconds for a whole image fetch (connect, headers and body)
    data_dir: Path | None = None  # uploads and outputs; None: a temporary directory removed at stop
    render_workers: int = 2
    faults: FaultPlan | str = field(default_factory=FaultPlan)  # a plan, or its spec text
    # Webhooks: secrets fixed per API key (others are made on first use), and how failed deliveries are retried.
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    webhook_attempts: int = 5
    webhook_backoff: float = 0.5  # seconds before the 2nd attempt, doubling after each
    sync_wait: float = 60.0  # how long enable_sync_mode holds a submit before answering 5004
    upload_max_bytes: int = IMAGE_LIMITS.max_bytes  # one uploaded file (the contract's image limit)
    upload_ticket_seconds: float = 3600.0  # how long a PUT upload URL stays valid
    history_inputs: bool = True  # history items carry each task's "input" (the contract does not promise it)
    upload_lifetime_seconds: float = 7 * 24 * 3600.0  # how long an uploaded file is served, as the real API keeps it
    json_max_bytes: int = 1024 * 1024  # a JSON body of price, history, delete, upload tickets; larger ones get 413
    # A submit body: the contract's whole-request limit, as its images may come inline as data: URIs.
    submit_max_bytes: int = IMAGE_LIMITS.max_request_bytes
    extra_models: list[dict[str, Any]] = field(default_factory=list)  # catalogue entries added (or replacing ones)
    catalogue_path: Path | None = None  # a JSON file of catalogue entries (a list, or the API's own reply)
    discounts: dict[str, float] = field(default_factory=dict)  # model id -> share off its price, 0 to below 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **defaults: Any) -> LocalConfig:
        """A config from ``PLAYGROUND_LOCAL_*`` variables over ``defaults`` (see :data:`ENV_SETTINGS`).

        >>> LocalConfig.from_env({"PLAYGROUND_LOCAL_RENDER": "protocol"}, concurrency=4).render
        'protocol'
        """
        env = os.environ if environ is None else environ
        values = dict(defaults)
        for name, (attr, read) in ENV_SETTINGS.items():
            text = env.get(ENV_PREFIX + name, "").strip()
            if not text:
                continue
            try:
                values[attr] = read(text)
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{name}: {text!r} is not a valid {attr}") from None
        return cls(**values)

    def __post_init__(self) -> None:
        if self.timing not in TIMINGS:
            raise ValueError(f"timing: {self.timing!r} is not known; choose one of {', '.join(TIMINGS)}")
        if self.render not in RENDERS:
            raise ValueError(f"render: {self.render!r} is not known; choose one of {', '.join(RENDERS)}")
        if self.speed <= 0:
            raise ValueError(f"speed: {self.speed} must be greater than 0")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter: {self.jitter} is out of range; allowed 0 to below 1")
        if self.concurrency < 1:
            raise ValueError(f"concurrency: {self.concurrency} must be at least 1")
        if self.rpm is not None and self.rpm < 1:
            raise ValueError(f"rpm: {self.rpm} must be at least 1 (or None for no limit)")
        if self.render_workers < 1:
            raise ValueError(f"render_workers: {self.render_workers} must be at least 1")
        for name in ("fetch_timeout", "upload_max_bytes", "upload_ticket_seconds", "upload_lifetime_seconds",
                     "json_max_bytes", "submit_max_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)} must be greater than 0")
        if isinstance(self.keys, str):
            self.keys = frozenset(k.strip() for k in self.keys.split(","))
        if self.keys is not None:
            self.keys = frozenset(k for k in self.keys if k)
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
        if isinstance(self.faults, str):
            self.faults = FaultPlan.parse(self.faults)
        if self.catalogue_path is not None:
            self.catalogue_path = Path(self.catalogue_path)
        if not isinstance(self.extra_models, (list, tuple)):
            raise ValueError("extra_models: expected a list of catalogue entries")
        for model_id, rate in self.discounts.items():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise ValueError(f"discounts: {model_id}: {rate!r} is out of range; allowed 0 to below 1")
