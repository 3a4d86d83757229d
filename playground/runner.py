"""The runner's public names (the Runner lives with the steps it drives, in :mod:`playground.pipeline.runner`)."""

from .pipeline.runner import RATE_LIMIT_RETRIES, Runner
from .progress import END_PHASES, RunEvent

__all__ = ["Runner", "RunEvent", "END_PHASES", "RATE_LIMIT_RETRIES"]
