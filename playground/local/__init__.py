"""The embedded WaveSpeed-compatible API: free, offline, procedural previews rendered from the input image.

It speaks the v3 contract (``shared/contract/wavespeed-v3.md``) over real HTTP, so the official ``wavespeed`` SDK
and our client run against it unchanged, and it injects faults on demand (see :mod:`playground.local.faults`).

Parts: :mod:`.server`, :mod:`.routes_files` and :mod:`.routes_account` (routes), :mod:`.media` (URLs, keys),
:mod:`.gateway` (envelopes, status mapping, request log, injected faults) and :mod:`.bodies` (bounded bodies) are the
HTTP layer; behind it the service model, with :mod:`.state` as its facade: :mod:`.catalogue` (the models served at
``GET /api/v3/models``, their schemas (:mod:`.schema`), checks and prices; built-ins in :mod:`.catalogue_data`),
:mod:`.accounts` (balances, rpm and concurrency limits), :mod:`.billing` (deductions and refunds), :mod:`.tasks`
(the ``TaskState`` life cycle), :mod:`.history`, :mod:`.uploads` (tickets, files, per-run ids, expiry),
:mod:`.scheduler` (created -> processing -> ended), :mod:`.outputs` (a full render by :mod:`.render` with
:mod:`.camera`, :mod:`.looks`, :mod:`.pictures` and :mod:`.sound`, or with ``render="protocol"`` one tiny shared
MP4), :mod:`.webhooks`; refusals are :mod:`.errors`, mapped to HTTP by the server alone.

>>> with start_server(LocalConfig(timing="instant")) as server:   # doctest: +SKIP
...     from wavespeed import Client
...     client = Client(api_key="any-key", base_url=server.url)
...     url = client.upload("photo.png")
...     client.run("bytedance/seedance-v1.5-pro/image-to-video-spicy", {"image": url, "resolution": "480p"})
{'outputs': ['http://127.0.0.1:54321/media/outputs/….mp4']}
"""

from .config import LocalConfig
from .faults import Fault, FaultPlan
from .server import LocalServer, start_server

__all__ = ["LocalConfig", "LocalServer", "start_server", "Fault", "FaultPlan"]
