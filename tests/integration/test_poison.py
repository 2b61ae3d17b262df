"""Poison jobs: a handler that raises anything, returns garbage or never returns is recorded, and never blocks other jobs.

Each in-process case runs the poison job first, on one worker thread, so
the good jobs after it share its worker and its open transaction: if the
poison job broke either, they would fail too.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue.outcomes import Cancel, Complete, Fail, RetryAfter, SnoozeUntil
from tests.integration.helpers import job_row, run_processor
from tests.integration.processes import counts_by_job, effect_job, wait_for, wait_for_leases_to_expire


class HandlerBug(BaseException):
    """A BaseException that is not an Exception, as some libraries define."""


def raising(error: BaseException):
    def handler(job, ctx):
        raise error

    return handler


def returning(make):
    def handler(job, ctx):
        return make()

    return handler


def swallowing_database_error(job, ctx):
    try:
        ctx.conn.execute("SELECT * FROM no_such_table")
    except Exception:  # noqa: BLE001 - the bug under test: the handler hides the error and returns
        pass


# (id, poison handler, status the poison job ends in, a fragment of its recorded error)
POISON = [
    ("system-exit", raising(SystemExit(3)), "PENDING", "SystemExit: 3"),
    ("keyboard-interrupt", raising(KeyboardInterrupt()), "PENDING", "KeyboardInterrupt"),
    ("base-exception", raising(HandlerBug("stack corrupted")), "PENDING", "HandlerBug: stack corrupted"),
    ("nul-in-error", raising(ValueError("bad byte \x00 in input")), "PENDING", "ValueError: bad byte"),
    ("huge-error", raising(ValueError("x" * 1_000_000)), "PENDING", "ValueError: xxx"),
    ("returns-string", returning(lambda: "done!"), "PENDING", "returned 'done!'"),
    ("returns-number", returning(lambda: 42), "PENDING", "returned 42"),
    ("retry-after-text", returning(lambda: RetryAfter("5")), "PENDING", "RetryAfter.seconds"),
    ("retry-after-nan", returning(lambda: RetryAfter(float("nan"))), "PENDING", "RetryAfter.seconds"),
    ("snooze-text", returning(lambda: SnoozeUntil("tomorrow")), "PENDING", "SnoozeUntil.run_at"),
    ("snooze-naive", returning(lambda: SnoozeUntil(datetime(2030, 1, 1))), "PENDING", "SnoozeUntil.run_at"),
    ("fail-none", returning(lambda: Fail(None)), "PENDING", "Fail.reason"),
    ("cancel-number", returning(lambda: Cancel(7)), "PENDING", "Cancel.reason"),
    ("result-with-nul", returning(lambda: Complete({"text": "a\x00b"})), "COMPLETED", None),
    ("result-unserializable", returning(lambda: Complete({"when": object()})), "COMPLETED", None),
    ("swallowed-database-error", swallowing_database_error, "PENDING", "left its transaction aborted"),
]


@pytest.mark.parametrize(("name", "poison", "status", "error"), POISON, ids=[case[0] for case in POISON])
def test_poison_job_recorded_others_run(conn, database, name, poison, status, error):
    conn.execute("CREATE TABLE effects (job_id text NOT NULL)")
    bad = enqueue(conn, NewJob("SCHEDULED_TASK", {}, priority=10)).id
    good = [r.id for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", {}) for _ in range(3)])]

    def handler(job, ctx):
        if job.id == bad:
            return poison(job, ctx)
        ctx.conn.execute("INSERT INTO effects VALUES (%s)", (job.id,))

    summary = run_processor(database, handler, env={"WORKER_THREADS": "1"})

    row = job_row(conn, bad)
    assert row["status"] == status
    assert row["attempts"] == 1
    if error is None:
        assert summary["processed"] == 4
    else:
        assert summary["retried"] == 1
        assert error in row["error"]
        assert "\x00" not in row["error"]
        assert len(row["error"]) <= 4000
        assert [entry["kind"] for entry in row["errorHistory"]] == ["exception"]
    for job_id in good:
        assert job_row(conn, job_id)["status"] == "COMPLETED"
    assert counts_by_job(conn, "effects") == dict.fromkeys(good, 1)


def test_result_with_nul_stored_readably(conn, database):
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", {})).id
    run_processor(database, lambda job, ctx: Complete({"text": "a\x00b", "when": datetime(2030, 1, 1, tzinfo=UTC)}))
    result = job_row(conn, job_id)["result"]
    assert result["text"] == "a\ufffdb"
    assert result["when"] == "2030-01-01 00:00:00+00:00"


def test_valid_outcomes_still_accepted():
    later = datetime.now(UTC) + timedelta(hours=1)
    assert SnoozeUntil(later).run_at == later
    assert RetryAfter(0).seconds == 0
    assert RetryAfter(2.5, reason="rate limited").reason == "rate limited"
    assert Cancel("done").reason == "done"
    assert Fail("broken").reason == "broken"


def test_handler_that_never_returns(probes, database, lambdas):
    """A stuck handler: the run hands back what it did not start, logs the job, and Lambda's timeout ends it."""
    conn = probes
    stuck = enqueue(conn, NewJob("SCHEDULED_TASK", effect_job(hold_on_attempt=1), priority=10, max_attempts=2)).id
    others = [r.id for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job()) for _ in range(5)])]
    env = {"WORKER_THREADS": "1", "BATCH_SIZE": "6", "LEASE_MARGIN_SECONDS": "2", "JOB_START_MARGIN_SECONDS": "1"}
    timeout_seconds = 6

    run = lambdas.start(env=env, timeout_seconds=timeout_seconds)
    started = time.monotonic()
    wait_for(lambda: counts_by_job(conn, "signals").get(stuck), timeout=60, description="the stuck handler to start")
    # The handed-back jobs are PENDING again, with their attempt refunded, before the invocation times out.
    wait_for(
        lambda: all(job_row(conn, job_id)["status"] == "PENDING" for job_id in others),
        timeout=timeout_seconds + 5,
        description="the jobs not started to be handed back",
    )
    assert run.running(), "the invocation must wait for the stuck handler until Lambda stops it"
    # Lambda stops the invocation at its timeout; the test does what Lambda would.
    wait_for(
        lambda: time.monotonic() - started >= timeout_seconds, timeout=timeout_seconds + 5, description="the timeout"
    )
    run.kill()

    stuck_logs = [r for r in run.log_records() if r.get("action") == "handler_stuck"]
    assert [(r["level"], r["job_id"]) for r in stuck_logs] == [("ERROR", stuck)]
    assert [job_row(conn, job_id)["attempts"] for job_id in others] == [0] * 5
    assert job_row(conn, stuck)["status"] == "PROCESSING"

    wait_for_leases_to_expire(conn)
    result = lambdas.start(env=env, timeout_seconds=60).wait()["result"]
    row = job_row(conn, stuck)
    print(f"\n[stuck handler] jobs={1 + len(others)} handed_back={len(others)} rescued={result['rescued']}")
    assert result["rescued"] == 1
    assert row["status"] == "COMPLETED"
    assert [entry["kind"] for entry in row["errorHistory"]] == ["lease_expired"]
    for job_id in others:
        assert job_row(conn, job_id)["status"] == "COMPLETED"
