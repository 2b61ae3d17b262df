"""A processor killed with SIGKILL loses no job: lease rescue runs it again, or fails it on its last attempt.

Each test runs the processor entry point as an OS process with a short
Lambda timeout and lease margin, so a lease lasts seconds instead of
sixteen minutes. It kills the process at a chosen point: after the claim,
in the middle of a handler, or after the handler while its outcome is not
yet committed. The lost attempt must stay counted, its error history must say
the lease expired, and the job must end COMPLETED, or FAILED after its
attempts, in the first run after the lease expires.
"""

from __future__ import annotations

import random
import time

import pytest

from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue.rescue import LEASE_EXPIRED_ERROR
from tests.integration.helpers import job_row
from tests.integration.processes import (
    counts_by_job,
    db_now,
    effect_job,
    wait_for,
    wait_for_leases_to_expire,
)

TIMEOUT_SECONDS = 6
# A lease lasts the invocation's remaining time plus this margin, about 8 s here.
LEASE_MARGIN_SECONDS = 2
SHORT_LEASE_ENV = {
    "LEASE_MARGIN_SECONDS": str(LEASE_MARGIN_SECONDS),
    "JOB_START_MARGIN_SECONDS": "0.5",
}
# Slack for process start-up (imports take about a second) on a busy two-core machine.
SLACK_SECONDS = 10


def jobs_by_status(conn) -> dict[str, int]:
    rows = conn.execute('SELECT status::text AS status, count(*) AS n FROM "BackgroundJob" GROUP BY 1')
    return {row["status"]: row["n"] for row in rows}


def run_after_leases_expire(conn, lambdas, env: dict[str, str] = SHORT_LEASE_ENV) -> tuple[dict, float]:
    """Wait until the dead processor's leases expire, run one processor, and return its counts and duration."""
    wait_for_leases_to_expire(conn)
    started = time.monotonic()
    outcome = lambdas.start(env=env, timeout_seconds=60).wait()
    assert outcome["ok"], outcome.get("traceback")
    return outcome["result"], time.monotonic() - started


def assert_lost_attempt_recorded(row: dict, lost_attempts: list[int]) -> None:
    lost = [entry for entry in row["errorHistory"] if entry["kind"] == "lease_expired"]
    assert [entry["attempt"] for entry in lost] == lost_attempts
    assert all(entry["error"] == LEASE_EXPIRED_ERROR for entry in lost)


def test_kill_after_claim_and_mid_handler(probes, database, lambdas):
    conn = probes
    # One worker thread: the first job keeps it busy mid-handler, so the batch's other jobs stay claimed but not started.
    blocking_job = enqueue(conn, NewJob("SCHEDULED_TASK", effect_job(hold_on_attempt=1), priority=10)).id
    queued_jobs = [r.id for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job()) for _ in range(4)])]
    env = {**SHORT_LEASE_ENV, "WORKER_THREADS": "1", "BATCH_SIZE": "5"}

    victim = lambdas.start(env=env, timeout_seconds=TIMEOUT_SECONDS)
    wait_for(
        lambda: counts_by_job(conn, "signals").get(blocking_job),
        timeout=60,
        description="the blocking job's handler to start",
    )
    assert jobs_by_status(conn) == {"PROCESSING": 5}
    victim.kill()
    killed_at = db_now(conn)

    # Until the leases expire, a new run neither rescues nor claims the dead processor's jobs.
    early = lambdas.start(env=SHORT_LEASE_ENV, timeout_seconds=TIMEOUT_SECONDS).wait()
    assert early["result"]["rescued"] == 0
    assert early["result"]["total"] == 0
    assert jobs_by_status(conn) == {"PROCESSING": 5}

    result, run_seconds = run_after_leases_expire(conn, lambdas)
    lease_ends = conn.execute("SELECT max(lease_expires_at) AS at FROM claims WHERE attempt = 1").fetchone()["at"]
    finished = conn.execute('SELECT max("completedAt") AS at FROM "BackgroundJob"').fetchone()["at"]
    print(
        f"\n[kill after claim, mid-handler] jobs=5 kills=1 lease_seconds={(lease_ends - killed_at).total_seconds():.1f} "
        f"done_after_lease_seconds={(finished - lease_ends).total_seconds():.1f} run_seconds={run_seconds:.1f}"
    )

    assert result["rescued"] == 5
    assert result["processed"] == 5
    assert (finished - lease_ends).total_seconds() <= run_seconds + 1
    effects = counts_by_job(conn, "effects")
    for job_id in [blocking_job, *queued_jobs]:
        row = job_row(conn, job_id)
        assert row["status"] == "COMPLETED"
        assert row["attempts"] == 2
        assert_lost_attempt_recorded(row, [1])
        assert effects[job_id] == 1
    assert counts_by_job(conn, "claims") == {job_id: 2 for job_id in [blocking_job, *queued_jobs]}


PAUSE_BEFORE_COMMIT_SQL = """
CREATE FUNCTION pause_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(2);
    RETURN NEW;
END $$;
CREATE TRIGGER pause_completion BEFORE UPDATE ON "BackgroundJob" FOR EACH ROW
    WHEN (OLD.status = 'PROCESSING' AND NEW.status = 'COMPLETED' AND NEW.attempts = 1)
    EXECUTE FUNCTION pause_completion();
"""


