"""The queue library against a real PostgreSQL: enqueue, run, outcomes, operations."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue.errors import InvalidJob, InvalidTransition, JobNotFound, PayloadTooLarge, PermanentError
from jobqueue.operations import cancel_by_dedup_key, cancel_job, get_job, list_jobs, retry_job
from jobqueue.outcomes import Cancel, Complete, SnoozeUntil
from jobqueue.stats import queue_stats
from tests.integration.helpers import job_row, make_due, run_processor


def count_jobs(conn) -> int:
    return conn.execute('SELECT count(*) AS n FROM "BackgroundJob"').fetchone()["n"]


# -- enqueue ---------------------------------------------------------------


def test_enqueue_creates_pending_job(conn):
    result = enqueue(conn, NewJob("NOTIFICATION", {"incidentId": "i1"}, delay_seconds=30))
    row = job_row(conn, result.id)
    assert result.created is True
    assert row["status"] == "PENDING"
    assert row["attempts"] == 0
    assert row["maxAttempts"] == 3
    assert row["payload"] == {"incidentId": "i1"}
    wait = conn.execute(
        """SELECT extract(epoch FROM "scheduledAt" - (now() AT TIME ZONE 'UTC')) AS s
           FROM "BackgroundJob" WHERE id = %s""",
        (result.id,),
    ).fetchone()["s"]
    assert 28 <= float(wait) <= 30


def test_enqueue_run_at_stored_as_utc(conn):
    run_at = datetime(2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    result = enqueue(conn, NewJob("ESCALATION", {"incidentId": "i"}, run_at=run_at))
    assert job_row(conn, result.id)["scheduledAt"] == datetime(2030, 1, 1, 12, 0)


@pytest.mark.parametrize(
    ("job", "field"),
    [
        (NewJob("EMAIL", {}), "type"),
        (NewJob("NOTIFICATION", [1, 2]), "payload"),
        (NewJob("NOTIFICATION", {"x": float("nan")}), "payload"),
        (NewJob("NOTIFICATION", {"x": "\x00"}), "payload"),
        (NewJob("NOTIFICATION", {}, run_at=datetime(2030, 1, 1)), "scheduledAt"),
        (NewJob("NOTIFICATION", {}, delay_seconds=-1), "delaySeconds"),
        (NewJob("NOTIFICATION", {}, delay_seconds=float("inf")), "delaySeconds"),
        (NewJob("NOTIFICATION", {}, max_attempts=0), "maxAttempts"),
        (NewJob("NOTIFICATION", {}, priority=10**6), "priority"),
        (NewJob("NOTIFICATION", {}, dedup_key=""), "dedupKey"),
    ],
)
def test_enqueue_invalid_rejected_without_write(conn, job, field):
    with pytest.raises(InvalidJob) as raised:
        enqueue(conn, job)
    assert raised.value.field == field
    assert count_jobs(conn) == 0


def test_enqueue_payload_over_limit_rejected(conn):
    with pytest.raises(PayloadTooLarge, match="above the limit of 100 bytes"):
        enqueue(conn, NewJob("NOTIFICATION", {"text": "x" * 200}), max_payload_bytes=100)
    assert count_jobs(conn) == 0


def test_enqueue_dedup_returns_existing_job(conn):
    first = enqueue(conn, NewJob("ESCALATION", {"incidentId": "i1"}, dedup_key="k"))
    second = enqueue(conn, NewJob("ESCALATION", {"incidentId": "i1"}, dedup_key="k"))
    assert second.id == first.id
    assert second.created is False
    assert count_jobs(conn) == 1


def test_enqueue_dedup_key_free_after_job_finishes(conn, database):
    first = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}, dedup_key="k"))
    run_processor(database, lambda job, ctx: None)
    second = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}, dedup_key="k"))
    assert second.created is True
    assert second.id != first.id


def test_enqueue_in_rolled_back_transaction_leaves_nothing(conn):
    with pytest.raises(RuntimeError):
        with conn.transaction():
            enqueue(conn, NewJob("NOTIFICATION", {"a": 1}))
            raise RuntimeError("the caller's work failed")
    assert count_jobs(conn) == 0


def test_enqueue_sql_function_in_callers_transaction(database):
    with psycopg.connect(database) as app:
        job_id, created = app.execute(
            "SELECT * FROM jobqueue_enqueue('NOTIFICATION', '{\"incidentId\": \"i9\"}', p_delay_seconds => 5)"
        ).fetchone()
        app.rollback()
        assert created is True
        job_id, created = app.execute(
            "SELECT * FROM jobqueue_enqueue('NOTIFICATION', '{\"incidentId\": \"i9\"}', p_dedup_key => 'n9')"
        ).fetchone()
        app.commit()
    with connect(database) as conn:
        assert count_jobs(conn) == 1
        assert job_row(conn, job_id)["dedupKey"] == "n9"


def test_enqueue_sql_function_rejects_non_object(database):
    with psycopg.connect(database) as app:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="payload must be a JSON object"):
            app.execute("SELECT * FROM jobqueue_enqueue('NOTIFICATION', '[1]')")


def test_enqueue_many_in_order_with_duplicate_keys(conn):
    results = enqueue_many(
        conn,
        [
            NewJob("NOTIFICATION", {"n": 1}, dedup_key="a"),
            NewJob("NOTIFICATION", {"n": 2}),
            NewJob("NOTIFICATION", {"n": 3}, dedup_key="a"),
        ],
    )
    assert [r.created for r in results] == [True, True, False]
    assert results[2].id == results[0].id
    assert job_row(conn, results[0].id)["payload"] == {"n": 1}
    assert count_jobs(conn) == 2


def test_enqueue_many_one_bad_job_writes_nothing(conn):
    with pytest.raises(InvalidJob) as raised:
        enqueue_many(conn, [NewJob("NOTIFICATION", {}), NewJob("NOTIFICATION", "text")])
    assert raised.value.field == "jobs[1].payload"
    assert count_jobs(conn) == 0


def test_enqueue_concurrent_same_key_one_job(database):
    results = []
    barrier = threading.Barrier(8)

    def worker(rollback: bool):
        with connect(database) as own:
            barrier.wait()
            try:
                with own.transaction():
                    result = enqueue(own, NewJob("ESCALATION", {"incidentId": "x"}, dedup_key="same"))
                    if rollback:
                        raise RuntimeError("roll back")
                results.append(result)
            except RuntimeError:
                pass

    threads = [threading.Thread(target=worker, args=(n % 3 == 0,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connect(database) as conn:
        active = conn.execute(
            """SELECT id FROM "BackgroundJob" WHERE "dedupKey" = 'same' AND status IN ('PENDING','PROCESSING')"""
        ).fetchall()
    assert len(active) == 1
    committed = {r.id for r in results}
    assert committed == {active[0]["id"]}
    assert sum(r.created for r in results) == 1


# -- running jobs ------------------------------------------------------------


def test_run_completes_due_jobs_only(conn, database):
    due = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))
    later = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}, delay_seconds=3600))
    summary = run_processor(database, lambda job, ctx: Complete({"ok": True}))
    assert summary["processed"] == 1
    assert summary["total"] == 1
    done = job_row(conn, due.id)
    assert done["status"] == "COMPLETED"
    assert done["attempts"] == 1
    assert done["result"] == {"ok": True}
    assert done["completedAt"] is not None
    assert job_row(conn, later.id)["status"] == "PENDING"


def test_run_higher_priority_first(conn, database):
    low = enqueue(conn, NewJob("SCHEDULED_TASK", {"n": "low"}))
    high = enqueue(conn, NewJob("SCHEDULED_TASK", {"n": "high"}, priority=10))
    order = []
    run_processor(database, lambda job, ctx: order.append(job.id), env={"WORKER_THREADS": "1"})
    assert order == [high.id, low.id]


def test_run_retries_with_backoff_then_fails(conn, database):
    job = enqueue(conn, NewJob("NOTIFICATION", {"incidentId": "i"}))

    def broken(job, ctx):
        raise ConnectionError(f"smtp refused on attempt {job.attempts}")

    delays = []
    for attempt in (1, 2, 3):
        summary = run_processor(database, broken)
        row = job_row(conn, job.id)
        assert row["attempts"] == attempt
        assert row["error"] == f"ConnectionError: smtp refused on attempt {attempt}"
        if attempt < 3:
            assert summary["retried"] == 1
            assert row["status"] == "PENDING"
            delays.append(
                conn.execute(
                    """SELECT extract(epoch FROM "scheduledAt" - "updatedAt")::float8 AS s
                       FROM "BackgroundJob" WHERE id = %s""",
                    (job.id,),
                ).fetchone()["s"]
            )
            make_due(conn, job.id)
        else:
            assert summary["failed"] == 1
            assert row["status"] == "FAILED"
            assert row["failedAt"] is not None
    assert delays == [pytest.approx(5, abs=0.01), pytest.approx(10, abs=0.01)]
    history = job_row(conn, job.id)["errorHistory"]
    assert [entry["attempt"] for entry in history] == [1, 2, 3]
    assert all(entry["kind"] == "exception" for entry in history)


def test_run_permanent_error_fails_at_once(conn, database):
    job = enqueue(conn, NewJob("NOTIFICATION", {}))

    def handler(job, ctx):
        raise PermanentError("user u1 has no email address; add one")

    summary = run_processor(database, handler)
    row = job_row(conn, job.id)
    assert summary["failed"] == 1
    assert row["status"] == "FAILED"
    assert row["attempts"] == 1
    assert row["error"] == "PermanentError: user u1 has no email address; add one"


def test_run_garbage_return_retried_with_message(conn, database):
    job = enqueue(conn, NewJob("NOTIFICATION", {}))
    run_processor(database, lambda job, ctx: "done!")
    row = job_row(conn, job.id)
    assert row["status"] == "PENDING"
    assert "returned 'done!'" in row["error"]


def test_run_snooze_keeps_attempt(conn, database):
    job = enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "i"}))
    later = datetime.now(UTC) + timedelta(hours=1)
    summary = run_processor(database, lambda job, ctx: SnoozeUntil(later))
    row = job_row(conn, job.id)
    assert summary["snoozed"] == 1
    assert row["status"] == "PENDING"
    assert row["attempts"] == 0
    assert abs(row["scheduledAt"].replace(tzinfo=UTC) - later) < timedelta(seconds=1)


def test_run_cancel_outcome(conn, database):
    job = enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "i"}))
    summary = run_processor(database, lambda job, ctx: Cancel("incident is no longer snoozed"))
    row = job_row(conn, job.id)
    assert summary["cancelled"] == 1
    assert row["status"] == "CANCELLED"
    assert row["result"] == {"cancelled": "incident is no longer snoozed"}


def test_run_handler_writes_commit_with_completion(conn, database):
    conn.execute("CREATE TABLE effects (job_id text PRIMARY KEY)")
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}))

    def handler(job, ctx):
        ctx.conn.execute("INSERT INTO effects VALUES (%s)", (job.id,))

    run_processor(database, handler)
    assert conn.execute("SELECT count(*) AS n FROM effects").fetchone()["n"] == 1
    assert job_row(conn, job.id)["status"] == "COMPLETED"


def test_run_handler_writes_rolled_back_on_error(conn, database):
    conn.execute("CREATE TABLE effects (job_id text PRIMARY KEY)")
    good = enqueue(conn, NewJob("SCHEDULED_TASK", {"ok": True}))
    bad = enqueue(conn, NewJob("SCHEDULED_TASK", {"ok": False}))

    def handler(job, ctx):
        ctx.conn.execute("INSERT INTO effects VALUES (%s)", (job.id,))
        if not job.payload["ok"]:
            raise RuntimeError("failed after writing")

    run_processor(database, handler, env={"WORKER_THREADS": "1"})
    effects = [row["job_id"] for row in conn.execute("SELECT job_id FROM effects")]
    assert effects == [good.id]
    assert job_row(conn, bad.id)["status"] == "PENDING"


def test_run_handler_can_enqueue_follow_up(conn, database):
    enqueue(conn, NewJob("ESCALATION", {"incidentId": "i"}))

    def handler(job, ctx):
        if job.type.value == "ESCALATION":
            ctx.enqueue(NewJob("NOTIFICATION", {"from": job.id}, delay_seconds=60))

    run_processor(database, handler)
    follow = conn.execute("""SELECT * FROM "BackgroundJob" WHERE type = 'NOTIFICATION'""").fetchall()
    assert len(follow) == 1
    assert follow[0]["status"] == "PENDING"


def test_run_lease_lost_changes_nothing(conn, database, log_records):
    conn.execute("CREATE TABLE effects (job_id text PRIMARY KEY)")
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}))

    def handler(job, ctx):
        ctx.conn.execute("INSERT INTO effects VALUES (%s)", (job.id,))
        # Another processor rescued and re-claimed the job meanwhile.
        with connect(database) as other:
            other.execute(
                """UPDATE "BackgroundJob" SET "leaseOwner" = 'other', attempts = attempts + 1 WHERE id = %s""",
                (job.id,),
            )

    summary = run_processor(database, handler)
    row = job_row(conn, job.id)
    assert summary["leaseLost"] == 1
    assert summary["processed"] == 0
    assert row["status"] == "PROCESSING"
    assert row["leaseOwner"] == "other"
    assert conn.execute("SELECT count(*) AS n FROM effects").fetchone()["n"] == 0
    lost = [r for r in log_records() if r.get("action") == "lease_lost"]
    assert len(lost) == 1
    assert lost[0]["job_id"] == job.id
    assert lost[0]["level"] == "WARNING"


def test_run_lease_lost_without_writes(conn, database):
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}))

    def handler(job, ctx):
        with connect(database) as other:
            other.execute("""UPDATE "BackgroundJob" SET "leaseOwner" = 'other' WHERE id = %s""", (job.id,))

    summary = run_processor(database, handler)
    assert summary["leaseLost"] == 1
    assert job_row(conn, job.id)["status"] == "PROCESSING"


def test_run_hands_back_jobs_when_time_is_short(conn, database):
    enqueue_many(conn, [NewJob("SCHEDULED_TASK", {"n": n}) for n in range(5)])
    calls = itertools.count()

    def remaining_seconds() -> float:
        # Time enough to claim, then too little to start any job.
        return 600.0 if next(calls) < 2 else 1.0

    summary = run_processor(database, lambda job, ctx: None, remaining_seconds=remaining_seconds)
    rows = conn.execute('SELECT status, attempts, "leaseExpiresAt" FROM "BackgroundJob"').fetchall()
    assert summary["released"] == 5
    assert summary["total"] == 0
    assert {(r["status"], r["attempts"], r["leaseExpiresAt"]) for r in rows} == {("PENDING", 0, None)}


def test_run_rescues_expired_lease(conn, database):
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}))
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'PROCESSING', attempts = 1, "leaseOwner" = 'dead',
           "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = %s""",
        (job.id,),
    )
    seen = []
    summary = run_processor(database, lambda job, ctx: seen.append(job.attempts))
    row = job_row(conn, job.id)
    assert summary["rescued"] == 1
    assert seen == [2]
    assert row["status"] == "COMPLETED"
    assert row["errorHistory"][0]["kind"] == "lease_expired"
    assert row["errorHistory"][0]["attempt"] == 1


