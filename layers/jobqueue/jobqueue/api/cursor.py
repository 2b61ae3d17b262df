"""Opaque page cursors for GET /jobs, in the format of ``jobqueue.pagination``.

A cursor is the URL-safe base64 (without padding) of the JSON array
``[createdAt, id]`` of the last job on a page. Clients pass it back
unchanged, because its content may change between versions.
"""

from __future__ import annotations

from datetime import datetime

from jobqueue import pagination
from jobqueue.api.errors import ApiError, validation_error
from jobqueue.pagination import MAX_CURSOR_LENGTH, encode_cursor

__all__ = ["MAX_CURSOR_LENGTH", "decode_cursor", "encode_cursor"]


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return the (createdAt, id) inside ``cursor``, createdAt in UTC.

    Raises a 422 ``ApiError`` for ``query.cursor`` when the cursor was not
    made by ``encode_cursor``.
    """
    try:
        return pagination.decode_cursor(cursor)
    except pagination.InvalidCursor:
        raise _invalid() from None


def _invalid() -> ApiError:
    return validation_error(
        [("query.cursor", "is not a cursor this API returned; pass nextCursor from the previous page as it is")]
    )
