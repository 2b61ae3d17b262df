"""Writing a run's outcome onto its job, fenced by lease owner and attempt.

Every statement here matches the job's status (PROCESSING), lease owner
and attempt number, so a processor whose lease expired changes nothing:
the statement returns no row, and the caller logs the lost lease.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg

from jobqueue.backoff import retry_delay_seconds
from jobqueue.config import Settings
from jobqueue.jobs import Job
from jobqueue.outcomes import Cancel, Complete, Fail, RetryAfter, SnoozeUntil
from jobqueue.sql import queries

MAX_ERROR_LENGTH = 4000
# A NUL character in JSON text; jsonb rejects it, so results store U+FFFD instead.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


class Raised:
    """An exception a handler raised, as an outcome to record."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def record_outcome(
    conn: psycopg.Connection, job: Job, outcome: Any, *, owner: str, settings: Settings
) -> tuple[str | None, float | None]:
    """Write the job's new status in the connection's current transaction.

    Returns the outcome's word (``completed``, ``retried``, ``snoozed``,
    ``cancelled`` or ``failed``), or None when the lease was lost, and the
    retry delay in seconds when the job was rescheduled. A ``Raised`` or
    ``RetryAfter`` outcome on the job's last attempt fails it.
    """
    fence = {"id": job.id, "owner": owner, "attempt": job.attempts}
    delay = None
    if isinstance(outcome, Complete):
        changed = conn.execute(queries["complete_job"], {**fence, "result": result_json(outcome.result)})
        word = "completed"
    elif isinstance(outcome, SnoozeUntil):
        changed = conn.execute(queries["snooze_job"], {**fence, "run_at": outcome.run_at})
        word = "snoozed"
    elif isinstance(outcome, Cancel):
        changed = conn.execute(queries["cancel_leased_job"], {**fence, "reason": clip(outcome.reason)})
        word = "cancelled"
    elif isinstance(outcome, Fail):
        changed = conn.execute(queries["fail_job"], {**fence, "error": clip(outcome.reason), "kind": "permanent"})
        word = "failed"
    else:
        error, kind, delay = _retry_plan(job, outcome, settings)
        if job.attempts >= job.max_attempts:
            changed = conn.execute(queries["fail_job"], {**fence, "error": error, "kind": kind})
            word, delay = "failed", None
        else:
            changed = conn.execute(
                queries["schedule_retry"], {**fence, "error": error, "kind": kind, "delay_seconds": delay}
            )
            word = "retried"
    return (word if changed.fetchone() is not None else None), delay


def complete_jobs(conn: psycopg.Connection, completions: list[tuple[Job, Complete]], *, owner: str) -> set[str]:
    """Mark many jobs COMPLETED in one statement; return the ids whose lease was still held."""
    if not completions:
        return set()
    rows = conn.execute(
        queries["complete_jobs"],
        {
            "ids": [job.id for job, _ in completions],
            "attempts": [job.attempts for job, _ in completions],
            "results": [result_json(outcome.result) for _, outcome in completions],
            "owner": owner,
        },
    ).fetchall()
    return {row["id"] for row in rows}


def _retry_plan(job: Job, outcome: Any, settings: Settings) -> tuple[str, str, float]:
    if isinstance(outcome, RetryAfter):
        seconds = outcome.seconds if outcome.seconds >= 0 else 0.0
        return clip(outcome.reason), "retry_requested", min(seconds, settings.retry_max_seconds)
    delay = retry_delay_seconds(
        job.attempts,
        base_seconds=settings.retry_base_seconds,
        max_seconds=settings.retry_max_seconds,
        jitter=settings.retry_jitter,
    )
    return clip(describe(outcome.error)), "exception", delay


def error_of(outcome: Any) -> str | None:
    """Return the error text an outcome records, if any."""
    if isinstance(outcome, Raised):
        return clip(describe(outcome.error))
    if isinstance(outcome, (Fail, RetryAfter)):
        return clip(outcome.reason)
    if isinstance(outcome, Cancel):
        return clip(outcome.reason)
    return None


def describe(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception, as stored in the job's error."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def clip(text: str) -> str:
    """Return ``text`` cut to MAX_ERROR_LENGTH, with NUL (which PostgreSQL text cannot hold) replaced."""
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def result_json(result: Any) -> str | None:
    """Return a handler's result as JSON text for the ``result`` column."""
    if result is None:
        return None
    try:
        text = json.dumps(result, default=str, allow_nan=False)
    except (ValueError, RecursionError):  # NaN, a circular reference, or nesting too deep
        return json.dumps({"unserializable": repr(result)[:MAX_ERROR_LENGTH]})
    return _JSON_NUL.sub(r"\1\\ufffd", text)
