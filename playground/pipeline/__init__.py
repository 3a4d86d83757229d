"""A job's life cycle, from "image + parameters" to "video on disk", one room per step, driven by one runner.

* :mod:`.run`: :func:`generate`, :func:`resume` and :func:`wait`, thin compositions over the runner;
* :mod:`.runner`: the :class:`Runner`, the one driver of every job (page, sweeps, finals, webhooks, library);
* :mod:`.schedule`: a job's stages and the scheduler that moves jobs through them;
* :mod:`.steps`: :func:`plan` (reserve or reuse), :func:`submit` (the one POST), :func:`record_end` (once),
  :func:`collect`;
* :mod:`.waiting`: one look at a task (a delivery, else a GET) on its poll clock;
* :mod:`.collect`: the checked download, the probe, the :class:`Result`; a paid video served again;
* :mod:`.recover`: rows whose task is not known yet, and :func:`claim`;
* :mod:`.inputs`: the request's media, read and checked once, and their uploads;
* :mod:`.charges`: what the API really charged, read back into the ledger;
* :mod:`.extend`: a finished clip continued by a video-extend model, linked to its parent.
"""

from ..progress import ProgressEvent, ProgressHook
from .charges import settle
from .collect import Result
from .extend import chain, chain_cost, extend, extension_price
from .inputs import Media, ensure_uploaded, read_media
from .recover import ambiguity_message, claim
from .run import ResumeOutcome, generate, generate_request, resume, wait
from .runner import Runner
from .steps import Guard, Planned, Twin, collect, plan, record_end, submit
from .waiting import expected_seconds

__all__ = ["generate", "generate_request", "resume", "wait", "claim", "read_media", "ensure_uploaded", "Media",
           "Result", "ResumeOutcome", "Planned", "Twin", "Guard", "plan", "submit", "record_end", "collect", "Runner",
           "ProgressEvent", "ProgressHook", "expected_seconds", "ambiguity_message", "settle", "extend",
           "extension_price", "chain", "chain_cost"]
