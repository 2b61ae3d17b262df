"""The metrics module on its own: recording from threads and the EMF objects it prints."""

from __future__ import annotations

import json
import threading
import warnings

import pytest

from jobqueue import metrics
from jobqueue.metrics import JobMetrics, publish_enqueued, publish_job_metrics
from jobqueue.states import JobType


def printed_objects(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.fixture(autouse=True)
def metrics_env(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "JobQueue/test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "jobqueue")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def test_job_metrics_counts_from_many_threads():
    recorded = JobMetrics()

    def record_many():
        for _ in range(1000):
            recorded.record(JobType.NOTIFICATION, "completed", 1.0)
            recorded.record(JobType.ESCALATION, None, 2.0)

    threads = [threading.Thread(target=record_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    snapshot = recorded.snapshot()
    assert snapshot["NOTIFICATION"].outcomes["completed"] == 8000
    assert len(snapshot["NOTIFICATION"].durations_ms) == 8000
    assert snapshot["ESCALATION"].lease_lost == 8000
    assert snapshot["ESCALATION"].outcomes["completed"] == 0


def test_job_metrics_snapshot_is_a_copy():
    recorded = JobMetrics()
    recorded.record("ESCALATION", "failed", 5.0)
    snapshot = recorded.snapshot()
    recorded.record("ESCALATION", "failed", 6.0)

    assert snapshot["ESCALATION"].outcomes["failed"] == 1
    assert snapshot["ESCALATION"].durations_ms == [5.0]


def test_publish_job_metrics_one_object_per_type(capsys):
    recorded = JobMetrics()
    recorded.record("NOTIFICATION", "completed", 12.5)
    recorded.record("NOTIFICATION", "retried", 30.0)
    recorded.record("ESCALATION", "failed", 7.0)

    publish_job_metrics(recorded)

    objects = printed_objects(capsys)
    assert [record["JobType"] for record in objects] == ["ESCALATION", "NOTIFICATION"]
    notification = objects[1]
    assert notification["JobsCompleted"] == [1.0]
    assert notification["JobsRetried"] == [1.0]
    assert notification["JobsFailed"] == [0.0]
    assert notification["JobDuration"] == [12.5, 30.0]
    directive = notification["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "JobQueue/test"
    assert sorted(map(sorted, directive["Dimensions"])) == [["JobType", "service"], ["service"]]
    assert {"Name": "JobDuration", "Unit": "Milliseconds"} in directive["Metrics"]


def test_publish_job_metrics_nothing_recorded_prints_nothing(capsys):
    publish_job_metrics(JobMetrics())

    assert printed_objects(capsys) == []


def test_publish_job_metrics_splits_at_100_values(capsys):
    recorded = JobMetrics()
    for n in range(250):
        recorded.record("SCHEDULED_TASK", "completed", float(n))

    publish_job_metrics(recorded)

    objects = printed_objects(capsys)
    assert [len(record["JobDuration"]) for record in objects] == [100, 100, 50]
    assert objects[0]["JobsCompleted"] == [250.0]
    assert all(record["JobType"] == "SCHEDULED_TASK" for record in objects)


def test_publish_job_metrics_exactly_100_values(capsys):
    recorded = JobMetrics()
    for _ in range(100):
        recorded.record("SCHEDULED_TASK", "completed", 1.0)

    # Powertools empties the object at the 100th value; flushing it again would warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        publish_job_metrics(recorded)

    assert len(printed_objects(capsys)) == 1


def test_publish_job_metrics_disabled(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    recorded = JobMetrics()
    for _ in range(150):
        recorded.record("SCHEDULED_TASK", "completed", 1.0)

    publish_job_metrics(recorded)

    assert printed_objects(capsys) == []


def test_publish_enqueued_counts_per_type(capsys):
    publish_enqueued(["NOTIFICATION", "NOTIFICATION", JobType.ESCALATION])

    objects = printed_objects(capsys)
    assert {record["JobType"]: record["JobsEnqueued"] for record in objects} == {
        "ESCALATION": [1.0],
        "NOTIFICATION": [2.0],
    }


def test_namespace_default_without_environment(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")

    assert metrics.namespace() == "JobQueue"
