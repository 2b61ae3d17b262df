"""Operator actions on single jobs: look up, list, cancel and retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from jobqueue.errors import InvalidTransition, JobNotFound
from jobqueue.jobs import Job
from jobqueue.sql import queries
from jobqueue.states import JobStatus, JobType, sources_of


def get_job(conn: psycopg.Connection, job_id: str) -> Job:
    """Return the job with ``job_id``; raise ``JobNotFound`` when there is none."""
    row = conn.execute(queries["get_job"], {"id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return Job.from_row(row)


@dataclass(frozen=True)
class Page:
    """One page of jobs, newest first, and the cursor of the next page (None on the last)."""

    jobs: list[Job]
    next_cursor: tuple[datetime, str] | None


def list_jobs(
    conn: psycopg.Connection,
    *,
    status: JobStatus | None = None,
    job_type: JobType | None = None,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
) -> Page:
    """Return up to ``limit`` jobs matching the filters, after the ``after`` cursor.

    The cursor is the (createdAt, id) of the last job of the previous page,
    so pages stay stable while jobs are added.
    """
    after_created_at, after_id = after if after else (None, None)
    if after_created_at is not None and after_created_at.tzinfo is not None:
        after_created_at = after_created_at.astimezone(UTC).replace(tzinfo=None)
    rows = conn.execute(
        queries["list_jobs"],
        {
            "status": status.value if status else None,
            "type": job_type.value if job_type else None,
            "after_created_at": after_created_at,
            "after_id": after_id,
            "limit": limit + 1,
        },
    ).fetchall()
    jobs = [Job.from_row(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    next_cursor = (jobs[-1].created_at, jobs[-1].id) if has_more and jobs else None
    return Page(jobs, next_cursor)


def cancel_job(conn: psycopg.Connection, job_id: str, *, reason: str = "cancelled by request") -> Job:
    """Cancel a PENDING job and return it.

    Raises ``JobNotFound`` when no job has that id, and
    ``InvalidTransition`` (with the job's actual status) when it is not
    PENDING: a running job finishes its attempt, and a finished one stays.
    """
    row = conn.execute(queries["cancel_job"], {"id": job_id, "reason": reason}).fetchone()
    if row is not None:
        return Job.from_row(row)
    current = get_job(conn, job_id)
    allowed = tuple(s.value for s in sources_of(JobStatus.CANCELLED, "cancel"))
    raise InvalidTransition(job_id, current.status.value, "cancel", allowed)


def cancel_by_dedup_key(conn: psycopg.Connection, dedup_key: str, *, reason: str = "cancelled by request") -> list[Job]:
    """Cancel the PENDING job holding ``dedup_key``; return it, or [] when none is pending."""
    rows = conn.execute(queries["cancel_jobs_by_dedup_key"], {"dedup_key": dedup_key, "reason": reason}).fetchall()
    return [Job.from_row(row) for row in rows]


def retry_job(conn: psycopg.Connection, job_id: str) -> Job:
    """Make a FAILED or CANCELLED job PENDING again, due now, with its attempts reset.

    The error history is kept. Raises ``JobNotFound`` or
    ``InvalidTransition`` as ``cancel_job`` does.
    """
    row = conn.execute(queries["retry_job"], {"id": job_id}).fetchone()
    if row is not None:
        return Job.from_row(row)
    current = get_job(conn, job_id)
    allowed = tuple(s.value for s in sources_of(JobStatus.PENDING, "manual retry"))
    raise InvalidTransition(job_id, current.status.value, "retry", allowed)
