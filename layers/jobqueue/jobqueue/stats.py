"""Queue statistics: counts by status and type, and the queue's lag."""

from __future__ import annotations

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
