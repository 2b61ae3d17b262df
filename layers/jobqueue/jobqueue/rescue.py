"""Lease rescue: returning jobs whose processor died.

A processor that times out, crashes or runs out of memory leaves its jobs
PROCESSING. Once a job's lease expires, rescue makes it PENDING again (due
now), or FAILED when that was its last attempt. The lost attempt stays
counted, and an entry of kind ``lease_expired`` is added to its error
history. Jobs set PROCESSING without a lease (by code that predates the
queue's columns) are rescued once ``default_lease_seconds`` have passed
since they started.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from jobqueue.logs import logger
from jobqueue.retrying import retry_serialization_failures
from jobqueue.sql import queries

RESCUE_BATCH_SIZE = 500
LEASE_EXPIRED_ERROR = "lease expired: the processor running this attempt stopped before recording an outcome"


@dataclass(frozen=True)
class RescueResult:
    requeued: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.requeued + self.failed


def rescue_expired_leases(
    conn: psycopg.Connection, *, default_lease_seconds: float, batch_size: int = RESCUE_BATCH_SIZE
) -> RescueResult:
    """Rescue every job whose lease has expired, in batches; return the counts.

    Each batch is one committed statement. The loop stops on a batch
    shorter than ``batch_size``: no expired lease was left unlocked.
    """
    requeued = failed = 0
    params = {"default_lease_seconds": default_lease_seconds, "limit": batch_size, "error": LEASE_EXPIRED_ERROR}

    def rescue_batch() -> list[dict]:
        with conn.transaction():
            return conn.execute(queries["rescue_expired_leases"], params).fetchall()

    while True:
        rows = retry_serialization_failures(rescue_batch)
        for row in rows:
            if row["status"] == "FAILED":
                failed += 1
            else:
                requeued += 1
            logger.warning(
                "rescued a job whose lease expired",
                extra={
                    "action": "lease_rescued",
                    "job_id": row["id"],
                    "job_type": row["type"],
                    "attempt": row["attempts"],
                    "new_status": row["status"],
                    "lost_owner": row["lease_owner"],
                },
            )
        if len(rows) < batch_size:
            break
    return RescueResult(requeued=requeued, failed=failed)
