"""The processor's CloudWatch metrics, in embedded metric format (EMF).

Powertools Metrics prints each EMF object as one JSON line on stdout, and
CloudWatch Logs turns the line into metrics in the namespace named by
``POWERTOOLS_METRICS_NAMESPACE``. All metrics in one EMF object share its
dimension values, so a run prints:

- one object per job type that ran, with the dimensions (service,
  JobType) and a rollup on (service) alone: the outcome counts
  ``JobsCompleted``, ``JobsFailed``, ``JobsRetried``, ``JobsCancelled``,
  ``JobsSnoozed`` and ``JobsLeaseLost``, and ``JobDuration`` in
  milliseconds, one value per job. Powertools starts a new object every
  100 values, the EMF limit per metric;
- the invocation's object, with the dimension (service) only, which the
  handler's ``log_metrics`` decorator prints: ``LeasesRescued``,
  ``JobsReleased``, and after a run that did not fail, the queue's state
  (``QueueLag``, ``PendingJobs``, ``DuePendingJobs``, ``ProcessingJobs``).
  A cold start adds Powertools' ``ColdStart`` object.

Worker threads record outcomes into a ``JobMetrics`` under its lock, and
the main thread prints them after the run. No dimension contains a job
id, so the number of metric series stays fixed.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from jobqueue.errors import DatabaseUnavailable
from jobqueue.logs import logger
from jobqueue.stats import active_jobs

if TYPE_CHECKING:
    from jobqueue.db import Database
    from jobqueue.processor import RunSummary

NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
# Used when the environment names no namespace, as in a library user's own function.
DEFAULT_NAMESPACE = "JobQueue"
DEFAULT_SERVICE = "jobqueue"
JOB_TYPE_DIMENSION = "JobType"

# Outcome words of the processor's RunSummary, and the metric counting each.
OUTCOME_METRICS = {
    "completed": "JobsCompleted",
    "failed": "JobsFailed",
    "retried": "JobsRetried",
    "cancelled": "JobsCancelled",
    "snoozed": "JobsSnoozed",
}
LEASE_LOST_METRIC = "JobsLeaseLost"
DURATION_METRIC = "JobDuration"
ENQUEUED_METRIC = "JobsEnqueued"


def namespace() -> str:
    """Return the metrics namespace: ``POWERTOOLS_METRICS_NAMESPACE``, or ``JobQueue``."""
    return os.environ.get(NAMESPACE_ENV, "").strip() or DEFAULT_NAMESPACE


def service() -> str:
    """Return the value of the ``service`` dimension: ``POWERTOOLS_SERVICE_NAME``, or ``jobqueue``."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME", "").strip() or DEFAULT_SERVICE


def invocation_metrics() -> Metrics:
    """Return a Powertools ``Metrics`` for the invocation's object.

    Every ``Metrics`` instance shares one store, so metrics added here are
    printed by whichever instance decorates the handler with
    ``log_metrics``.
    """
    return Metrics(namespace=namespace(), service=service())


@dataclass
class TypeMetrics:
    """One job type's outcome counts and job durations in one run."""

    outcomes: Counter = field(default_factory=Counter)
    lease_lost: int = 0
    durations_ms: list[float] = field(default_factory=list)


class JobMetrics:
    """Outcome counts and durations per job type, recorded by the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, TypeMetrics] = defaultdict(TypeMetrics)

    def record(self, job_type: str, outcome: str | None, duration_ms: float) -> None:
        """Count one job's outcome (None when its lease was lost) and keep its duration."""
        with self._lock:
            entry = self._types[str(job_type)]
            if outcome is None:
                entry.lease_lost += 1
            else:
                entry.outcomes[outcome] += 1
            entry.durations_ms.append(duration_ms)

    def snapshot(self) -> dict[str, TypeMetrics]:
        """Return a copy of the metrics recorded so far, by job type."""
        with self._lock:
            return {
                job_type: TypeMetrics(Counter(entry.outcomes), entry.lease_lost, list(entry.durations_ms))
                for job_type, entry in self._types.items()
            }


