"""The processor function's EMF metrics, read back from what it prints.

The function runs through the local runner (``ProcessorFunction`` of
template.yaml) with real handlers against a real PostgreSQL. Powertools
prints each EMF object as one JSON line on stdout, which ``capsys``
captures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobqueue.enqueue import NewJob, enqueue
from jobqueue.transports import TransientDeliveryError, register_transport
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.helpers import job_row

TEMPLATE = ROOT / "template.yaml"
# template.yaml sets JobQueue/${AWS::StackName}, and the local runner's stack is named "local".
NAMESPACE = "JobQueue/local"


def emf_objects(output: str) -> list[dict]:
    """Return every EMF object among the printed lines."""
    objects = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "_aws" in record:
            objects.append(record)
    return objects


def values(record: dict, name: str) -> list[float]:
    """Return a metric's values; EMF allows a number or a list of numbers."""
    value = record[name]
    return value if isinstance(value, list) else [value]


def single(record: dict, name: str) -> float:
    (value,) = values(record, name)
    return value


def dimension_sets(record: dict) -> list[list[str]]:
    return record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def by_job_type(objects: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in objects:
        if "JobType" in record:
            found.setdefault(record["JobType"], []).append(record)
    return found


def invocation_object(objects: list[dict]) -> dict:
    """Return the one object of the invocation itself: no JobType, and not the cold-start object."""
    matches = [record for record in objects if "JobType" not in record and "ColdStart" not in record]
    assert len(matches) == 1, matches
    return matches[0]


def invoke_processor(database: str, event: dict, **env: str):
    # The "log" transport is the one the tests replace with FailingTransport.
    overrides = {"DATABASE_URL": database, "NOTIFY_TRANSPORT": "log", **env}
    return invoke("ProcessorFunction", event, template_path=TEMPLATE, env_overrides=overrides)


class FailingTransport:
    def send(self, delivery):
        raise TransientDeliveryError("provider throttled the request")


@pytest.fixture
def failing_transport():
    previous = register_transport("log", FailingTransport)
    yield
    register_transport("log", previous)


def seed_outcomes(conn) -> dict[str, str]:
    """Enqueue jobs that end in every outcome, plus an expired lease and a due job left for later."""
    conn.execute("INSERT INTO \"User\" (id, name, email) VALUES ('u1', 'User One', 'u1@example.com')")
    conn.execute(
        """INSERT INTO "Incident" (id, title, status, "snoozedUntil")
           VALUES ('snoozed', 'Disk full', 'SNOOZED', (now() AT TIME ZONE 'UTC') + interval '1 hour')"""
    )
    ids = {}
    for n in range(3):
        ids[f"noop{n}"] = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"})).id
    ids["unknown_task"] = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "no_such_task"})).id
    ids["notify"] = enqueue(
        conn, NewJob("NOTIFICATION", {"incidentId": None, "userId": "u1", "channel": "EMAIL", "message": "hi"})
    ).id
    ids["missing_incident"] = enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "gone"})).id
    ids["snoozed"] = enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "snoozed"})).id

    # Left behind by a processor that died: lease rescue makes it due again.
    ids["rescued"] = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"})).id
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'PROCESSING', attempts = 1, "leaseOwner" = 'dead',
               "startedAt" = (now() AT TIME ZONE 'UTC') - interval '20 minutes',
               "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 minute'
           WHERE id = %s""",
        (ids["rescued"],),
    )

    # Due two minutes ago, of a type the run below leaves out: it makes the lag.
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    ids["escalation"] = enqueue(
        conn, NewJob("ESCALATION", {"incidentId": "x", "stepIndex": 0}, run_at=two_minutes_ago)
    ).id
    return ids


def test_emf_outcomes_per_job_type(database, conn, capsys, failing_transport):
    ids = seed_outcomes(conn)
    event = {"action": "process", "types": ["SCHEDULED_TASK", "NOTIFICATION", "AUTO_UNSNOOZE"]}

    result = invoke_processor(database, event)

    assert result["processed"] == 4
    assert result["rescued"] == 1
    assert job_row(conn, ids["notify"])["status"] == "PENDING"
    objects = emf_objects(capsys.readouterr().out)
    types = by_job_type(objects)
    assert set(types) == {"SCHEDULED_TASK", "NOTIFICATION", "AUTO_UNSNOOZE"}

    expected = {
        "SCHEDULED_TASK": {"JobsCompleted": 4, "JobsFailed": 1, "JobsRetried": 0, "JobsCancelled": 0, "JobsSnoozed": 0},
        "NOTIFICATION": {"JobsCompleted": 0, "JobsFailed": 0, "JobsRetried": 1, "JobsCancelled": 0, "JobsSnoozed": 0},
        "AUTO_UNSNOOZE": {"JobsCompleted": 0, "JobsFailed": 0, "JobsRetried": 0, "JobsCancelled": 1, "JobsSnoozed": 1},
    }
    for job_type, counts in expected.items():
        (record,) = types[job_type]
        for name, value in counts.items():
            assert single(record, name) == value, (job_type, name)
        assert single(record, "JobsLeaseLost") == 0
        assert record["service"] == "jobqueue"
        assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
        assert sorted(map(sorted, dimension_sets(record))) == [["JobType", "service"], ["service"]]


def test_emf_duration_per_job(database, conn, capsys, failing_transport):
    seed_outcomes(conn)
    event = {"action": "process", "types": ["SCHEDULED_TASK", "NOTIFICATION", "AUTO_UNSNOOZE"]}

    invoke_processor(database, event)

    types = by_job_type(emf_objects(capsys.readouterr().out))
    durations = values(types["SCHEDULED_TASK"][0], "JobDuration")
    # Four completed jobs and one failed one, each timed on its own.
    assert len(durations) == 5
    assert all(value >= 0 for value in durations)
    assert {"Name": "JobDuration", "Unit": "Milliseconds"} in types["SCHEDULED_TASK"][0]["_aws"]["CloudWatchMetrics"][
        0
    ]["Metrics"]
    assert single(types["NOTIFICATION"][0], "JobDuration") >= 0


def test_emf_queue_state_after_run(database, conn, capsys, failing_transport):
    seed_outcomes(conn)
    event = {"action": "process", "types": ["SCHEDULED_TASK", "NOTIFICATION", "AUTO_UNSNOOZE"]}

    invoke_processor(database, event)

    record = invocation_object(emf_objects(capsys.readouterr().out))
    assert record["service"] == "jobqueue"
    assert dimension_sets(record) == [["service"]]
    # Left PENDING: the escalation (due), the retried notification and the snoozed job (both later).
    assert single(record, "PendingJobs") == 3
    assert single(record, "DuePendingJobs") == 1
    assert single(record, "ProcessingJobs") == 0
    assert 115 <= single(record, "QueueLag") <= 180
    assert single(record, "LeasesRescued") == 1
    assert single(record, "JobsReleased") == 0
    assert {"Name": "QueueLag", "Unit": "Seconds"} in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]


def test_emf_empty_queue_zero_lag(database, conn, capsys):
    invoke_processor(database, load_event("processor-scheduled.json"))

    objects = emf_objects(capsys.readouterr().out)
    assert by_job_type(objects) == {}
    record = invocation_object(objects)
    assert single(record, "QueueLag") == 0
    assert single(record, "PendingJobs") == 0


def test_emf_many_jobs_split_objects(database, conn, capsys):
    for _ in range(130):
        enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))

    invoke_processor(database, load_event("processor-scheduled.json"))

    records = by_job_type(emf_objects(capsys.readouterr().out))["SCHEDULED_TASK"]
    # EMF takes at most 100 values per metric in one object.
    assert len(records) == 2
    durations = [value for record in records for value in values(record, "JobDuration")]
    assert len(durations) == 130
    assert sum(single(record, "JobsCompleted") for record in records if "JobsCompleted" in record) == 130


def test_emf_cleanup_counts_deleted(database, conn, capsys):
    job_id = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"})).id
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'COMPLETED',
               "completedAt" = (now() AT TIME ZONE 'UTC') - interval '30 days' WHERE id = %s""",
        (job_id,),
    )

    result = invoke_processor(database, load_event("processor-cleanup.json"))

    assert result["deleted"] == 1
    record = invocation_object(emf_objects(capsys.readouterr().out))
    assert single(record, "JobsDeleted") == 1


