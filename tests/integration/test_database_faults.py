"""Database faults: a killed connection, the server stopping mid-run, and the server restarting mid-batch.

Stopping and restarting use a server of the test session's own
(``tests/integration/own_server.py``), never a shared one.
"""

from __future__ import annotations

import json

import pytest

from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue.invocation import handle
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.processes import (
    Lambdas,
    counts_by_job,
    effect_job,
    install_probes,
    wait_for,
    wait_for_leases_to_expire,
)

# The timeout makes pg_terminate_backend wait until each backend has exited,
# so the kill is complete before the next invocation starts.
TERMINATE_QUEUE_BACKENDS = """
SELECT count(pg_terminate_backend(pid, 5000)) AS n FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'jobqueue' AND pid <> pg_backend_pid()
"""


def test_killed_connection_replaced_on_next_invocation(conn, database):
    enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))
    assert handle({"action": "process"}, request_id="r1", remaining_seconds=lambda: 600)["processed"] == 1

    # The warm invocation's pooled connections die between two invocations, as after a failover.
    assert conn.execute(TERMINATE_QUEUE_BACKENDS).fetchone()["n"] >= 1
    enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))
    assert handle({"action": "process"}, request_id="r2", remaining_seconds=lambda: 600)["processed"] == 1


def test_killed_connection_replaced_for_api(conn, database):
    event = load_event("api-get-job-stats.json")
    env = {"DATABASE_URL": database}
    assert invoke("ApiFunction", event, template_path=ROOT / "template.yaml", env_overrides=env)["statusCode"] == 200
    assert conn.execute(TERMINATE_QUEUE_BACKENDS).fetchone()["n"] >= 1
    response = invoke("ApiFunction", event, template_path=ROOT / "template.yaml", env_overrides=env)
    assert response["statusCode"] == 200, response["body"]


@pytest.mark.parametrize("fault", ["stop", "restart"])
def test_database_down_mid_run_loses_nothing(own_server, own_database, tmp_path, fault):
    with connect(own_database) as conn:
        install_probes(conn)
        ids = [
            r.id
            for r in enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job(sleep_seconds=0.4)) for _ in range(20)])
        ]
    lambdas = Lambdas(tmp_path, own_database)
    env = {"WORKER_THREADS": "2", "BATCH_SIZE": "20", "LEASE_MARGIN_SECONDS": "2", "JOB_START_MARGIN_SECONDS": "0.5"}
    try:
        run = lambdas.start(env=env, timeout_seconds=8)
        with connect(own_database) as conn:
            wait_for(lambda: len(counts_by_job(conn, "effects")) >= 3, timeout=60, description="a few jobs to commit")
        own_server.stop("fast")
        if fault == "restart":
            own_server.start()
        outcome = run.wait()
        if fault == "stop":
            own_server.start()
    finally:
        lambdas.kill_all()
        if not own_server.running():
            own_server.start()

    errors = [record for record in run.log_records() if record["level"] == "ERROR"]
    print(f"\n[database {fault} mid-run] jobs={len(ids)} error={outcome.get('error_type')}: {outcome.get('error')}")
    assert outcome["ok"] is False
    assert outcome["error_type"] == "DatabaseUnavailable"
    assert outcome["error"].startswith("the database failed during the run")
    assert "retried" in outcome["error"]
    assert [record["action"] for record in errors] == ["database_error"]

    with connect(own_database) as conn:
        wait_for_leases_to_expire(conn)
        result = lambdas.start(env=env, timeout_seconds=60).wait()
        assert result["ok"], result.get("traceback")
        statuses = {
            row["status"] for row in conn.execute('SELECT DISTINCT status::text AS status FROM "BackgroundJob"')
        }
        assert statuses == {"COMPLETED"}
        assert counts_by_job(conn, "effects") == dict.fromkeys(ids, 1)


def test_api_database_down_answers_503(own_server, own_database):
    event = load_event("api-create-job.json")
    env = {"DATABASE_URL": own_database}
    own_server.stop("fast")
    try:
        response = invoke("ApiFunction", event, template_path=ROOT / "template.yaml", env_overrides=env)
    finally:
        own_server.start()
    body = json.loads(response["body"])
    assert response["statusCode"] == 503
    assert body["error"]["code"] == "database_unavailable"
