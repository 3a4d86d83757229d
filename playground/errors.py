"""The small exception hierarchy. Every message says what happened, the task id when there is one, and what next.

No message ever carries an API key: callers pass ids and server texts, never headers.
"""

from __future__ import annotations


class WaveSpeedError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str, *, task_id: str | None = None, code: int | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.task_id = task_id
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ValidationError(WaveSpeedError, ValueError):
    """Bad input, refused before anything was paid for. ``problems`` lists one field-named message each."""

    def __init__(self, problems: list[str] | str, **kw):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems), **kw)


class AuthError(WaveSpeedError):
    """The API refused the key (HTTP 401/403)."""


class InsufficientCredits(WaveSpeedError):
    """The account's balance does not cover the request (code 1407). Nothing was charged."""


class RateLimited(WaveSpeedError):
    """HTTP 429 after the retries ran out. ``retry_after`` is in seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(WaveSpeedError):
    """An HTTP error the client could not get past (5xx after retries, or an unexpected reply)."""


class NotFound(WaveSpeedError):
    """The API does not know this prediction id."""


class TaskFailed(WaveSpeedError):
    """The task ended without a video (failed, cancelled, timeout, deleted). ``code`` is the API's error code."""


class TaskTimeout(WaveSpeedError):
    """We stopped waiting; the task goes on at the API and can be resumed by id."""


class Cancelled(WaveSpeedError):
    """The caller stopped the wait; the task may still finish and can be resumed by id. ``job_id`` is its ledger row
    when it has one."""

    def __init__(self, message: str, *, job_id: int | None = None, **kw):
        super().__init__(message, **kw)
        self.job_id = job_id


class OutputExpired(WaveSpeedError):
    """The output URL no longer answers (outputs are kept 7 days). The ledger keeps the task id."""


class SubmitOutcomeUnknown(WaveSpeedError):
    """The submit POST was sent but its reply was lost: the task may exist and be charged. Never re-sent; reconcile."""


class UnsafeURL(ValidationError):
    """A URL this process will not fetch: not http(s), or (for the real API) a private, loopback or link-local host."""


class OutputInvalid(WaveSpeedError):
    """The downloaded output is not a playable video (or is too large); nothing was recorded as the video. The job
    stays in the ledger with its task id for ``resume``."""


class CapExceeded(WaveSpeedError):
    """An operator's spending cap refuses the request before it is sent."""


# API error codes (V) and what each means for a person.
TASK_ERROR_CODES: dict[int, str] = {
    1200: "the content was refused by moderation",
    1400: "a required parameter is missing",
    1401: "a parameter is invalid",
    1402: "an input media URL could not be fetched",
    1403: "execution failed",
    1405: "execution failed",
    1407: "insufficient credits",
    5000: "internal error at the API",
    5003: "the model is unavailable",
    5004: "the task timed out at the API",
}
