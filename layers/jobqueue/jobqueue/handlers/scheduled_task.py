"""SCHEDULED_TASK jobs: run a named task from ``jobqueue.tasks``.

Payload: ``{"task": str, "args": object (optional, default {})}``.

The task's return value becomes the job's result; a task that returns an
outcome (``RetryAfter``, ``Cancel`` ...) decides the job's status itself.
"""

from __future__ import annotations

from typing import Any

from jobqueue.errors import PermanentError
from jobqueue.jobs import Job
from jobqueue.outcomes import OUTCOME_TYPES, Complete, JobContext, Outcome
from jobqueue.tasks import get_task


def handle(job: Job, ctx: JobContext) -> Outcome | None:
    """Run the task named in the payload with its ``args``.

    Raises ``UnknownTask`` (a ``PermanentError``) listing the registered
    tasks when no task has that name.
    """
    name, args = _read_payload(job.payload)
    task = get_task(name)

    ctx.logger.info("running task", action="task_started", task=task.name, task_module=task.module)
    value = task.run(args, ctx)
    if isinstance(value, OUTCOME_TYPES):
        return value
    return Complete(result=value)


def _read_payload(payload: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(payload, dict):
        raise PermanentError(f"payload must be a JSON object, got {type(payload).__name__}")
    name = payload.get("task")
    if not isinstance(name, str) or not name.strip():
        raise PermanentError(f"payload.task must be a non-empty string, got {name!r}")
    args = payload.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise PermanentError(f"payload.args must be a JSON object, got {type(args).__name__}")
    return name, args
