"""Claiming due jobs under a lease, and handing back jobs never started."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from jobqueue.jobs import Job
from jobqueue.retrying import retry_serialization_failures
from jobqueue.sql import queries
from jobqueue.states import JobType


def claim_due_jobs(
    conn: psycopg.Connection,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    types: Sequence[JobType] | None = None,
) -> list[Job]:
    """Claim up to ``limit`` due PENDING jobs for ``owner`` and commit the claim.

    Each claimed job is PROCESSING, has one more attempt and a lease that
    expires in ``lease_seconds``. Jobs locked by another claim are skipped,
    so concurrent processors never claim the same job. The caller must
    record an outcome for every job, or hand it back with ``release_jobs``;
    otherwise lease rescue returns it once the lease expires.
    """

    def claim() -> list[Job]:
        with conn.transaction():
            return claim_due_jobs_in_transaction(
                conn, owner=owner, limit=limit, lease_seconds=lease_seconds, types=types
            )

    return retry_serialization_failures(claim)


def claim_due_jobs_in_transaction(
    conn: psycopg.Connection,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    types: Sequence[JobType] | None = None,
) -> list[Job]:
    """Claim as ``claim_due_jobs`` does, in the caller's open transaction.

    The claim takes effect when the caller commits; the jobs are returned
    in claim order (priority, then due time).
    """
    params = {
        "owner": owner,
        "limit": limit,
        "lease_seconds": lease_seconds,
        "types": [t.value for t in types] if types else None,
    }
    jobs = [Job.from_row(row) for row in conn.execute(queries["claim_due_jobs"], params).fetchall()]
    # The UPDATE returns rows in no set order.
    jobs.sort(key=lambda job: (-job.priority, job.scheduled_at, job.id))
    return jobs


def release_jobs(conn: psycopg.Connection, jobs: Sequence[Job], *, owner: str) -> int:
    """Return claimed jobs that never started to PENDING, refunding their attempt.

    Returns how many were released; a job whose lease this owner lost is
    left alone.
    """
    if not jobs:
        return 0
    params = {"ids": [job.id for job in jobs], "attempts": [job.attempts for job in jobs], "owner": owner}

    def release() -> int:
        with conn.transaction():
            return len(conn.execute(queries["release_jobs"], params).fetchall())

    return retry_serialization_failures(release)
