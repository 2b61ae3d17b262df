"""The one place where errors become HTTP responses.

Every error body has the same shape::

    {"error": {"status": 422, "code": "validation_failed",
               "message": "Invalid request: body.payload must be a JSON object.",
               "fields": [{"field": "body.payload", "problem": "must be a JSON object"}]}}

``fields`` is present only for validation errors. A field is named by where
it was sent (``body``, ``query`` or ``path``) and its path inside that part,
for example ``body.jobs[3].payload``. Messages never repeat the input value,
pydantic's own wording or SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from jobqueue.errors import DatabaseUnavailable, InvalidJob, InvalidTransition, JobNotFound, PayloadTooLarge
from jobqueue.logs import logger

# How long a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5
# A request with hundreds of bad fields (a bulk of 500 jobs) lists this many.
MAX_REPORTED_FIELDS = 50


class ApiError(ServiceError):
    """An HTTP error the API returns as it is: status, short code, message and optional field problems."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.message = message
        self.fields = list(fields) if fields is not None else None
        self.headers = dict(headers or {})


def validation_error(
    problems: Sequence[tuple[str, str]], status: int = 422, code: str = "validation_failed"
) -> ApiError:
    """Return the error for ``(field, problem)`` pairs; the message states the first and counts the others."""
    field, problem = problems[0]
    message = f"Invalid request: {field} {problem}."
    others = len(problems) - 1
    if others:
        message += f" {others} more problem{'s' if others > 1 else ''} listed in fields."
    reported = problems[:MAX_REPORTED_FIELDS]
    return ApiError(status, code, message, fields=[{"field": name, "problem": text} for name, text in reported])


