"""Adding jobs to the queue: one, many, or inside the caller's transaction.

Every function here validates its input before writing; a bad job raises
``InvalidJob`` (or ``PayloadTooLarge``) naming the field, and nothing is
written. Pass the caller's open connection to enqueue inside its
transaction: the job exists only if that transaction commits.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from jobqueue.config import MAX_ATTEMPTS, MAX_PAYLOAD_BYTES
from jobqueue.errors import InvalidJob, PayloadTooLarge
from jobqueue.sql import queries
from jobqueue.states import JobType

MAX_ATTEMPTS_LIMIT = 100
PRIORITY_LIMIT = 1000
DEDUP_KEY_MAX_LENGTH = 255
# Ten years: a longer delay is a units mistake, not a schedule.
MAX_DELAY_SECONDS = 10 * 365 * 86400


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue. ``run_at`` (timezone-aware) wins over ``delay_seconds``."""

    type: JobType | str
    payload: Mapping[str, Any]
    run_at: datetime | None = None
    delay_seconds: float = 0.0
    max_attempts: int = MAX_ATTEMPTS
    priority: int = 0
    dedup_key: str | None = None


@dataclass(frozen=True)
class Enqueued:
    """The outcome of one enqueue: the job's id, and False when an active job with the same key existed."""

    id: str
    created: bool


@dataclass(frozen=True)
class _Checked:
    type: str
    payload_json: str
    run_at: datetime | None
    delay_seconds: float
    max_attempts: int
    priority: int
    dedup_key: str | None


def validate(job: NewJob, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES, prefix: str = "") -> _Checked:
    """Check every field of ``job``; raise ``InvalidJob`` naming the first bad one.

    ``prefix`` is put before field names in errors (``jobs[3].payload``).
    """
    try:
        job_type = JobType(job.type).value
    except ValueError:
        allowed = ", ".join(t.value for t in JobType)
        raise InvalidJob(f"{prefix}type", f"{job.type!r} is not a job type; use one of {allowed}") from None

    if not isinstance(job.payload, Mapping):
        raise InvalidJob(f"{prefix}payload", f"must be a JSON object, got {type(job.payload).__name__}")
    try:
        payload_json = json.dumps(job.payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"{prefix}payload", f"is not serializable as JSON: {exc}") from None
    if "\\u0000" in payload_json:
        raise InvalidJob(f"{prefix}payload", "contains a NUL character (\\u0000), which PostgreSQL cannot store")
    size = len(payload_json.encode("utf-8"))
    if size > max_payload_bytes:
        raise PayloadTooLarge(
            f"{prefix}payload",
            f"is {size} bytes of JSON, above the limit of {max_payload_bytes} bytes; "
            f"store large data elsewhere and pass a reference",
        )

    run_at = job.run_at
    if run_at is not None:
        if not isinstance(run_at, datetime):
            raise InvalidJob(f"{prefix}scheduledAt", f"must be a datetime, got {type(run_at).__name__}")
        if run_at.tzinfo is None or run_at.utcoffset() is None:
            raise InvalidJob(f"{prefix}scheduledAt", "has no time zone; give an offset such as Z or +02:00")
        # PostgreSQL accepts UTC offsets up to 15:59 and Python up to 23:59, so send UTC.
        try:
            run_at = run_at.astimezone(UTC)
        except OverflowError:
            raise InvalidJob(
                f"{prefix}scheduledAt", "is out of range; use a time between the years 1 and 9999 in UTC"
            ) from None

    delay = job.delay_seconds
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay):
        raise InvalidJob(f"{prefix}delaySeconds", f"must be a finite number of seconds, got {delay!r}")
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise InvalidJob(f"{prefix}delaySeconds", f"{delay!r} is out of range; use 0 to {MAX_DELAY_SECONDS}")

    attempts = job.max_attempts
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
        raise InvalidJob(f"{prefix}maxAttempts", f"{attempts!r} is invalid; use a whole number from 1 to {MAX_ATTEMPTS_LIMIT}")

    priority = job.priority
    if isinstance(priority, bool) or not isinstance(priority, int) or not -PRIORITY_LIMIT <= priority <= PRIORITY_LIMIT:
        raise InvalidJob(
            f"{prefix}priority", f"{priority!r} is invalid; use a whole number from {-PRIORITY_LIMIT} to {PRIORITY_LIMIT}"
        )

    key = job.dedup_key
    if key is not None:
        if not isinstance(key, str) or not key.strip():
            raise InvalidJob(f"{prefix}dedupKey", "must be a non-empty string, or omitted")
        if len(key) > DEDUP_KEY_MAX_LENGTH or "\x00" in key:
            raise InvalidJob(
                f"{prefix}dedupKey", f"must be at most {DEDUP_KEY_MAX_LENGTH} characters with no NUL character"
            )

    return _Checked(job_type, payload_json, run_at, float(delay), attempts, priority, key)


