"""Every error the queue raises, under one base class.

Messages name the offending value and what to do next. Driver errors
are wrapped with the original as ``__cause__``.
"""

from __future__ import annotations


class JobQueueError(Exception):
    """Base class of every error raised by the queue library."""


class ConfigError(JobQueueError):
    """A setting is missing or invalid; the message names the variable."""


class DatabaseUnavailable(JobQueueError):
    """The database cannot be reached, or a connection broke mid-call."""


class InvalidJob(JobQueueError):
    """A job's fields failed validation before anything was written.

    ``field`` names the offending field, as the API reports it.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class PayloadTooLarge(InvalidJob):
    """A payload's JSON text is larger than MAX_PAYLOAD_BYTES."""


class JobNotFound(JobQueueError):
    """No job has the given id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class InvalidTransition(JobQueueError):
    """A job is not in a status that allows the requested change."""

    def __init__(self, job_id: str, status: str, action: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"cannot {action} job {job_id!r}: its status is {status}, "
            f"and only {' or '.join(allowed)} jobs can be {_past(action)}"
        )
        self.job_id = job_id
        self.status = status
        self.action = action


class LeaseLost(JobQueueError):
    """The processor no longer owns the job it tried to update.

    Its lease expired and the job was rescued or claimed again, so the
    update was skipped and the handler's writes rolled back.
    """


class HandlerError(JobQueueError):
    """Base class for errors a handler raises on purpose."""


class RetryableError(HandlerError):
    """A transient failure: the job is retried with backoff."""


class PermanentError(HandlerError):
    """A failure that retrying cannot fix: the job fails at once."""


def _past(action: str) -> str:
    return {"cancel": "cancelled", "retry": "retried"}.get(action, action + "ed")