def error_response(error: ApiError) -> Response:
    """Return the JSON response for ``error``."""
    body: dict[str, Any] = {"status": error.status_code, "code": error.code, "message": error.message}
    if error.fields is not None:
        body["fields"] = error.fields
    return Response(
        status_code=error.status_code,
        content_type=content_types.APPLICATION_JSON,
        body={"error": body},
        headers=error.headers,
    )


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map every error a route can raise to its HTTP response.

    Powertools looks handlers up along the exception's class hierarchy, so
    ``PayloadTooLarge`` gets its own 413 although it subclasses
    ``InvalidJob``, and ``Exception`` catches only what nothing else does.
    """

    @app.exception_handler(ServiceError)
    def handle_service_error(error: ServiceError) -> Response:
        if isinstance(error, ApiError):
            return error_response(error)
        # A Powertools HTTP error (BadRequestError and the like) gets the same body shape.
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
        return error_response(ApiError(error.status_code, code, error.msg))

    @app.exception_handler(RequestValidationError)
    def handle_request_validation(error: RequestValidationError) -> Response:
        return error_response(_from_request_validation(error.errors(), _content_type(app)))

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_unsupported_content_type(error: RequestUnsupportedContentType) -> Response:
        return error_response(_unsupported_media_type())

    @app.exception_handler(UnicodeDecodeError)
    def handle_undecodable_body(error: UnicodeDecodeError) -> Response:
        # A base64-encoded body (API Gateway's form for binary content) is
        # decoded as UTF-8 by Powertools before the route's parser runs.
        return error_response(ApiError(400, "invalid_json", "The request body is not UTF-8 text; send a JSON object."))

    @app.exception_handler(PayloadTooLarge)
    def handle_payload_too_large(error: PayloadTooLarge) -> Response:
        return error_response(
            validation_error([(_body_field(error.field), error.problem)], status=413, code="payload_too_large")
        )

    @app.exception_handler(InvalidJob)
    def handle_invalid_job(error: InvalidJob) -> Response:
        return error_response(validation_error([(_body_field(error.field), error.problem)]))

    @app.exception_handler(JobNotFound)
    def handle_job_not_found(error: JobNotFound) -> Response:
        message = f"No job has id {error.job_id!r}; check the id, or find the job with GET /jobs."
        return error_response(ApiError(404, "job_not_found", message))

    @app.exception_handler(InvalidTransition)
    def handle_invalid_transition(error: InvalidTransition) -> Response:
        message = f"{str(error)[:1].upper()}{str(error)[1:]}."
        return error_response(ApiError(409, "invalid_transition", message))

    @app.exception_handler(NotFoundError)
    def handle_route_not_found(error: NotFoundError) -> Response:
        message = "No route matches this method and path; GET /openapi.json lists the routes."
        return error_response(ApiError(404, "route_not_found", message))

    @app.exception_handler([DatabaseUnavailable, psycopg.OperationalError])
    def handle_database_unavailable(error: Exception) -> Response:
        # The connection's message names the host, so it goes to the log and not to the client.
        logger.warning("database unavailable", extra={"action": "database_unavailable", "error": str(error)})
        message = f"The database is unavailable; retry in {RETRY_AFTER_SECONDS} seconds."
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return error_response(ApiError(503, "database_unavailable", message, headers=headers))

    @app.exception_handler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        logger.exception("request failed", extra={"action": "internal_error"})
        return error_response(ApiError(500, "internal_error", _INTERNAL_ERROR_MESSAGE))


_INTERNAL_ERROR_MESSAGE = "The server failed to handle the request; the error is logged. Retry later."


def _safe(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(error.get("loc", ())), "type": error.get("type")} for error in errors]


def _body_field(field: str) -> str:
    # The layer names fields as the API's body does (payload, jobs[3].payload).
    return f"body.{field}"


def _content_type(app: APIGatewayRestResolver) -> str:
    return (app.current_event.headers.get("content-type") or "").strip().lower()


def _unsupported_media_type() -> ApiError:
    message = "The request body must be JSON; send it with Content-Type: application/json."
    return ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE.value, "unsupported_media_type", message)


def _from_request_validation(errors: Iterable[Mapping[str, Any]], content_type: str) -> ApiError:
    errors = list(errors)
    # Powertools also raises RequestValidationError when a route's return
    # value does not match its annotation: a server bug, not the client's.
    if any(tuple(error.get("loc", ()))[:1] == ("response",) for error in errors):
        logger.error("response failed validation", extra={"action": "internal_error", "errors": _safe(errors)})
        return ApiError(500, "internal_error", _INTERNAL_ERROR_MESSAGE)

    body_errors = [error for error in errors if tuple(error.get("loc", ()))[:1] == ("body",)]

    # Powertools parses form bodies too, but this API reads JSON only.
    if body_errors and content_type and not content_type.startswith("application/json"):
        return _unsupported_media_type()

    # A problem with the body as a whole (absent, or not an object) is malformed input, not a bad field.
    for error in body_errors:
        if tuple(error["loc"]) == ("body",) and error.get("type") != "value_error":
            if error.get("type") == "missing":
                message = "The request body is missing; send a JSON object."
            else:
                message = "The request body must be a JSON object."
            return ApiError(400, "invalid_body", message)

    problems = [(format_location(error.get("loc", ())), describe_problem(error)) for error in errors]
    return validation_error(problems or [("request", "is invalid")])


def format_location(loc: Sequence[Any]) -> str:
    """Return a pydantic error location as a field path: ``("body", "jobs", 3, "type")`` -> ``body.jobs[3].type``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "request"


def describe_problem(error: Mapping[str, Any]) -> str:
    """Return what is wrong with one field and how to fix it, from a pydantic error's type and context.

    Only the type and the constraint values are used, never pydantic's
    message or the input, so nothing the client sent is echoed back.
    """
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    fixed = _FIXED_PROBLEMS.get(kind)
    if fixed:
        return fixed
    if kind == "value_error":
        # Raised by this package's own validators, whose messages name no input.
        return str(ctx.get("error", "is invalid"))
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected', 'the documented values')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound_key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(bound_key)}"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} characters"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    return "is invalid; GET /openapi.json describes the expected value"


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}

_ISO_EXAMPLE = "an ISO 8601 date and time with Z or an offset, such as 2030-01-31T09:00:00Z"

_FIXED_PROBLEMS = {
    "missing": "is required",
    "extra_forbidden": "is not a known field; remove it (GET /openapi.json lists the fields)",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "timezone_aware": "has no time zone; end it with Z or an offset such as +02:00",
    "datetime_type": f"must be {_ISO_EXAMPLE}",
    "datetime_parsing": f"must be {_ISO_EXAMPLE}",
    "datetime_from_date_parsing": f"must be {_ISO_EXAMPLE}",
    "datetime_object_invalid": f"must be {_ISO_EXAMPLE}",
}
