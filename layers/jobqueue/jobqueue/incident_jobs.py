"""Enqueueing the incident domain's jobs, shared by the API and the handlers.

Deduplication keys tie jobs to incidents: one pending escalation per
incident and step, and one pending auto-unsnooze per incident, so a
repeated request or a retried handler never schedules the same work twice.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from jobqueue.enqueue import Enqueued, NewJob, enqueue
from jobqueue.jobs import Job
from jobqueue.operations import cancel_by_dedup_key
from jobqueue.states import JobType

CHANNELS = ("EMAIL", "SMS", "PUSH", "WEBHOOK", "SLACK")


def escalation_key(incident_id: str, step_index: int) -> str:
    return f"escalation:{incident_id}:{step_index}"


def auto_unsnooze_key(incident_id: str) -> str:
    return f"auto-unsnooze:{incident_id}"


def schedule_escalation(
    conn: psycopg.Connection, incident_id: str, step_index: int, *, delay_seconds: float = 0.0, max_payload_bytes: int
) -> Enqueued:
    """Enqueue escalation step ``step_index`` of an incident, once per incident and step."""
    return enqueue(
        conn,
        NewJob(
            JobType.ESCALATION,
            {"incidentId": incident_id, "stepIndex": step_index},
            delay_seconds=delay_seconds,
            dedup_key=escalation_key(incident_id, step_index),
        ),
        max_payload_bytes=max_payload_bytes,
    )


def schedule_notification(
    conn: psycopg.Connection,
    *,
    incident_id: str,
    user_id: str,
    channel: str,
    message: str,
    delay_seconds: float = 0.0,
    dedup_key: str | None = None,
    max_payload_bytes: int,
) -> Enqueued:
    """Enqueue one notification to one user on one channel."""
    return enqueue(
        conn,
        NewJob(
            JobType.NOTIFICATION,
            {"incidentId": incident_id, "userId": user_id, "channel": channel, "message": message},
            delay_seconds=delay_seconds,
            dedup_key=dedup_key,
        ),
        max_payload_bytes=max_payload_bytes,
    )


def schedule_auto_unsnooze(
    conn: psycopg.Connection, incident_id: str, snoozed_until: datetime, *, max_payload_bytes: int
) -> Enqueued:
    """Schedule an incident's un-snooze at ``snoozed_until``, replacing a pending one.

    Run it in a transaction so the pending job's cancellation and the new
    job commit together.
    """
    cancel_by_dedup_key(conn, auto_unsnooze_key(incident_id), reason="replaced by a new snooze deadline")
    return enqueue(
        conn,
        NewJob(
            JobType.AUTO_UNSNOOZE,
            {"incidentId": incident_id},
            run_at=snoozed_until,
            dedup_key=auto_unsnooze_key(incident_id),
        ),
        max_payload_bytes=max_payload_bytes,
    )


def cancel_auto_unsnooze(conn: psycopg.Connection, incident_id: str) -> list[Job]:
    """Cancel an incident's pending auto-unsnooze (un-snoozed by hand); return the jobs cancelled."""
    return cancel_by_dedup_key(conn, auto_unsnooze_key(incident_id), reason="incident un-snoozed by hand")