# Every function below does nothing while metrics are disabled
# (POWERTOOLS_METRICS_DISABLED). Powertools keeps added metrics in that
# case, and prints them anyway once a metric reaches 100 values.


def publish_job_metrics(job_metrics: JobMetrics) -> None:
    """Print one EMF object per job type that ran (more when a type ran over 100 jobs)."""
    if is_metrics_disabled():
        return
    for job_type, entry in sorted(job_metrics.snapshot().items()):
        blob = _type_blob(job_type)
        for outcome, name in OUTCOME_METRICS.items():
            blob.add_metric(name=name, unit=MetricUnit.Count, value=entry.outcomes[outcome])
        blob.add_metric(name=LEASE_LOST_METRIC, unit=MetricUnit.Count, value=entry.lease_lost)
        for duration_ms in entry.durations_ms:
            blob.add_metric(name=DURATION_METRIC, unit=MetricUnit.Milliseconds, value=duration_ms)
        # Powertools prints and empties the object when a metric reaches
        # 100 values, so the last object may have nothing left to print.
        if blob.metric_set:
            blob.flush_metrics()


def publish_enqueued(job_types: Iterable[str]) -> None:
    """Print one EMF object per job type with ``JobsEnqueued``, the number of jobs created of that type."""
    if is_metrics_disabled():
        return
    for job_type, count in sorted(Counter(str(job_type) for job_type in job_types).items()):
        blob = _type_blob(job_type)
        blob.add_metric(name=ENQUEUED_METRIC, unit=MetricUnit.Count, value=count)
        blob.flush_metrics()


def _type_blob(job_type: str) -> EphemeralMetrics:
    # EphemeralMetrics keeps its own store, unlike Metrics, so one job
    # type's values never end up in another type's object.
    blob = EphemeralMetrics(namespace=namespace(), service=service())
    blob.add_dimension(name=JOB_TYPE_DIMENSION, value=job_type)
    # A second dimension set, so CloudWatch also aggregates every type
    # under (service) alone, the series the failed-jobs alarm watches.
    blob.add_dimensions(service=service())
    return blob


def add_run_metrics(summary: RunSummary, database: Database | None) -> None:
    """Add the run's lease counts and, given ``database``, the queue's state to the invocation's object.

    Pass ``database=None`` after a run that failed on the database: the
    state query would only wait for the same failure. A failed state
    query is logged and skipped, so it never fails the invocation.
    """
    if is_metrics_disabled():
        return
    metrics = invocation_metrics()
    metrics.add_metric(name="LeasesRescued", unit=MetricUnit.Count, value=summary.rescued)
    metrics.add_metric(name="JobsReleased", unit=MetricUnit.Count, value=summary.released)
    if database is None:
        return

    try:
        with database.connection() as conn:
            state = active_jobs(conn)
    except (DatabaseUnavailable, psycopg.Error) as exc:
        logger.warning(
            "queue metrics skipped: the queue state query failed",
            extra={"action": "metrics_skipped", "error": str(exc)},
        )
        return
    # An empty queue has no lag; 0 keeps the graph and the alarm continuous.
    metrics.add_metric(name="QueueLag", unit=MetricUnit.Seconds, value=state.oldest_due_age_seconds or 0.0)
    metrics.add_metric(name="PendingJobs", unit=MetricUnit.Count, value=state.pending)
    metrics.add_metric(name="DuePendingJobs", unit=MetricUnit.Count, value=state.due)
    metrics.add_metric(name="ProcessingJobs", unit=MetricUnit.Count, value=state.processing)


def add_count(name: str, value: int) -> None:
    """Add one count to the invocation's object, such as ``JobsDeleted`` after a cleanup."""
    if not is_metrics_disabled():
        invocation_metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
