"""Job types, job statuses and the moves allowed between statuses.

The enums mirror the database enums ``"JobType"`` and ``"JobStatus"``.
``TRANSITIONS`` is the one list of allowed moves; each SQL statement that
changes a status names the status it expects in its WHERE clause.

::

    PENDING ──claim──▶ PROCESSING ──success──▶ COMPLETED
       │  ▲                │ │ │
       │  └─retry, snooze, │ │ └──handler cancels──▶ CANCELLED
       │    hand back,     │ └──final failure, lease expiry
       │    lease expiry───┘        on the last attempt──▶ FAILED
       └──cancel──▶ CANCELLED
    FAILED, CANCELLED ──manual retry──▶ PENDING
"""

from __future__ import annotations

import enum


class JobType(enum.StrEnum):
    ESCALATION = "ESCALATION"
    NOTIFICATION = "NOTIFICATION"
    AUTO_UNSNOOZE = "AUTO_UNSNOOZE"
    SCHEDULED_TASK = "SCHEDULED_TASK"


class JobStatus(enum.StrEnum):
    PENDING = "PENDING"
    """Waiting for its ``scheduledAt``; the processor claims it when due."""
    PROCESSING = "PROCESSING"
    """Claimed under a lease; lease rescue returns it if the processor dies."""
    COMPLETED = "COMPLETED"
    """Finished; cleanup deletes it after the retention period."""
    FAILED = "FAILED"
    """Out of attempts or failed permanently; kept until retention ends."""
    CANCELLED = "CANCELLED"
    """Cancelled before running, or by its handler; deleted like COMPLETED."""


# (from, to) -> the causes of that move.
TRANSITIONS: dict[tuple[JobStatus, JobStatus], tuple[str, ...]] = {
    (JobStatus.PENDING, JobStatus.PROCESSING): ("claim",),
    (JobStatus.PENDING, JobStatus.CANCELLED): ("cancel",),
    (JobStatus.PROCESSING, JobStatus.COMPLETED): ("success",),
    (JobStatus.PROCESSING, JobStatus.PENDING): ("retry", "snooze", "hand back", "lease expiry"),
    (JobStatus.PROCESSING, JobStatus.FAILED): ("final failure", "lease expiry"),
    (JobStatus.PROCESSING, JobStatus.CANCELLED): ("handler cancels",),
    (JobStatus.FAILED, JobStatus.PENDING): ("manual retry",),
    (JobStatus.CANCELLED, JobStatus.PENDING): ("manual retry",),
}

FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})


def sources_of(target: JobStatus, cause: str) -> tuple[JobStatus, ...]:
    """Return the statuses from which ``cause`` may move a job to ``target``."""
    return tuple(
        source
        for (source, to), causes in TRANSITIONS.items()
        if to is target and cause in causes
    )
