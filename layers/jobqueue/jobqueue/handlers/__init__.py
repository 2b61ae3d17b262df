"""The registry from job type to handler: one module per type.

Each module defines ``handle(job, ctx) -> Outcome | None`` (see
``jobqueue.outcomes``). Modules are imported on first use, so a function
that never runs NOTIFICATION jobs never loads the delivery clients.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from jobqueue.states import JobType

HANDLER_MODULES: dict[JobType, str] = {
    JobType.ESCALATION: "jobqueue.handlers.escalation",
    JobType.NOTIFICATION: "jobqueue.handlers.notification",
    JobType.AUTO_UNSNOOZE: "jobqueue.handlers.auto_unsnooze",
    JobType.SCHEDULED_TASK: "jobqueue.handlers.scheduled_task",
}


def get_handler(job_type: JobType) -> Callable:
    """Return the ``handle`` function for ``job_type``."""
    module = importlib.import_module(HANDLER_MODULES[JobType(job_type)])
    return module.handle