def completion_paused(conn) -> bool:
    row = conn.execute(
        """SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"""
    ).fetchone()
    return row["n"] > 0


@pytest.mark.parametrize("writes", [True, False], ids=["handler-writes", "deferred-completion"])
def test_kill_after_handler_before_commit(probes, database, lambdas, writes):
    conn = probes
    # The completion's UPDATE sleeps in a trigger, so the test kills the processor after the
    # handler returned and the outcome was written, but before COMMIT reached the server.
    conn.execute(PAUSE_BEFORE_COMMIT_SQL)
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", effect_job(write=writes))).id

    victim = lambdas.start(env=SHORT_LEASE_ENV, timeout_seconds=TIMEOUT_SECONDS)
    wait_for(lambda: completion_paused(conn), timeout=60, description="the completion to reach the server")
    victim.kill()
    wait_for(lambda: not completion_paused(conn), timeout=30, description="the orphaned backend to finish")

    row = job_row(conn, job_id)
    assert row["status"] == "PROCESSING", "the outcome must not commit without its processor"
    assert counts_by_job(conn, "effects") == {}

    result, _ = run_after_leases_expire(conn, lambdas)
    row = job_row(conn, job_id)
    print(f"\n[kill before commit] writes={writes} kills=1 rescued={result['rescued']} status={row['status']}")
    assert result["rescued"] == 1
    assert row["status"] == "COMPLETED"
    assert row["attempts"] == 2
    assert_lost_attempt_recorded(row, [1])
    assert counts_by_job(conn, "effects") == ({job_id: 1} if writes else {})


def test_kill_on_last_attempt_fails_job(probes, database, lambdas):
    conn = probes
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", effect_job(hold_on_attempt=1), max_attempts=1)).id

    victim = lambdas.start(env=SHORT_LEASE_ENV, timeout_seconds=TIMEOUT_SECONDS)
    wait_for(lambda: counts_by_job(conn, "signals").get(job_id), timeout=60, description="the handler to start")
    victim.kill()
    result, _ = run_after_leases_expire(conn, lambdas)

    row = job_row(conn, job_id)
    assert result["rescued"] == 1
    assert result["total"] == 0
    assert row["status"] == "FAILED"
    assert row["attempts"] == 1
    assert row["failedAt"] is not None
    assert row["leaseExpiresAt"] is None
    assert row["error"] == LEASE_EXPIRED_ERROR
    assert_lost_attempt_recorded(row, [1])
    assert counts_by_job(conn, "effects") == {}


@pytest.mark.stress
def test_random_kills_lose_no_job(probes, database, lambdas):
    """Kill processors at random moments until every job is final; check each job's count of runs and losses."""
    conn = probes
    rng = random.Random(20301)
    job_count = 200
    enqueue_many(
        conn,
        [
            NewJob("SCHEDULED_TASK", effect_job(sleep_seconds=rng.uniform(0.05, 0.4)), max_attempts=4)
            for _ in range(job_count)
        ],
    )
    env = {**SHORT_LEASE_ENV, "WORKER_THREADS": "4", "BATCH_SIZE": "10"}
    started = time.monotonic()
    kills = runs = 0
    budget_seconds = 150

    while time.monotonic() - started < budget_seconds:
        if not conn.execute("""SELECT 1 FROM "BackgroundJob" WHERE status IN ('PENDING', 'PROCESSING')""").fetchone():
            break
        runs += 1
        process = lambdas.start(env=env, timeout_seconds=TIMEOUT_SECONDS)
        time.sleep(rng.uniform(0.8, 3.0))
        if process.running():
            process.kill()
            kills += 1
        else:
            process.wait()
        # Every third round, let the leases of the killed processes run out, as the next ticks would.
        if runs % 3 == 0:
            wait_for_leases_to_expire(conn)

    # The last processes run to the end, so every job reaches a final status.
    for _ in range(3):
        result, _ = run_after_leases_expire(conn, lambdas, env=env)
        runs += 1

    statuses = jobs_by_status(conn)
    claims = counts_by_job(conn, "claims")
    releases = counts_by_job(conn, "releases")
    effects = counts_by_job(conn, "effects")
    rows = conn.execute('SELECT * FROM "BackgroundJob"').fetchall()
    lost = sum(len([e for e in row["errorHistory"] if e["kind"] == "lease_expired"]) for row in rows)
    print(
        f"\n[random kills] jobs={job_count} processes={runs} kills={kills} lost_attempts={lost} "
        f"statuses={statuses} seconds={time.monotonic() - started:.0f}"
    )

    assert set(statuses) <= {"COMPLETED", "FAILED"}
    assert kills >= 5, "the test must kill processors mid-run to mean anything"
    assert lost >= 1
    for row in rows:
        job_id = row["id"]
        attempts_spent = claims.get(job_id, 0) - releases.get(job_id, 0)
        assert row["attempts"] == attempts_spent, f"job {job_id}: attempts must count every claim not handed back"
        history = [entry["kind"] for entry in row["errorHistory"]]
        assert set(history) <= {"lease_expired"}
        if row["status"] == "COMPLETED":
            assert effects.get(job_id) == 1, f"job {job_id}: its effect must commit exactly once"
            assert len(history) == row["attempts"] - 1
        else:
            assert effects.get(job_id) is None
            assert len(history) == row["attempts"] == row["maxAttempts"]