# Powertools warns on every flush that finds no metrics, disabled or not.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_emf_disabled_prints_nothing(database, conn, capsys):
    enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))

    invoke_processor(database, load_event("processor-scheduled.json"), POWERTOOLS_METRICS_DISABLED="true")

    assert emf_objects(capsys.readouterr().out) == []


def test_emf_failed_run_still_printed(database, capsys):
    missing = database.replace("dbname=", "dbname=missing_")

    with pytest.raises(Exception, match="missing_"):
        invoke_processor(missing, load_event("processor-scheduled.json"))

    record = invocation_object(emf_objects(capsys.readouterr().out))
    assert single(record, "LeasesRescued") == 0
    # No queue state: the query would only wait for the same failure.
    assert "QueueLag" not in record


def test_emf_api_counts_created_jobs(database, conn, capsys):
    body = {
        "jobs": [
            {"type": "NOTIFICATION", "payload": {"n": 1}},
            {"type": "NOTIFICATION", "payload": {"n": 2}, "dedupKey": "same"},
            {"type": "NOTIFICATION", "payload": {"n": 3}, "dedupKey": "same"},
            {"type": "ESCALATION", "payload": {"incidentId": "i1", "stepIndex": 0}},
        ]
    }
    event = load_event("api-create-jobs-bulk.json") | {"body": json.dumps(body)}

    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database})

    assert response["statusCode"] == 201
    counts = {
        job_type: single(record, "JobsEnqueued")
        for job_type, (record,) in by_job_type(emf_objects(capsys.readouterr().out)).items()
    }
    # The third job shares the second one's dedupKey, so it creates nothing.
    assert counts == {"NOTIFICATION": 2, "ESCALATION": 1}


def test_emf_api_existing_job_not_counted(database, conn, capsys):
    event = load_event("api-create-job.json")
    body = json.loads(event["body"]) | {"dedupKey": "once"}
    event = event | {"body": json.dumps(body)}
    invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database})
    capsys.readouterr()

    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database})

    assert response["statusCode"] == 200
    assert emf_objects(capsys.readouterr().out) == []
