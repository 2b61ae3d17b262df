"""OpenAPI response descriptions shared by the routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobqueue.api.models import ErrorResponse

_ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, or not a JSON object.",
    404: "No job has this id, or no route matches.",
    409: "The job's status does not allow this change; the message names the status.",
    413: "The payload's JSON text, or the whole body, is larger than the limit.",
    415: "The body is not sent as application/json.",
    422: "A field is missing or invalid; fields lists each problem.",
    500: "An unexpected error; it is logged.",
    503: "The database is unavailable; retry after the Retry-After header's seconds.",
}

# Every route can fail with these.
_ALWAYS = (500, 503)
# Every route with a JSON body can also fail with these.
BODY_ERRORS = (400, 413, 415, 422)


def responses(success: dict[int, tuple[str, type[BaseModel]]], errors: tuple[int, ...] = ()) -> dict[int, Any]:
    """Return a route's OpenAPI responses: each success status with its model, then the error statuses."""
    described: dict[int, Any] = {
        status: {"description": text, "content": {"application/json": {"model": model}}}
        for status, (text, model) in success.items()
    }
    for status in sorted({*errors, *_ALWAYS}):
        described[status] = {
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    if 503 in described:
        described[503]["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return described
