"""One processor invocation: parse its event, then process, clean up or migrate.

The processor function takes three kinds of event:

- the EventBridge scheduled event (``"detail-type": "Scheduled Event"``):
  rescue expired leases, then run due jobs with the configured batch size;
- a manual event ``{"action": "process", "batchSize": 10, "types":
  ["NOTIFICATION"], "maxJobs": 100, "cleanup": true}``, every key optional;
- ``{"action": "cleanup", "retentionDays": 7}`` (the daily schedule sends
  this) and ``{"action": "migrate"}``.

A bad event raises ``InvalidEvent`` naming the key and the accepted values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobqueue import metrics, tracing
from jobqueue.cleanup import delete_old_jobs
from jobqueue.config import Settings, get_settings
from jobqueue.db import Database, get_database
from jobqueue.errors import JobQueueError
from jobqueue.handlers import get_handler
from jobqueue.logs import logger
from jobqueue.migrations import apply_migrations
from jobqueue.processor import Processor, RunOptions
from jobqueue.states import JobType

ACTIONS = ("process", "cleanup", "migrate")


class InvalidEvent(JobQueueError):
    """The processor's event has an unknown action or a bad option."""


@dataclass(frozen=True)
class ProcessorRequest:
    action: str = "process"
    batch_size: int | None = None
    types: tuple[JobType, ...] | None = None
    max_jobs: int | None = None
    cleanup: bool = False
    retention_days: int | None = None


def parse_event(event: Any) -> ProcessorRequest:
    """Read a processor event; raise ``InvalidEvent`` naming the first bad key."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__}")
    if event.get("source") == "aws.events" or "detail-type" in event:
        return ProcessorRequest()

    action = event.get("action", "process")
    if action not in ACTIONS:
        raise InvalidEvent(f"action={action!r} is invalid; use one of: {', '.join(ACTIONS)}")
    types = event.get("types")
    if types is not None:
        if not isinstance(types, list) or not types:
            raise InvalidEvent("types must be a non-empty list of job types, such as [\"NOTIFICATION\"]")
        try:
            types = tuple(JobType(t) for t in types)
        except ValueError:
            allowed = ", ".join(t.value for t in JobType)
            raise InvalidEvent(f"types={event['types']!r} has an unknown job type; use {allowed}") from None
    cleanup = event.get("cleanup", False)
    if not isinstance(cleanup, bool):
        raise InvalidEvent(f"cleanup={cleanup!r} is invalid; use true or false")
    return ProcessorRequest(
        action=action,
        batch_size=_whole(event, "batchSize", 1, 1000),
        types=types,
        max_jobs=_whole(event, "maxJobs", 1, 10_000_000),
        cleanup=cleanup,
        retention_days=_whole(event, "retentionDays", 1, 3650),
    )


def _whole(event: dict, key: str, minimum: int, maximum: int) -> int | None:
    value = event.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidEvent(f"{key}={value!r} is invalid; use a whole number from {minimum} to {maximum}")
    return value


_migrated = False
_migrate_lock = threading.Lock()


def _migrate_once(settings: Settings) -> list[str]:
    global _migrated
    with _migrate_lock:
        if _migrated:
            return []
        with get_database(settings).connection() as conn:
            applied = apply_migrations(conn)
        _migrated = True
        return applied


def handle(event: Any, *, request_id: str, remaining_seconds: Callable[[], float]) -> dict[str, Any]:
    """Run one processor invocation and return its counts.

    With ``AUTO_MIGRATE=true`` the first invocation of a cold start applies
    pending migrations before anything else.
    """
    request = parse_event(event)
    settings = get_settings()
    database = get_database(settings)

    if request.action == "migrate":
        with database.connection() as conn:
            applied = apply_migrations(conn)
        logger.info("migrations applied", extra={"action": "migrate", "applied": applied})
        metrics.add_count("MigrationsApplied", len(applied))
        return {"applied": applied}
    if settings.auto_migrate:
        applied = _migrate_once(settings)
        if applied:
            logger.info("migrations applied at cold start", extra={"action": "migrate", "applied": applied})

    result: dict[str, Any] = {}
    if request.action == "process":
        processor = Processor(
            database,
            settings,
            remaining_seconds=remaining_seconds,
            request_id=request_id,
            handler_lookup=tracing.handler_lookup(get_handler),
        )
        try:
            summary = processor.run(
                RunOptions(
                    batch_size=request.batch_size or settings.batch_size,
                    types=request.types,
                    max_jobs=request.max_jobs,
                )
            )
        except Exception:
            _observe_run(processor, None)
            raise
        _observe_run(processor, database)
        result.update(summary.as_dict())
        logger.info("processor run finished", extra={"action": "run_finished", **result})

    if request.action == "cleanup" or request.cleanup:
        with database.connection() as conn:
            cleaned = delete_old_jobs(
                conn,
                retention_days=request.retention_days or settings.retention_days,
                batch_size=settings.cleanup_batch_size,
                time_left_seconds=remaining_seconds,
            )
        metrics.add_count("JobsDeleted", cleaned.total)
        result["deleted"] = cleaned.total
        result["deletedFinished"] = cleaned.finished_deleted
        result["deletedFailed"] = cleaned.failed_deleted
    return result


def _observe_run(processor: Processor, database: Database | None) -> None:
    """Publish the run's metrics and trace annotations; ``database`` is None after a failed run."""
    metrics.publish_job_metrics(processor.job_metrics)
    metrics.add_run_metrics(processor.summary, database)
    tracing.annotate_run(processor.job_metrics.snapshot(), processor.summary)
