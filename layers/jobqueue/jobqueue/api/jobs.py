"""Routes under /jobs: enqueue one or many, look up, list, cancel, retry and statistics."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from jobqueue import operations, stats
from jobqueue.api.cursor import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor
from jobqueue.api.docs import BODY_ERRORS, responses
from jobqueue.api.models import (
    ID_MAX_LENGTH,
    BulkEnqueued,
    CreateJobRequest,
    CreateJobsRequest,
    EnqueuedJob,
    JobPage,
    JobView,
    QueueStats,
)
from jobqueue.config import get_settings
from jobqueue.db import get_database
from jobqueue.enqueue import enqueue, enqueue_many
from jobqueue.jobs import Job
from jobqueue.logs import logger
from jobqueue.metrics import publish_enqueued
from jobqueue.states import JobStatus, JobType

router = Router()

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200

JobId = Annotated[str, Path(alias="id", min_length=1, max_length=ID_MAX_LENGTH, description="The job's id.")]


@router.post(
    "/jobs",
    summary="Enqueue a job",
    description="Returns 201 with the new job, or 200 with the active job that already has this dedupKey.",
    tags=["Jobs"],
    responses=responses(
        {201: ("The job was enqueued.", EnqueuedJob), 200: ("An active job already has this dedupKey.", EnqueuedJob)},
        BODY_ERRORS,
    ),
)
def create_job(request: CreateJobRequest) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    with get_database().connection() as conn:
        enqueued = enqueue(conn, request.to_new_job(), max_payload_bytes=settings.max_payload_bytes)
        job = operations.get_job(conn, enqueued.id)
    log_write("job enqueued", "enqueue", job, job_created=enqueued.created)
    return enqueued_body(job, enqueued.created)


@router.post(
    "/jobs/bulk",
    summary="Enqueue many jobs at once",
    description=(
        "Validates every job before writing any, and enqueues all of them in one transaction. "
        "Returns 201 when at least one job was created, and 200 when an active job already had every dedupKey."
    ),
    tags=["Jobs"],
    responses=responses(
        {201: ("The jobs were enqueued.", BulkEnqueued), 200: ("Every job already existed.", BulkEnqueued)},
        BODY_ERRORS,
    ),
)
def create_jobs(request: CreateJobsRequest) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    with get_database().connection() as conn:
        results = enqueue_many(
            conn, [job.to_new_job() for job in request.jobs], max_payload_bytes=settings.max_payload_bytes
        )
    created = [result.id for result in results if result.created]
    publish_enqueued(job.type for job, result in zip(request.jobs, results) if result.created)
    logger.info(
        "jobs enqueued in bulk",
        extra={"action": "enqueue_bulk", "job_ids": created, "created_count": len(created), "job_count": len(results)},
    )
    body = {
        "jobs": [{"id": result.id, "created": result.created} for result in results],
        "created": len(created),
        "existing": len(results) - len(created),
    }
    return body, 201 if created else 200


@router.get(
    "/jobs",
    summary="List jobs",
    description="Newest first, with optional filters. Pass nextCursor as cursor to read the next page.",
    tags=["Jobs"],
    responses=responses({200: ("A page of jobs.", JobPage)}, (422,)),
)
def list_jobs(
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    job_type: Annotated[JobType | None, Query(alias="type", description="Only jobs of this type.")] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX, description="Jobs per page.")] = LIST_LIMIT_DEFAULT,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="nextCursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor) if cursor else None
    with get_database().connection() as conn:
        page = operations.list_jobs(conn, status=status, job_type=job_type, limit=limit, after=after)
    next_cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    return {"jobs": [job.to_dict() for job in page.jobs], "nextCursor": next_cursor}


# A static path, so Powertools matches it before /jobs/<id> whatever the order of registration.
@router.get(
    "/jobs/stats",
    summary="Queue statistics",
    description="Counts by status and by type, and how long the oldest due job has waited.",
    tags=["Jobs"],
    responses=responses({200: ("The queue's statistics.", QueueStats)}),
)
def get_stats() -> dict[str, Any]:
    with get_database().connection() as conn:
        return stats.queue_stats(conn)


@router.get(
    "/jobs/<id>",
    summary="Get a job",
    tags=["Jobs"],
    responses=responses({200: ("The job.", JobView)}, (404, 422)),
)
def get_job(job_id: JobId) -> dict[str, Any]:
    with get_database().connection() as conn:
        return operations.get_job(conn, job_id).to_dict()


@router.post(
    "/jobs/<id>/cancel",
    summary="Cancel a pending job",
    description="Only PENDING jobs can be cancelled; a running job finishes its attempt.",
    tags=["Jobs"],
    responses=responses({200: ("The cancelled job.", JobView)}, (404, 409, 422)),
)
def cancel_job(job_id: JobId) -> dict[str, Any]:
    with get_database().connection() as conn:
        job = operations.cancel_job(conn, job_id)
    log_write("job cancelled", "cancel", job)
    return job.to_dict()


@router.post(
    "/jobs/<id>/retry",
    summary="Retry a failed or cancelled job",
    description="Makes the job PENDING and due now, with its attempts reset; its error history is kept.",
    tags=["Jobs"],
    responses=responses({200: ("The job, pending again.", JobView)}, (404, 409, 422)),
)
def retry_job(job_id: JobId) -> dict[str, Any]:
    with get_database().connection() as conn:
        job = operations.retry_job(conn, job_id)
    log_write("job retried", "retry", job)
    return job.to_dict()


def enqueued_body(job: Job, created: bool) -> tuple[dict[str, Any], int]:
    """Return the body and status of an enqueue: 201 for a new job, 200 for the existing one.

    A new job is also counted in the ``JobsEnqueued`` metric of its type.
    """
    if created:
        publish_enqueued([job.type])
    return {"job": job.to_dict(), "created": created}, 201 if created else 200


def log_write(message: str, action: str, job: Job, **fields: Any) -> None:
    """Log one change to one job, without its payload.

    Field names must not clash with ``logging.LogRecord`` attributes
    (``created``, ``message``...), which ``logging`` rejects.
    """
    logger.info(
        message,
        extra={"action": action, "job_id": job.id, "job_type": job.type.value, "status": job.status.value, **fields},
    )
