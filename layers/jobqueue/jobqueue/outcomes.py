"""What a handler gets (``JobContext``) and what it returns (an outcome).

A handler is ``handle(job, ctx) -> Outcome | None``. Returning None, or
``Complete``, completes the job. Raising ``PermanentError`` fails it at
once; raising anything else retries it with backoff until its attempts run
out. The handler's database writes go through ``ctx.conn``: they commit
together with the job's new status, or not at all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from jobqueue.config import Settings
from jobqueue.db import Database, get_database
from jobqueue.enqueue import Enqueued, NewJob, enqueue, enqueue_many
from jobqueue.jobs import Job


@dataclass(frozen=True)
class Complete:
    """The job is done; ``result`` (JSON-ready) is stored on the job."""

    result: Any = None


# Each outcome checks its fields when a handler builds it, so a bad value
# fails inside the handler and is recorded as that job's error. Found later,
# while the outcome is written, it would abort the transaction that other
# jobs share.


@dataclass(frozen=True)
class RetryAfter:
    """Run the job again after ``seconds``; the attempt counts."""

    seconds: float
    reason: str = "retry requested by the handler"

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or math.isnan(self.seconds):
            raise TypeError(f"RetryAfter.seconds must be a number of seconds, got {self.seconds!r}")
        _check_reason("RetryAfter", self.reason)


@dataclass(frozen=True)
class SnoozeUntil:
    """Run the job again at ``run_at`` (timezone-aware) without spending the attempt."""

    run_at: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.run_at, datetime) or self.run_at.utcoffset() is None:
            raise TypeError(f"SnoozeUntil.run_at must be a timezone-aware datetime, got {self.run_at!r}")
        _check_reason("SnoozeUntil", self.reason)


@dataclass(frozen=True)
class Cancel:
    """The job has nothing left to do; it ends CANCELLED."""

    reason: str

    def __post_init__(self) -> None:
        _check_reason("Cancel", self.reason)


@dataclass(frozen=True)
class Fail:
    """The job cannot succeed; it ends FAILED at once, whatever its attempts."""

    reason: str

    def __post_init__(self) -> None:
        _check_reason("Fail", self.reason)


def _check_reason(outcome: str, reason: object) -> None:
    if not isinstance(reason, str):
        raise TypeError(f"{outcome}.reason must be a string, got {type(reason).__name__}")


Outcome = Complete | RetryAfter | SnoozeUntil | Cancel | Fail
OUTCOME_TYPES = (Complete, RetryAfter, SnoozeUntil, Cancel, Fail)

class JobContext:
    """The job's transaction and helpers, handed to its handler.

    ``conn`` is the processor's connection. Its first use begins the
    transaction that will also record the job's outcome, so the handler's
    writes and the job's new status commit together, or not at all. Use it
    for every write the job makes, and never commit or roll it back
    yourself: nested ``conn.transaction()`` blocks (savepoints) are fine.
    """

    def __init__(
        self,
        job: Job,
        conn: psycopg.Connection,
        *,
        settings: Settings,
        logger: logging.Logger | logging.LoggerAdapter,
        remaining_seconds: Callable[[], float],
        database: Database | None = None,
    ) -> None:
        self.job = job
        self.settings = settings
        self.logger = logger
        self._conn = conn
        self._remaining_seconds = remaining_seconds
        self._database = database
        self.in_transaction = False

    @property
    def conn(self) -> psycopg.Connection:
        if not self.in_transaction:
            self._conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            self.in_transaction = True
        return self._conn

    @property
    def database(self) -> Database:
        """The pool ``conn`` came from, for a write that must commit on its own, outside the job's transaction.

        Keep such transactions short, and never touch rows the job's
        transaction has already written: the job's transaction holds
        their locks until it commits, so the separate one would wait forever.
        """
        if self._database is None:
            self._database = get_database(self.settings)
        return self._database

    def remaining_seconds(self) -> float:
        """Return the seconds left before the Lambda invocation times out."""
        return self._remaining_seconds()

    def enqueue(self, job: NewJob) -> Enqueued:
        """Enqueue a follow-up job in this job's transaction."""
        return enqueue(self.conn, job, max_payload_bytes=self.settings.max_payload_bytes)

    def enqueue_many(self, jobs: list[NewJob]) -> list[Enqueued]:
        """Enqueue follow-up jobs in this job's transaction."""
        return enqueue_many(self.conn, jobs, max_payload_bytes=self.settings.max_payload_bytes)
