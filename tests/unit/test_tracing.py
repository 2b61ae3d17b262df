"""When tracing is on, and the outcome a job's subsegment is annotated with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobqueue import tracing
from jobqueue.errors import PermanentError, RetryableError
from jobqueue.jobs import Job
from jobqueue.outcomes import Cancel, Complete, Fail, RetryAfter, SnoozeUntil
from jobqueue.states import JobStatus, JobType

IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        (IN_LAMBDA, True),
        (IN_LAMBDA | {"POWERTOOLS_TRACE_DISABLED": "false"}, True),
        (IN_LAMBDA | {"POWERTOOLS_TRACE_DISABLED": "true"}, False),
        (IN_LAMBDA | {"POWERTOOLS_TRACE_DISABLED": "1"}, False),
        (IN_LAMBDA | {"AWS_SAM_LOCAL": "true"}, False),
        ({}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ],
)
def test_tracing_enabled_rules(env, enabled):
    assert tracing.tracing_enabled(env) is enabled


def test_tracing_off_leaves_handlers_unwrapped(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    tracing.reset_tracer()

    def lookup(job_type):
        return job_type

    assert tracing.get_tracer() is None
    assert tracing.handler_lookup(lookup) is lookup
    assert tracing.capture_lambda_handler(lookup) is lookup
    tracing.reset_tracer()


def job(attempts: int, max_attempts: int = 3) -> Job:
    return Job(
        id="j1",
        type=JobType.NOTIFICATION,
        status=JobStatus.PROCESSING,
        payload={},
        scheduled_at=datetime.now(UTC),
        attempts=attempts,
        max_attempts=max_attempts,
    )


@pytest.mark.parametrize(
    ("result", "attempts", "outcome"),
    [
        (None, 1, "completed"),
        (Complete({"ok": True}), 1, "completed"),
        (RetryAfter(30), 1, "retried"),
        (RetryAfter(30), 3, "failed"),
        (SnoozeUntil(datetime.now(UTC)), 3, "snoozed"),
        (Cancel("nothing to do"), 1, "cancelled"),
        (Fail("bad payload"), 1, "failed"),
        ("not an outcome", 1, "retried"),
    ],
)
def test_outcome_of_result(result, attempts, outcome):
    assert tracing._outcome_of_result(job(attempts), result) == outcome


@pytest.mark.parametrize(
    ("error", "attempts", "outcome"),
    [
        (RetryableError("timed out"), 1, "retried"),
        (ValueError("bug"), 2, "retried"),
        (ValueError("bug"), 3, "failed"),
        (PermanentError("bad payload"), 1, "failed"),
    ],
)
def test_outcome_of_error(error, attempts, outcome):
    assert tracing._outcome_of_error(job(attempts), error) == outcome
