"""Deduplication: concurrent enqueues with one key leave exactly one active job, and every caller learns which.

The partial unique index ``"BackgroundJob_dedupKey_active_key"`` (on
``"dedupKey"`` where the status is PENDING or PROCESSING) enforces it.
Every enqueue path (the SQL function, the library and the API) inserts
with ON CONFLICT DO NOTHING and then returns the job that has the key.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue
from tests.conftest import load_event
from tests.integration.processes import wait_for

KEY = "escalate:inc_42:step_0"
ACTIVE_KEY_INDEX = "BackgroundJob_dedupKey_active_key"


class Caller:
    """One concurrent enqueue: its kind, whether its transaction rolls back, and the result it received."""

    def __init__(self, kind: str, rollback: bool = False) -> None:
        self.kind = kind
        self.rollback = rollback
        self.job_id: str | None = None
        self.created: bool | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Caller({self.kind}, rollback={self.rollback}, created={self.created}, error={self.error!r})"


def enqueue_with_sql(database: str, caller: Caller) -> None:
    # The application's own connection and transaction, at the database's default isolation level.
    with psycopg.connect(database) as app:
        caller.job_id, caller.created = app.execute(
            "SELECT * FROM jobqueue_enqueue('ESCALATION', %s::jsonb, p_dedup_key => %s)",
            (json.dumps({"incidentId": "inc_42", "stepIndex": 0}), KEY),
        ).fetchone()
        finish(app, caller)


def enqueue_with_library(database: str, caller: Caller) -> None:
    with connect(database, autocommit=False) as app:
        result = enqueue(app, NewJob("ESCALATION", {"incidentId": "inc_42", "stepIndex": 0}, dedup_key=KEY))
        caller.job_id, caller.created = result.id, result.created
        finish(app, caller)


def finish(app: psycopg.Connection, caller: Caller) -> None:
    # Hold the transaction open a moment, so other callers wait on its row before it decides.
    time.sleep(0.3)
    if caller.rollback:
        app.rollback()
    else:
        app.commit()


def run_caller(function, database: str, caller: Caller) -> None:
    try:
        function(database, caller)
    except BaseException as exc:  # noqa: BLE001 - the test asserts on it
        caller.error = exc


def api_event(dedup_key: str = KEY) -> dict:
    event = load_event("api-create-job.json")
    body = {"type": "ESCALATION", "payload": {"incidentId": "inc_42", "stepIndex": 0}, "dedupKey": dedup_key}
    event["body"] = json.dumps(body)
    return event


def lock_waiters(conn) -> int:
    row = conn.execute(
        """SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'"""
    ).fetchone()
    return row["n"]


def active_jobs(conn, key: str = KEY) -> list[dict]:
    return conn.execute(
        """SELECT id FROM "BackgroundJob" WHERE "dedupKey" = %s AND status IN ('PENDING', 'PROCESSING')""", (key,)
    ).fetchall()


def test_active_key_index_enforced(conn):
    index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (ACTIVE_KEY_INDEX,)).fetchone()
    assert index is not None
    assert "UNIQUE" in index["indexdef"]
    assert "WHERE" in index["indexdef"]

    insert = """INSERT INTO "BackgroundJob" (id, type, status, payload, "scheduledAt", "updatedAt", "dedupKey")
                VALUES (%s, 'ESCALATION', %s, '{}', now(), now(), %s)"""
    conn.execute(insert, ("first", "PENDING", KEY))
    with pytest.raises(psycopg.errors.UniqueViolation, match=ACTIVE_KEY_INDEX):
        conn.execute(insert, ("second", "PENDING", KEY))
    conn.execute("""UPDATE "BackgroundJob" SET status = 'COMPLETED' WHERE id = 'first'""")
    conn.execute(insert, ("third", "PENDING", KEY))
    assert [row["id"] for row in active_jobs(conn)] == ["third"]


def test_concurrent_enqueues_same_key(conn, database, lambdas):
    callers = [
        Caller("sql"),
        Caller("sql", rollback=True),
        Caller("sql"),
        Caller("library", rollback=True),
        Caller("library"),
        Caller("library", rollback=True),
        Caller("library"),
    ]
    functions = {"sql": enqueue_with_sql, "library": enqueue_with_library}

    # A table lock held by the test is the starting line: every INSERT waits on it, then all race at once.
    with connect(database, autocommit=False) as gate:
        gate.execute('LOCK TABLE "BackgroundJob" IN SHARE ROW EXCLUSIVE MODE')
        threads = [
            threading.Thread(target=run_caller, args=(functions[caller.kind], database, caller)) for caller in callers
        ]
        for thread in threads:
            thread.start()
        api_runs = [lambdas.start("api", api_event()) for _ in range(3)]
        wait_for(lambda: lock_waiters(conn) == len(callers) + len(api_runs), timeout=60, description="all ten enqueues")
        gate.commit()
    for thread in threads:
        thread.join()
    for run in api_runs:
        response = run.wait()["result"]
        body = json.loads(response["body"])
        caller = Caller("api")
        assert response["statusCode"] in (200, 201), response
        caller.job_id, caller.created = body["job"]["id"], body["created"]
        assert caller.created == (response["statusCode"] == 201)
        callers.append(caller)

    active = active_jobs(conn)
    committed = [caller for caller in callers if not caller.rollback]
    print(
        f"\n[dedup race] callers={len(callers)} rolled_back={len(callers) - len(committed)} "
        f"created={[c.kind for c in callers if c.created]} active_jobs={len(active)}"
    )
    assert [caller for caller in callers if caller.error] == []
    assert len(active) == 1
    assert {caller.job_id for caller in committed} == {active[0]["id"]}, "a committed caller lost its job"
    assert [caller.created for caller in committed].count(True) == 1
    assert conn.execute('SELECT count(*) AS n FROM "BackgroundJob"').fetchone()["n"] == 1


def test_api_enqueue_same_key_under_repeatable_read(conn, database, lambdas):
    # The API's connections must not inherit a stricter default from the database and fail under a race.
    conn.execute(f"""ALTER DATABASE "{conn.info.dbname}" SET default_transaction_isolation = 'repeatable read'""")
    with connect(database, autocommit=False) as gate:
        gate.execute('LOCK TABLE "BackgroundJob" IN SHARE ROW EXCLUSIVE MODE')
        runs = [lambdas.start("api", api_event()) for _ in range(6)]
        wait_for(lambda: lock_waiters(conn) == len(runs), timeout=60, description="all six API requests")
        gate.commit()
    responses = [run.wait()["result"] for run in runs]
    statuses = sorted(response["statusCode"] for response in responses)
    print(f"\n[dedup race, repeatable read] requests={len(runs)} statuses={statuses}")

    assert statuses == [200, 200, 200, 200, 200, 201]
    assert {json.loads(r["body"])["job"]["id"] for r in responses} == {active_jobs(conn)[0]["id"]}
