"""Queue statistics: counts by status and type, and the queue's lag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from jobqueue.sql import queries
from jobqueue.states import JobStatus, JobType


def queue_stats(conn: psycopg.Connection) -> dict[str, Any]:
    """Return job counts by status, by type and by both, and the oldest due job's age.

    ``oldestDueAgeSeconds`` is how long the oldest due PENDING job has
    waited past its ``scheduledAt`` (None when nothing is due): the
    queue's lag.
    """
    by_status = {status.value.lower(): 0 for status in JobStatus}
    by_type = {job_type.value: {status.value.lower(): 0 for status in JobStatus} for job_type in JobType}
    for row in conn.execute(queries["count_jobs_by_type_and_status"]):
        status = row["status"].lower()
        by_status[status] = by_status.get(status, 0) + row["count"]
        by_type.setdefault(row["type"], {})[status] = row["count"]
    age = conn.execute(queries["get_oldest_due_job_age"]).fetchone()["age_seconds"]
    return {
        **by_status,
        "total": sum(by_status.values()),
        "byType": by_type,
        "oldestDueAgeSeconds": None if age is None else round(max(age, 0.0), 3),
    }


def fold_count_deltas(conn: psycopg.Connection) -> None:
    """Fold the count deltas that writes appended into the maintained counts.

    Statistics stay exact without it; folding keeps the deltas table, and
    so the cost of ``queue_stats``, small. The processor calls it once per run.
    """
    with conn.transaction():
        conn.execute(queries["fold_count_deltas"])

@dataclass(frozen=True)
class ActiveJobs:
    """Counts of the jobs not finished yet, and the queue's lag."""

    pending: int
    due: int
    processing: int
    oldest_due_age_seconds: float | None


def active_jobs(conn: psycopg.Connection) -> ActiveJobs:
    """Count PENDING jobs (all, and due now) and PROCESSING jobs, and return the oldest due job's age.

    Unlike ``queue_stats``, this reads only active rows through the
    (status, "scheduledAt") index, so its cost follows the backlog and not
    the finished jobs the table keeps. The processor runs it after every
    run. ``oldest_due_age_seconds`` is None when no job is due.
    """
    row = conn.execute(queries["count_active_jobs"]).fetchone()
    age = row["oldest_due_age_seconds"]
    return ActiveJobs(
        pending=row["pending"],
        due=row["due"],
        processing=row["processing"],
        oldest_due_age_seconds=None if age is None else round(max(age, 0.0), 3),
    )
