"""AUTO_UNSNOOZE jobs: reopen a snoozed incident when its snooze deadline passes.

Payload: ``{"incidentId": str}``.

The incident row stays locked until the job's transaction commits, so a
snooze or un-snooze made meanwhile waits for this job and then reads its
result. The deadline is compared with the database clock.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from jobqueue import incident_jobs
from jobqueue.errors import PermanentError
from jobqueue.jobs import Job, as_utc
from jobqueue.outcomes import Cancel, Complete, JobContext, Outcome, SnoozeUntil
from jobqueue.sql import queries


def handle(job: Job, ctx: JobContext) -> Outcome | None:
    """Reopen the incident and restart its escalation at step 0, if it is still snoozed and due.

    Returns ``Cancel`` when the incident does not exist or is no longer
    SNOOZED, and ``SnoozeUntil`` the new deadline, which does not spend an
    attempt, when the deadline moved later. A SNOOZED incident with no
    deadline counts as due, because this job's own due time was the
    deadline it was scheduled for.
    """
    incident_id = _read_payload(job.payload)

    incident = ctx.conn.execute(queries["lock_incident"], {"incident_id": incident_id}).fetchone()
    if incident is None:
        ctx.logger.warning(
            "auto-unsnooze cancelled: incident not found", action="incident_not_found", incident_id=incident_id
        )
        return Cancel(f"incident {incident_id!r} not found")
    if incident["status"] != "SNOOZED":
        return Cancel("incident is no longer snoozed")
    if incident["snooze_pending"]:
        return SnoozeUntil(run_at=as_utc(incident["snoozed_until"]), reason="snooze deadline moved")

    ctx.conn.execute(queries["reopen_snoozed_incident"], {"incident_id": incident_id})
    snoozed_until = as_utc(incident["snoozed_until"])
    ctx.conn.execute(
        queries["insert_incident_event"],
        {
            "id": str(uuid.uuid4()),
            "incident_id": incident_id,
            "type": "UNSNOOZED",
            "message": "Snooze ended; the incident is open again and escalation restarts",
            "data": json.dumps({"snoozedUntil": snoozed_until.isoformat() if snoozed_until else None}),
        },
    )
    # A step scheduled before the snooze would run beside the restarted
    # escalation and notify twice, so it is cancelled first.
    ctx.conn.execute(
        queries["cancel_pending_escalations"],
        {"incident_id": incident_id, "reason": "escalation restarted after the snooze ended"},
    )
    escalation = incident_jobs.schedule_escalation(
        ctx.conn, incident_id, 0, delay_seconds=0, max_payload_bytes=ctx.settings.max_payload_bytes
    )

    ctx.logger.info(
        "incident un-snoozed", action="incident_unsnoozed", incident_id=incident_id, escalation_job_id=escalation.id
    )
    return Complete(result={"reopened": True, "escalationJobId": escalation.id})


def _read_payload(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise PermanentError(f"payload must be a JSON object, got {type(payload).__name__}")
    incident_id = payload.get("incidentId")
    if not isinstance(incident_id, str) or not incident_id.strip():
        raise PermanentError(f"payload.incidentId must be a non-empty string, got {incident_id!r}")
    return incident_id
