"""Cleanup: deleting finished jobs older than the retention period."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from jobqueue.logs import logger
from jobqueue.sql import queries


@dataclass(frozen=True)
class CleanupResult:
    finished_deleted: int
    failed_deleted: int
    longest_statement_seconds: float

    @property
    def total(self) -> int:
        return self.finished_deleted + self.failed_deleted


def delete_old_jobs(
    conn: psycopg.Connection,
    *,
    retention_days: int,
    batch_size: int,
    time_left_seconds: callable = lambda: float("inf"),
    stop_margin_seconds: float = 5.0,
) -> CleanupResult:
    """Delete COMPLETED and CANCELLED jobs (by ``completedAt``) and FAILED jobs (by ``failedAt``) older than the retention.

    Each batch of at most ``batch_size`` rows is its own short transaction,
    so cleanup never holds locks for long. A pass stops on a batch shorter
    than ``batch_size``, or when less than ``stop_margin_seconds`` is left;
    the next run continues where this one stopped.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days={retention_days} is invalid; keep jobs for at least 1 day")
    counts = {}
    longest = 0.0
    for statement in ("delete_finished_jobs", "delete_failed_jobs"):
        deleted = 0
        while time_left_seconds() > stop_margin_seconds:
            started = time.monotonic()
            with conn.transaction():
                batch = conn.execute(
                    queries[statement], {"retention_days": retention_days, "limit": batch_size}
                ).rowcount
            longest = max(longest, time.monotonic() - started)
            deleted += batch
            if batch < batch_size:
                break
        counts[statement] = deleted
    result = CleanupResult(counts["delete_finished_jobs"], counts["delete_failed_jobs"], longest)
    if result.total:
        logger.info(
            "deleted old jobs",
            extra={
                "action": "cleanup",
                "finished_deleted": result.finished_deleted,
                "failed_deleted": result.failed_deleted,
                "retention_days": retention_days,
            },
        )
    return result
