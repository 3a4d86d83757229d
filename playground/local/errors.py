"""Why the local service refused something, in its own terms; only :mod:`.server` turns these into HTTP replies.

>>> try:
...     raise InsufficientCredits("insufficient credits")
... except ServiceError as exc:
...     str(exc)
'insufficient credits'
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service model refuses; the message says what is wrong and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    """A parameter is missing, of the wrong type or out of range (nothing was charged)."""


class NotFound(ServiceError):
    """No such task or file for this key."""


class InsufficientCredits(ServiceError):
    """The account's balance is below the task's price."""


class RateLimited(ServiceError):
    """Over the key's submits per minute; ``retry_after`` is the whole seconds until a slot frees."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class UploadRefused(ServiceError):
    """An upload ticket that is unknown, forged or expired."""


class TooLarge(ServiceError):
    """A file over the service's size limit."""
