"""Runs that overlap: a slow job keeps its lease, and repeated or overlapping triggers never run a job twice.

In AWS the processor's timeout is up to 900 s, its lease lasts the time
left plus LEASE_MARGIN_SECONDS (60 s) and the schedule fires every 300 s,
so a job may run for 12 minutes while two more ticks start. The
in-process test scales that down about 150 times with a fake remaining
time; the others race real processor processes.
"""

from __future__ import annotations

import threading
import time

from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from tests.conftest import load_event
from tests.integration.helpers import job_row, run_processor
from tests.integration.processes import counts_by_job, effect_job, wait_for


def countdown(seconds: float):
    """Return a fake ``remaining_seconds`` of an invocation whose timeout is ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    return lambda: max(0.0, deadline - time.monotonic())


def test_lease_outlives_slow_run(probes, database, extra_tasks):
    conn = probes
    # Scaled down: a 900 s timeout becomes 6 s, the 60 s margin 1 s, a 720 s job 4.5 s and the 300 s schedule 1.5 s.
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", effect_job(sleep_seconds=4.5))).id
    env = {"LEASE_MARGIN_SECONDS": "1", "JOB_START_MARGIN_SECONDS": "0.5"}
    first: dict = {}
    slow_run = threading.Thread(
        target=lambda: first.update(
            run_processor(database, remaining_seconds=countdown(6), env=env, request_id="tick-1")
        )
    )
    slow_run.start()
    wait_for(
        lambda: job_row(conn, job_id)["status"] == "PROCESSING",
        timeout=10,
        description="the first run to claim the job",
    )

    ticks = []
    while slow_run.is_alive():
        time.sleep(1.5)
        if slow_run.is_alive():
            ticks.append(run_processor(database, remaining_seconds=countdown(6), env=env, request_id="tick-n"))
    slow_run.join()

    claim = conn.execute("SELECT * FROM claims WHERE job_id = %s", (job_id,)).fetchone()
    row = job_row(conn, job_id)
    lease_seconds = (claim["lease_expires_at"] - row["startedAt"]).total_seconds()
    print(
        f"\n[slow run] job_seconds=4.5 timeout_seconds=6 lease_seconds={lease_seconds:.1f} ticks_during_run={len(ticks)}"
    )

    assert all(tick["rescued"] == 0 and tick["total"] == 0 for tick in ticks), "a tick took the running job"
    assert len(ticks) >= 2
    assert first["processed"] == 1
    # The lease covers the whole invocation plus the margin, measured from the claim.
    assert lease_seconds >= 6.5
    assert row["status"] == "COMPLETED"
    assert row["attempts"] == 1
    assert row["errorHistory"] == []
    assert counts_by_job(conn, "claims") == {job_id: 1}
    assert counts_by_job(conn, "effects") == {job_id: 1}


def test_same_scheduled_event_twice_at_once(probes, database, lambdas):
    conn = probes
    ids = [
        r.id for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job(sleep_seconds=0.01)) for _ in range(300)])
    ]
    event = load_event("processor-scheduled.json")
    env = {"WORKER_THREADS": "4"}

    # Lambda gives a retried delivery of an event the same request id.
    runs = [
        lambdas.start(event=event, env=env, timeout_seconds=120, request_id="same-request", gated=True)
        for _ in range(2)
    ]
    lambdas.open_gate(runs)
    results = [run.wait()["result"] for run in runs]
    owners = conn.execute("SELECT DISTINCT owner FROM claims").fetchall()
    print(f"\n[same event twice] jobs={len(ids)} processes=2 processed={[r['processed'] for r in results]}")

    assert sum(r["processed"] for r in results) == len(ids)
    assert all(r["leaseLost"] == 0 for r in results)
    assert len(owners) == 2, "two deliveries of one event must hold leases under different owners"
    assert all(owner["owner"].startswith("same-request/") for owner in owners)
    assert counts_by_job(conn, "claims") == dict.fromkeys(ids, 1)
    assert counts_by_job(conn, "effects") == dict.fromkeys(ids, 1)


def test_next_tick_while_run_still_going(probes, database, lambdas):
    conn = probes
    ids = [
        r.id for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job(sleep_seconds=0.3)) for _ in range(40)])
    ]
    env = {"WORKER_THREADS": "2", "BATCH_SIZE": "4"}

    first = lambdas.start(env=env, timeout_seconds=120)
    wait_for(lambda: counts_by_job(conn, "effects"), timeout=60, description="the first run to complete a job")
    later = []
    for _ in range(2):
        later.append(lambdas.start(env=env, timeout_seconds=120))
        time.sleep(1.0)
    results = [run.wait()["result"] for run in [first, *later]]
    print(f"\n[overlapping ticks] jobs={len(ids)} processes=3 processed={[r['processed'] for r in results]}")

    assert sum(r["processed"] for r in results) == len(ids)
    assert all(r["rescued"] == 0 and r["leaseLost"] == 0 for r in results)
    assert results[0]["processed"] < len(ids), "the later ticks should have shared the work"
    assert counts_by_job(conn, "claims") == dict.fromkeys(ids, 1)
    assert counts_by_job(conn, "effects") == dict.fromkeys(ids, 1)
