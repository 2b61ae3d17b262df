"""Routes for the incident application: escalations, notifications and auto-unsnooze."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from jobqueue import incident_jobs, operations
from jobqueue.api.docs import BODY_ERRORS, responses
from jobqueue.api.jobs import enqueued_body, log_write
from jobqueue.api.models import (
    ID_MAX_LENGTH,
    AutoUnsnoozeRequest,
    CancelledJobs,
    EnqueuedJob,
    EscalationRequest,
    NotificationRequest,
)
from jobqueue.config import get_settings
from jobqueue.db import get_database
from jobqueue.logs import logger

router = Router()

IncidentId = Annotated[
    str, Path(alias="incidentId", min_length=1, max_length=ID_MAX_LENGTH, description="The incident's id.")
]


@router.post(
    "/escalations",
    summary="Schedule an escalation step",
    description="At most one active job per incident and step: a repeated request returns 200 with that job.",
    tags=["Incidents"],
    responses=responses(
        {201: ("The escalation was scheduled.", EnqueuedJob), 200: ("It was already scheduled.", EnqueuedJob)},
        BODY_ERRORS,
    ),
)
def create_escalation(request: EscalationRequest) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    with get_database().connection() as conn:
        enqueued = incident_jobs.schedule_escalation(
            conn,
            request.incident_id,
            request.step_index,
            delay_seconds=request.delay_seconds,
            max_payload_bytes=settings.max_payload_bytes,
        )
        job = operations.get_job(conn, enqueued.id)
    log_write("escalation scheduled", "enqueue", job, job_created=enqueued.created)
    return enqueued_body(job, enqueued.created)


@router.post(
    "/notifications",
    summary="Send a notification",
    tags=["Incidents"],
    responses=responses({201: ("The notification was enqueued.", EnqueuedJob)}, BODY_ERRORS),
)
def create_notification(request: NotificationRequest) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    with get_database().connection() as conn:
        enqueued = incident_jobs.schedule_notification(
            conn,
            incident_id=request.incident_id,
            user_id=request.user_id,
            channel=request.channel,
            message=request.message,
            delay_seconds=request.delay_seconds,
            max_payload_bytes=settings.max_payload_bytes,
        )
        job = operations.get_job(conn, enqueued.id)
    log_write("notification enqueued", "enqueue", job, job_created=enqueued.created)
    return enqueued_body(job, enqueued.created)


@router.post(
    "/auto-unsnooze",
    summary="Schedule an incident's auto-unsnooze",
    description=(
        "Cancels the incident's pending auto-unsnooze, if any, and schedules a new one at snoozedUntil, "
        "in one transaction. Returns 200 with the running job instead when one is being processed."
    ),
    tags=["Incidents"],
    responses=responses(
        {201: ("The auto-unsnooze was scheduled.", EnqueuedJob), 200: ("One is running now.", EnqueuedJob)},
        BODY_ERRORS,
    ),
)
def schedule_auto_unsnooze(request: AutoUnsnoozeRequest) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    with get_database().connection() as conn:
        with conn.transaction():
            enqueued = incident_jobs.schedule_auto_unsnooze(
                conn, request.incident_id, request.snoozed_until, max_payload_bytes=settings.max_payload_bytes
            )
        job = operations.get_job(conn, enqueued.id)
    log_write("auto-unsnooze scheduled", "enqueue", job, job_created=enqueued.created)
    return enqueued_body(job, enqueued.created)


@router.delete(
    "/incidents/<incidentId>/auto-unsnooze",
    summary="Cancel an incident's pending auto-unsnooze",
    description="For an incident un-snoozed by hand. Returns 200 with an empty list when none was pending.",
    tags=["Incidents"],
    responses=responses({200: ("The cancelled jobs.", CancelledJobs)}, (422,)),
)
def cancel_auto_unsnooze(incident_id: IncidentId) -> dict[str, Any]:
    with get_database().connection() as conn:
        cancelled = incident_jobs.cancel_auto_unsnooze(conn, incident_id)
    for job in cancelled:
        log_write("auto-unsnooze cancelled", "cancel", job)
    if not cancelled:
        logger.info("no pending auto-unsnooze to cancel", extra={"action": "cancel", "incident_id": incident_id})
    return {"cancelled": [job.id for job in cancelled]}
