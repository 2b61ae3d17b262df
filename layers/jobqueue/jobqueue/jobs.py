"""The job record as the queue reads it from ``"BackgroundJob"``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobqueue.states import JobStatus, JobType


def as_utc(value: datetime | None) -> datetime | None:
    """Mark a naive UTC timestamp read from a timestamp(3) column as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Job:
    id: str
    type: JobType
    status: JobStatus
    payload: dict[str, Any]
    scheduled_at: datetime
    attempts: int
    max_attempts: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    priority: int = 0
    dedup_key: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    error_history: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """Build a job from a ``"BackgroundJob"`` row fetched with a dict row factory."""
        return cls(
            id=row["id"],
            type=JobType(row["type"]),
            status=JobStatus(row["status"]),
            payload=row["payload"],
            scheduled_at=as_utc(row["scheduledAt"]),
            attempts=row["attempts"],
            max_attempts=row["maxAttempts"],
            created_at=as_utc(row.get("createdAt")),
            updated_at=as_utc(row.get("updatedAt")),
            started_at=as_utc(row.get("startedAt")),
            completed_at=as_utc(row.get("completedAt")),
            failed_at=as_utc(row.get("failedAt")),
            error=row.get("error"),
            priority=row.get("priority", 0),
            dedup_key=row.get("dedupKey"),
            lease_owner=row.get("leaseOwner"),
            lease_expires_at=as_utc(row.get("leaseExpiresAt")),
            error_history=row.get("errorHistory") or [],
            result=row.get("result"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON-ready data with the API's camelCase keys."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat().replace("+00:00", "Z")

        return {
            "id": self.id,
            "type": self.type.value,
            "status": self.status.value,
            "payload": self.payload,
            "scheduledAt": iso(self.scheduled_at),
            "startedAt": iso(self.started_at),
            "completedAt": iso(self.completed_at),
            "failedAt": iso(self.failed_at),
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "priority": self.priority,
            "dedupKey": self.dedup_key,
            "error": self.error,
            "errorHistory": self.error_history,
            "result": self.result,
            "leaseOwner": self.lease_owner,
            "leaseExpiresAt": iso(self.lease_expires_at),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
