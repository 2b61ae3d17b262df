"""Fencing: a processor whose lease expired cannot record any outcome for the job it lost.

In each test the handler's lease is taken from it while it runs, the way
it happens in production: the lease expires, another run rescues the job
and claims it again. The handler then finishes with one of the outcomes,
and the job's row must stay exactly as the new owner left it, with the
old handler's writes rolled back and a ``lease_lost`` warning logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobqueue.claim import claim_due_jobs, release_jobs
from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue
from jobqueue.errors import PermanentError
from jobqueue.jobs import Job
from jobqueue.outcomes import Cancel, Complete, Fail, RetryAfter, SnoozeUntil
from jobqueue.rescue import rescue_expired_leases
from tests.integration.helpers import job_row, run_processor


def raise_error(error: BaseException):
    def outcome():
        raise error

    return outcome


# (name, outcome factory, whether the handler writes, maxAttempts)
OUTCOMES = [
    ("complete", lambda: Complete({"done": True}), True, 3),
    ("complete-deferred", lambda: None, False, 3),
    ("fail", lambda: Fail("cannot succeed"), True, 3),
    ("permanent-error", raise_error(PermanentError("no such user")), True, 3),
    ("retry", raise_error(RuntimeError("smtp timeout")), True, 3),
    ("fail-last-attempt", raise_error(RuntimeError("smtp timeout")), True, 1),
    ("retry-after", lambda: RetryAfter(30), True, 3),
    ("snooze", lambda: SnoozeUntil(datetime.now(UTC) + timedelta(hours=1)), True, 3),
    ("cancel", lambda: Cancel("nothing left to do"), True, 3),
]

# Who has the job when the old handler finishes.
THIEVES = ["other-owner", "same-owner-next-attempt", "rescued-only"]


def take_lease(database: str, job: Job, thief: str) -> dict:
    """Expire ``job``'s lease, rescue it and, unless ``thief`` is rescued-only, claim it again; return the row."""
    with connect(database) as other:
        other.execute(
            """UPDATE "BackgroundJob" SET "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 second'
               WHERE id = %s""",
            (job.id,),
        )
        assert rescue_expired_leases(other, default_lease_seconds=960).total == 1
        if job_row(other, job.id)["status"] == "FAILED":
            return job_row(other, job.id)  # rescue failed it: that was its last attempt
        if thief == "rescued-only":
            # Not due yet, so this run's next claim leaves it PENDING, as a later tick would find it.
            other.execute(
                """UPDATE "BackgroundJob" SET "scheduledAt" = "scheduledAt" + interval '1 hour' WHERE id = %s""",
                (job.id,),
            )
        else:
            # The same owner claiming again is a later batch of the very run whose earlier attempt is late.
            owner = job.lease_owner if thief == "same-owner-next-attempt" else "other-processor"
            assert len(claim_due_jobs(other, owner=owner, limit=1, lease_seconds=600)) == 1
        return job_row(other, job.id)


@pytest.mark.parametrize("thief", THIEVES)
@pytest.mark.parametrize(("name", "make_outcome", "writes", "max_attempts"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
def test_late_outcome_changes_nothing(conn, database, log_records, thief, name, make_outcome, writes, max_attempts):
    conn.execute("CREATE TABLE effects (job_id text NOT NULL)")
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", {}, max_attempts=max_attempts)).id
    after_theft: dict = {}

    def handler(job, ctx):
        if writes:
            ctx.conn.execute("INSERT INTO effects VALUES (%s)", (job.id,))
        after_theft.update(take_lease(database, job, thief))
        return make_outcome()

    summary = run_processor(database, handler, env={"WORKER_THREADS": "1"})

    assert job_row(conn, job_id) == after_theft
    assert summary["leaseLost"] == 1
    assert summary["total"] == 0
    assert conn.execute("SELECT count(*) AS n FROM effects").fetchone()["n"] == 0
    lost = [r for r in log_records() if r.get("action") == "lease_lost"]
    assert [(r["job_id"], r["level"], r["attempt"]) for r in lost] == [(job_id, "WARNING", 1)]


def test_hand_back_fenced(conn):
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", {})).id
    [mine] = claim_due_jobs(conn, owner="run-a", limit=1, lease_seconds=600)
    conn.execute(
        """UPDATE "BackgroundJob" SET "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 second'
           WHERE id = %s""",
        (job_id,),
    )
    rescue_expired_leases(conn, default_lease_seconds=960)
    claim_due_jobs(conn, owner="run-b", limit=1, lease_seconds=600)
    before = job_row(conn, job_id)

    assert release_jobs(conn, [mine], owner="run-a") == 0
    assert job_row(conn, job_id) == before
