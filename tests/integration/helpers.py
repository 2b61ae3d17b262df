"""Helpers shared by the integration tests."""

from __future__ import annotations

from jobqueue.config import Settings
from jobqueue.db import Database
from jobqueue.processor import Processor, RunOptions
from jobqueue.states import JobType


def run_processor(
    database_url: str,
    handler=None,
    *,
    remaining_seconds=lambda: 600.0,
    batch_size: int = 50,
    env: dict | None = None,
    request_id: str = "test-request",
    types: tuple[str, ...] | None = None,
):
    """Run one processor pass over the database and return the summary dict."""
    settings = Settings.from_env({"DATABASE_URL": database_url, **(env or {})})
    kwargs = {}
    if handler is not None:
        kwargs["handler_lookup"] = lambda job_type: handler
    processor = Processor(
        Database(database_url), settings, remaining_seconds=remaining_seconds, request_id=request_id, **kwargs
    )
    try:
        job_types = tuple(JobType(t) for t in types) if types else None
        return processor.run(RunOptions(batch_size=batch_size, types=job_types)).as_dict()
    finally:
        processor.database.close()


def make_due(conn, job_id: str | None = None) -> None:
    """Make PENDING jobs (one, or all) due now, skipping their backoff delay."""
    conn.execute(
        """UPDATE "BackgroundJob" SET "scheduledAt" = now() AT TIME ZONE 'UTC'
           WHERE status = 'PENDING' AND (%(id)s::text IS NULL OR id = %(id)s)""",
        {"id": job_id},
    )


def job_row(conn, job_id: str) -> dict:
    return conn.execute('SELECT * FROM "BackgroundJob" WHERE id = %s', (job_id,)).fetchone()
