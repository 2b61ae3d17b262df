"""The ``effect`` task, for tests only: records each run in the ``effects`` table through the job's transaction.

``effects`` has no unique constraint, so a job whose effect committed twice
shows up as two rows. Arguments (all optional):

- ``write`` (default true): false writes nothing, so the processor takes
  its deferred, batched completion path;
- ``sleep_seconds``: how long the run takes after its write;
- ``hold_on_attempt``: on this attempt, insert a row into ``signals``
  through a separate, committed connection, then sleep ``hold_seconds``
  (default one hour), so a test can kill the process mid-handler;
- ``fail_on_attempts``: attempts on which the task raises ``RetryableError``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

from jobqueue.errors import RetryableError
from jobqueue.outcomes import JobContext

NAME = "effect"


def run(args: dict[str, Any], ctx: JobContext) -> dict[str, int]:
    job = ctx.job
    if args.get("write", True):
        ctx.conn.execute(
            "INSERT INTO effects (job_id, attempt, pid) VALUES (%s, %s, %s)", (job.id, job.attempts, os.getpid())
        )
    if args.get("hold_on_attempt") == job.attempts:
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as signal:
            signal.execute(
                "INSERT INTO signals (job_id, attempt, pid) VALUES (%s, %s, %s)", (job.id, job.attempts, os.getpid())
            )
        time.sleep(args.get("hold_seconds", 3600))
    if job.attempts in args.get("fail_on_attempts", ()):
        raise RetryableError(f"failing attempt {job.attempts} on request")
    time.sleep(args.get("sleep_seconds", 0))
    return {"attempt": job.attempts}
