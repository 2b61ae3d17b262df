"""Opaque page cursors for job lists, shared by the API and the operator CLI.

A cursor is the URL-safe base64 (without padding) of the JSON array
``[createdAt, id]`` of the last job on a page. Clients pass it back
unchanged, because its content may change between versions. A cursor
from ``GET /jobs`` also works with ``jobqueue list --cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from jobqueue.errors import JobQueueError

# Room for a timestamp and an id of 255 characters of up to 4 bytes each in
# UTF-8, after base64. The limit also bounds the work of decoding.
MAX_CURSOR_LENGTH = 2048


class InvalidCursor(JobQueueError):
    """A page cursor that ``encode_cursor`` did not make."""

    def __init__(self) -> None:
        super().__init__("the cursor is not one a job list returned; pass nextCursor from the previous page as it is")


def encode_cursor(created_at: datetime, job_id: str) -> str:
    """Return the cursor that points after the job created at ``created_at`` with ``job_id``."""
    text = json.dumps([created_at.isoformat(), job_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return the (createdAt, id) inside ``cursor``, createdAt in UTC; raise ``InvalidCursor`` for any other text."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidCursor() from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) and part for part in value)):
        raise InvalidCursor()
    created_at_text, job_id = value
    try:
        created_at = datetime.fromisoformat(created_at_text)
    except ValueError:
        raise InvalidCursor() from None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return created_at.astimezone(UTC), job_id
