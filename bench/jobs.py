"""Setting up the jobs table between timed steps: empty it, fill it, count it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.server import checkpoint
from jobqueue import db
from jobqueue.enqueue import NewJob, enqueue_many

LOAD_CHUNK = 500
NOOP_PAYLOAD = {"task": "noop", "args": {}}


def reset_queue(url: str) -> None:
    """Empty the jobs table and checkpoint, so each run starts from the same state."""
    with db.connect(url) as conn:
        conn.execute('TRUNCATE "BackgroundJob"')
    checkpoint(url)


def load_due_jobs(url: str, count: int, payload: Mapping[str, Any] = NOOP_PAYLOAD) -> None:
    """Enqueue ``count`` due SCHEDULED_TASK jobs with ``enqueue_many``, then VACUUM ANALYZE and checkpoint.

    The vacuum gives the planner statistics and a visibility map as a
    long-running queue would have them, and the checkpoint keeps the
    timed step from paying for the load's writes.
    """
    with db.connect(url) as conn:
        for start in range(0, count, LOAD_CHUNK):
            size = min(LOAD_CHUNK, count - start)
            enqueue_many(conn, [NewJob("SCHEDULED_TASK", payload) for _ in range(size)])
        conn.execute('VACUUM ANALYZE "BackgroundJob"')
    checkpoint(url)


def count_by_status(url: str) -> dict[str, int]:
    """Return the number of jobs in each status."""
    with db.connect(url) as conn:
        rows = conn.execute('SELECT status::text AS status, count(*) AS count FROM "BackgroundJob" GROUP BY status')
        return {row["status"]: row["count"] for row in rows}