def enqueue(conn: psycopg.Connection, job: NewJob, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Enqueued:
    """Insert ``job`` on ``conn`` and return its id.

    Runs in the caller's transaction when one is open (commit it to make
    the job visible), or commits at once on an autocommit connection. With
    a ``dedup_key`` held by an active job, returns that job with
    ``created=False`` and inserts nothing.
    """
    checked = validate(job, max_payload_bytes=max_payload_bytes)
    row = conn.execute(
        queries["enqueue_job"],
        {
            "type": checked.type,
            "payload": checked.payload_json,
            "run_at": checked.run_at,
            "delay_seconds": checked.delay_seconds,
            "max_attempts": checked.max_attempts,
            "priority": checked.priority,
            "dedup_key": checked.dedup_key,
        },
    ).fetchone()
    return Enqueued(id=_value(row, "job_id", 0), created=_value(row, "created", 1))


def enqueue_many(
    conn: psycopg.Connection, jobs: Iterable[NewJob], *, max_payload_bytes: int = MAX_PAYLOAD_BYTES
) -> list[Enqueued]:
    """Insert many jobs in one statement; return one ``Enqueued`` per job, in order.

    Every job is validated before anything is written, so one bad job
    rejects the whole call. Jobs whose deduplication key is held by an
    active job, or by an earlier job of the same call, get that job's id
    with ``created=False``. Transactions behave as in ``enqueue``.
    """
    checked = [
        validate(job, max_payload_bytes=max_payload_bytes, prefix=f"jobs[{index}].")
        for index, job in enumerate(jobs)
    ]
    if not checked:
        return []
    results: list[Enqueued | None] = [None] * len(checked)
    pending = list(range(len(checked)))

    # Inside one transaction block, so the job exists only if the caller's
    # transaction (or this block) commits. A job is left pending only when
    # the active job holding its key finished between the insert and the
    # look-up; the next round inserts it, so the loop ends in practice
    # after one round.
    with conn.transaction():
        for _ in range(_ENQUEUE_ROUNDS):
            if not pending:
                break
            pending = _insert_round(conn, checked, pending, results)
    if pending:
        key = checked[pending[0]].dedup_key
        raise InvalidJob(
            f"jobs[{pending[0]}].dedupKey",
            f"the active job holding {key!r} kept finishing while enqueueing; enqueue again",
        )
    return [result for result in results if result is not None]


_ENQUEUE_ROUNDS = 5


def _insert_round(
    conn: psycopg.Connection, checked: list[_Checked], pending: list[int], results: list[Enqueued | None]
) -> list[int]:
    ids = {index: str(uuid.uuid4()) for index in pending}
    batch = [checked[index] for index in pending]
    rows = conn.execute(
        queries["enqueue_jobs"],
        {
            "ids": list(ids.values()),
            "types": [c.type for c in batch],
            "payloads": [c.payload_json for c in batch],
            "run_ats": [c.run_at for c in batch],
            "delays": [c.delay_seconds for c in batch],
            "max_attempts": [c.max_attempts for c in batch],
            "priorities": [c.priority for c in batch],
            "dedup_keys": [c.dedup_key for c in batch],
        },
    ).fetchall()
    inserted = {_value(row, "id", 0) for row in rows}
    skipped = [index for index in pending if ids[index] not in inserted]
    for index in pending:
        if ids[index] in inserted:
            results[index] = Enqueued(ids[index], True)

    existing: dict[str, str] = {}
    if skipped:
        keys = list({checked[index].dedup_key for index in skipped})
        for row in conn.execute(queries["find_active_jobs_by_dedup_keys"], {"dedup_keys": keys}):
            existing[_value(row, "dedup_key", 1)] = _value(row, "id", 0)
    still_pending = []
    for index in skipped:
        key = checked[index].dedup_key
        if key in existing:
            results[index] = Enqueued(existing[key], False)
        else:
            still_pending.append(index)
    return still_pending


def _value(row: Any, key: str, index: int) -> Any:
    # Connections from jobqueue.db return dict rows; callers' own
    # connections may return tuples.
    return row[key] if isinstance(row, Mapping) else row[index]
