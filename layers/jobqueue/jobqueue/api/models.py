"""Request and response models of the REST API.

Request models reject unknown fields and values of the wrong JSON type
(no "5" for 5), so a typo fails loudly instead of being ignored. Their
limits are the queue library's own, and ``jobqueue.enqueue.validate``
still checks the payload's size and characters before anything is
written. Response models only describe the responses in the OpenAPI
document, because routes return plain dicts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from jobqueue.config import MAX_ATTEMPTS
from jobqueue.enqueue import DEDUP_KEY_MAX_LENGTH, MAX_ATTEMPTS_LIMIT, MAX_DELAY_SECONDS, PRIORITY_LIMIT, NewJob
from jobqueue.incident_jobs import CHANNELS
from jobqueue.states import JobStatus, JobType

ID_MAX_LENGTH = 255
BULK_MAX_JOBS = 500
MESSAGE_MAX_LENGTH = 2000
# "Incident"."currentEscalationStep" is a PostgreSQL integer.
STEP_INDEX_MAX = 2**31 - 1


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _require_string(value: Any) -> Any:
    # pydantic would also read a number as a Unix time, but this API takes ISO 8601 text only.
    if not isinstance(value, str):
        raise ValueError("must be a string in ISO 8601 form with Z or an offset, such as 2030-01-31T09:00:00Z")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH), AfterValidator(_check_text)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_require_string)]
DelaySeconds = Annotated[
    float,
    Field(ge=0, le=MAX_DELAY_SECONDS, strict=True, description="Seconds from now until the job is due."),
]
DedupKey = Annotated[str, Field(min_length=1, max_length=DEDUP_KEY_MAX_LENGTH), AfterValidator(_check_text)]
Message = Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX_LENGTH), AfterValidator(_check_text)]
Channel = Literal[CHANNELS]


def _title(name: str, field: Any) -> str:
    # The OpenAPI document shows the JSON name (scheduledAt), not a title made from it.
    return to_camel(name)


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, field_title_generator=_title, extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, field_title_generator=_title, populate_by_name=True)


class CreateJobRequest(_Request):
    """One job to enqueue. Give scheduledAt or delaySeconds, or neither to run it now."""

    type: JobType = Field(description="The job type, which selects its handler.")
    payload: dict[str, Any] = Field(description="The handler's input, a JSON object.")
    scheduled_at: Timestamp | None = Field(
        None, description="When the job is due, ISO 8601 with Z or an offset. Excludes delaySeconds."
    )
    delay_seconds: DelaySeconds | None = None
    max_attempts: int = Field(MAX_ATTEMPTS, ge=1, le=MAX_ATTEMPTS_LIMIT, strict=True)
    priority: int = Field(
        0, ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT, strict=True, description="Higher runs first among due jobs."
    )
    dedup_key: DedupKey | None = Field(
        None,
        description="While a PENDING or PROCESSING job has this key, enqueueing it again returns that job.",
    )

    @field_validator("delay_seconds")
    @classmethod
    def _one_schedule(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("scheduled_at") is not None:
            raise ValueError("cannot be combined with scheduledAt; send one of them")
        return value

    def to_new_job(self) -> NewJob:
        """Return the job for ``jobqueue.enqueue``."""
        return NewJob(
            type=self.type,
            payload=self.payload,
            run_at=self.scheduled_at,
            delay_seconds=self.delay_seconds or 0.0,
            max_attempts=self.max_attempts,
            priority=self.priority,
            dedup_key=self.dedup_key,
        )


class CreateJobsRequest(_Request):
    """Jobs to enqueue together: all of them, or none when one is invalid."""

    jobs: list[CreateJobRequest] = Field(min_length=1, max_length=BULK_MAX_JOBS)


class EscalationRequest(_Request):
    """An escalation step of an incident to run, once per incident and step."""

    incident_id: Identifier
    step_index: int = Field(ge=0, le=STEP_INDEX_MAX, strict=True, description="The policy step, from 0.")
    delay_seconds: DelaySeconds = 0.0


class NotificationRequest(_Request):
    """A message to one user on one channel about an incident."""

    incident_id: Identifier
    user_id: Identifier
    channel: Channel
    message: Message
    delay_seconds: DelaySeconds = 0.0


class AutoUnsnoozeRequest(_Request):
    """An incident's snooze deadline, which replaces the incident's pending auto-unsnooze."""

    incident_id: Identifier
    snoozed_until: Timestamp = Field(description="When to reopen the incident, ISO 8601 with Z or an offset.")


class JobView(_Response):
    """A job as the API returns it, with times in UTC."""

    id: str
    type: JobType
    status: JobStatus
    payload: dict[str, Any]
    scheduled_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    attempts: int
    max_attempts: int
    priority: int
    dedup_key: str | None
    error: str | None = Field(description="The last attempt's error.")
    error_history: list[dict[str, Any]] = Field(description="Every failed attempt's error, oldest first.")
    result: Any = Field(None, description="What the handler returned.")
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class EnqueuedJob(_Response):
    """An enqueued job. created is false when an active job with the same deduplication key was returned."""

    job: JobView
    created: bool


class BulkItem(_Response):
    id: str
    created: bool


class BulkEnqueued(_Response):
    """One entry per requested job, in request order, and the counts of new and existing jobs."""

    jobs: list[BulkItem]
    created: int
    existing: int


class JobPage(_Response):
    """Jobs, newest first. Pass nextCursor as cursor to read the next page, which is null after the last page."""

    jobs: list[JobView]
    next_cursor: str | None


class StatusCounts(_Response):
    pending: int
    processing: int
    completed: int
    failed: int
    cancelled: int


class QueueStats(StatusCounts):
    """Job counts by status, by type and status, and the queue's lag."""

    total: int
    by_type: dict[str, StatusCounts]
    oldest_due_age_seconds: float | None = Field(
        description="How long the oldest due PENDING job has waited past its scheduledAt; null when none is due."
    )


class CancelledJobs(_Response):
    cancelled: list[str] = Field(description="Ids of the jobs cancelled; empty when none was pending.")


class FieldProblem(_Response):
    field: str = Field(description="Where the value was sent and its path, such as body.jobs[3].payload.")
    problem: str


class ErrorDetail(_Response):
    status: int
    code: str = Field(description="A short snake_case code, such as validation_failed or job_not_found.")
    message: str
    fields: list[FieldProblem] | None = Field(None, description="Present for validation errors only.")


class ErrorResponse(_Response):
    error: ErrorDetail
