"""The API's Powertools resolver: routes, body parsing, error mapping and the OpenAPI document.

Request handling, in order:

1. Powertools matches the route; static paths (``/jobs/stats``) win over
   dynamic ones (``/jobs/<id>``). No match raises ``NotFoundError``.
2. For a route with a body, ``_parse_request_body`` rejects an oversized
   body before parsing it, then anything but a JSON object.
3. Powertools validates path, query and body against the route's
   signature and raises ``RequestValidationError`` on a bad value.
4. The route runs on one pooled connection. Input the queue library
   rejects raises before its statement runs, so a rejected request
   writes nothing.
5. Any exception becomes a JSON error in ``jobqueue.api.errors``.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

import jobqueue
from jobqueue.api import dashboard_routes, incidents, jobs
from jobqueue.api.body import max_request_bytes, parse_json_object
from jobqueue.api.errors import register_error_handlers
from jobqueue.api.fetch_metadata import reject_cross_site_writes
from jobqueue.config import get_settings

OPENAPI_TITLE = "Job queue API"
OPENAPI_DESCRIPTION = (
    "Enqueue jobs into the PostgreSQL job queue, inspect, cancel and retry them, read queue statistics, "
    "and schedule the incident application's escalations, notifications and auto-unsnoozes. "
    "API Gateway authenticates every request (IAM SigV4 by default). "
    'Errors are JSON: {"error": {"status", "code", "message", "fields"}}.'
)
BULK_RESOURCE = "/jobs/bulk"


def _parse_request_body(text: str) -> dict[str, Any]:
    # "resource" is the API Gateway resource path, and template.yaml declares one per route.
    bulk = app.current_event.get("resource") == BULK_RESOURCE
    return parse_json_object(text, max_request_bytes(get_settings().max_payload_bytes, bulk=bulk))


app = APIGatewayRestResolver(
    enable_validation=True,
    json_body_deserializer=_parse_request_body,
)
app.include_router(jobs.router)
app.include_router(incidents.router)
register_error_handlers(app)
app.include_router(dashboard_routes.router)
# Runs after route matching and before each route: a browser's write from another site gets a 403.
app.use(middlewares=[reject_cross_site_writes])


@functools.cache
def openapi_document() -> str:
    """Return the OpenAPI document as JSON text, built once per cold start."""
    return app.get_openapi_json_schema(
        title=OPENAPI_TITLE,
        version=jobqueue.__version__,
        description=OPENAPI_DESCRIPTION,
    )


@app.get(
    "/openapi.json",
    summary="The OpenAPI document of this API",
    tags=["Documentation"],
    responses={200: {"description": "An OpenAPI 3.1 document.", "content": {"application/json": {"schema": {}}}}},
)
def get_openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())