def test_run_rescue_on_last_attempt_fails(conn, database):
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}, max_attempts=2))
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'PROCESSING', attempts = 2, "leaseOwner" = 'dead',
           "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = %s""",
        (job.id,),
    )
    run_processor(database, lambda job, ctx: None)
    row = job_row(conn, job.id)
    assert row["status"] == "FAILED"
    assert row["error"].startswith("lease expired")


def test_run_rescues_processing_job_without_lease(conn, database):
    job = enqueue(conn, NewJob("SCHEDULED_TASK", {}))
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'PROCESSING', attempts = 1,
           "startedAt" = (now() AT TIME ZONE 'UTC') - interval '1 day' WHERE id = %s""",
        (job.id,),
    )
    run_processor(database, lambda job, ctx: None)
    assert job_row(conn, job.id)["status"] == "COMPLETED"


# -- operator actions ----------------------------------------------------------


def test_cancel_pending_job(conn):
    job = enqueue(conn, NewJob("NOTIFICATION", {}))
    cancelled = cancel_job(conn, job.id)
    assert cancelled.status.value == "CANCELLED"
    assert cancelled.completed_at is not None


def test_cancel_completed_job_rejected(conn, database):
    job = enqueue(conn, NewJob("NOTIFICATION", {}))
    run_processor(database, lambda job, ctx: None)
    with pytest.raises(InvalidTransition) as raised:
        cancel_job(conn, job.id)
    assert "its status is COMPLETED" in str(raised.value)
    assert "only PENDING jobs can be cancelled" in str(raised.value)


def test_cancel_unknown_job(conn):
    with pytest.raises(JobNotFound, match="job 'nope' not found"):
        cancel_job(conn, "nope")


def test_cancel_by_dedup_key(conn):
    job = enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "i"}, dedup_key="auto-unsnooze:i"))
    cancelled = cancel_by_dedup_key(conn, "auto-unsnooze:i")
    assert [c.id for c in cancelled] == [job.id]
    assert cancel_by_dedup_key(conn, "auto-unsnooze:i") == []


def test_retry_failed_job(conn, database):
    job = enqueue(conn, NewJob("NOTIFICATION", {}, max_attempts=1))

    def handler(job, ctx):
        raise RuntimeError("down")

    run_processor(database, handler)
    assert job_row(conn, job.id)["status"] == "FAILED"
    retried = retry_job(conn, job.id)
    assert retried.status.value == "PENDING"
    assert retried.attempts == 0
    assert retried.failed_at is None
    assert len(retried.error_history) == 1
    run_processor(database, lambda job, ctx: None)
    assert job_row(conn, job.id)["status"] == "COMPLETED"


def test_retry_pending_job_rejected(conn):
    job = enqueue(conn, NewJob("NOTIFICATION", {}))
    with pytest.raises(InvalidTransition, match="its status is PENDING"):
        retry_job(conn, job.id)


def test_get_job_unknown(conn):
    with pytest.raises(JobNotFound):
        get_job(conn, "missing")


def test_list_jobs_pages_cover_every_job_once(conn):
    ids = {r.id for r in enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(23)])}
    seen = []
    cursor = None
    while True:
        page = list_jobs(conn, limit=5, after=cursor)
        seen.extend(job.id for job in page.jobs)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 23
    assert set(seen) == ids


# -- statistics and cleanup ----------------------------------------------------


def test_stats_counts_and_lag(conn, database):
    enqueue_many(conn, [NewJob("NOTIFICATION", {}) for _ in range(3)])
    enqueue(conn, NewJob("ESCALATION", {}, delay_seconds=3600))
    conn.execute("""UPDATE "BackgroundJob" SET "scheduledAt" = "scheduledAt" - interval '90 seconds'
                    WHERE type = 'NOTIFICATION'""")
    stats = queue_stats(conn)
    assert stats["pending"] == 4
    assert stats["total"] == 4
    assert stats["byType"]["NOTIFICATION"]["pending"] == 3
    assert 89 <= stats["oldestDueAgeSeconds"] <= 120


def test_stats_no_due_job_lag_none(conn):
    enqueue(conn, NewJob("ESCALATION", {}, delay_seconds=3600))
    assert queue_stats(conn)["oldestDueAgeSeconds"] is None


def test_cleanup_deletes_only_old_finished_jobs(conn):
    from jobqueue.cleanup import delete_old_jobs

    ids = [r.id for r in enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(6)])]
    statuses = ["COMPLETED", "CANCELLED", "FAILED", "COMPLETED", "FAILED", "PENDING"]
    ages = ["10 days", "10 days", "10 days", "1 day", "1 day", "10 days"]
    for job_id, status, age in zip(ids, statuses, ages):
        conn.execute(
            f"""UPDATE "BackgroundJob" SET status = %s,
                "completedAt" = CASE WHEN %s IN ('COMPLETED','CANCELLED') THEN (now() AT TIME ZONE 'UTC') - interval '{age}' END,
                "failedAt" = CASE WHEN %s = 'FAILED' THEN (now() AT TIME ZONE 'UTC') - interval '{age}' END,
                "createdAt" = (now() AT TIME ZONE 'UTC') - interval '{age}'
                WHERE id = %s""",
            (status, status, status, job_id),
        )
    result = delete_old_jobs(conn, retention_days=7, batch_size=1)
    assert result.finished_deleted == 2
    assert result.failed_deleted == 1
    remaining = {row["id"] for row in conn.execute('SELECT id FROM "BackgroundJob"')}
    assert remaining == {ids[3], ids[4], ids[5]}


# -- the application's monitoring statements ---------------------------------

MONITORING = [
    """SELECT * FROM "BackgroundJob" WHERE status = 'PENDING' AND "scheduledAt" <= NOW() ORDER BY "scheduledAt" ASC;""",
    """SELECT * FROM "BackgroundJob" WHERE status = 'FAILED' ORDER BY "failedAt" DESC;""",
    """SELECT type, status, COUNT(*) AS count FROM "BackgroundJob" GROUP BY type, status;""",
    """SELECT error FROM "BackgroundJob" WHERE status = 'FAILED';""",
]


def test_monitoring_statements_run_verbatim(conn, database):
    enqueue(conn, NewJob("NOTIFICATION", {}))
    failing = enqueue(conn, NewJob("ESCALATION", {}, max_attempts=1))

    def handler(job, ctx):
        if job.id == failing.id:
            raise RuntimeError("policy missing")

    run_processor(database, handler)
    enqueue(conn, NewJob("AUTO_UNSNOOZE", {}))
    due, failed, counts, errors = (conn.execute(statement).fetchall() for statement in MONITORING)
    assert [row["type"] for row in due] == ["AUTO_UNSNOOZE"]
    assert [row["id"] for row in failed] == [failing.id]
    assert {(r["type"], r["status"], r["count"]) for r in counts} == {
        ("NOTIFICATION", "COMPLETED", 1),
        ("ESCALATION", "FAILED", 1),
        ("AUTO_UNSNOOZE", "PENDING", 1),
    }
    assert errors == [{"error": "RuntimeError: policy missing"}]


EXACT_COUNTS = 'SELECT type, status, count(*) AS count FROM "BackgroundJob" GROUP BY type, status'


def exact_by_status(conn) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in conn.execute(EXACT_COUNTS):
        counts[row["status"].lower()] = counts.get(row["status"].lower(), 0) + row["count"]
    return counts


def test_stats_match_exact_counts_after_every_kind_of_write(conn, database):
    from jobqueue.cleanup import delete_old_jobs
    from jobqueue.stats import fold_count_deltas

    enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(30)])
    enqueue_many(conn, [NewJob("ESCALATION", {"n": n}, max_attempts=1) for n in range(5)])
    cancel_job(conn, enqueue(conn, NewJob("AUTO_UNSNOOZE", {})).id)
    # The application's own insert and delete are counted too.
    conn.execute(
        """INSERT INTO "BackgroundJob" (id, type, payload, "scheduledAt", "updatedAt")
           VALUES ('app-1', 'SCHEDULED_TASK', '{}', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"""
    )

    def handler(job, ctx):
        if job.type.value == "ESCALATION":
            raise RuntimeError("no policy")

    run_processor(database, handler)
    conn.execute("""DELETE FROM "BackgroundJob" WHERE id = 'app-1'""")
    conn.execute(
        """UPDATE "BackgroundJob" SET "completedAt" = "completedAt" - interval '30 days'
           WHERE type = 'NOTIFICATION' AND (payload->>'n')::int < 10"""
    )
    delete_old_jobs(conn, retention_days=7, batch_size=4)

    stats = queue_stats(conn)
    exact = exact_by_status(conn)
    for status in ("pending", "processing", "completed", "failed", "cancelled"):
        assert stats[status] == exact.get(status, 0), status
    assert stats["completed"] == 20
    assert stats["failed"] == 5
    assert stats["cancelled"] == 1

    fold_count_deltas(conn)
    assert conn.execute('SELECT count(*) AS n FROM "_jobqueue_count_deltas"').fetchone()["n"] == 0
    assert queue_stats(conn) == stats
