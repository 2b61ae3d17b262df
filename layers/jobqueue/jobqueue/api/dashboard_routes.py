"""Routes under /dashboard: the read-only HTML dashboard and its two static files.

The pages only read. Their cancel and retry buttons post to the API's own
routes (``POST /jobs/{id}/cancel`` and ``/retry``), so API Gateway applies
the same authentication to them as to every other call. The routes stay out
of the OpenAPI document, which describes the JSON API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from jobqueue import operations, stats
from jobqueue.api import dashboard
from jobqueue.api.cursor import decode_cursor, encode_cursor
from jobqueue.api.errors import ApiError
from jobqueue.db import get_database
from jobqueue.errors import JobNotFound

router = Router()


@router.get("/dashboard", include_in_schema=False)
def get_dashboard(
    status: Annotated[str | None, Query()] = None,
    job_type: Annotated[str | None, Query(alias="type")] = None,
    limit: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Response[str]:
    filters = dashboard.Filters.parse(status, job_type, limit, cursor)
    after = _decode_page_cursor(filters.cursor)
    with get_database().connection() as conn:
        queue_stats = stats.queue_stats(conn)
        page = operations.list_jobs(
            conn, status=filters.status, job_type=filters.job_type, limit=filters.limit, after=after
        )
    next_cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    body = dashboard.overview_page(
        root=_root(), stats=queue_stats, jobs=page.jobs, filters=filters, next_cursor=next_cursor
    )
    return dashboard.html_response(body)


@router.get("/dashboard/jobs/<id>", include_in_schema=False)
def get_dashboard_job(
    job_id: Annotated[str, Path(alias="id")],
    notice: Annotated[str | None, Query()] = None,
) -> Response[str]:
    try:
        with get_database().connection() as conn:
            job = operations.get_job(conn, job_id)
    except JobNotFound:
        raise dashboard.PageError(404, "Job not found", f"No job has id {job_id!r}.") from None
    return dashboard.html_response(dashboard.job_page(root=_root(), job=job, notice=notice))


@router.get("/dashboard/assets/<name>", include_in_schema=False)
def get_dashboard_asset(name: Annotated[str, Path()]) -> Response[str]:
    response = dashboard.asset_response(name)
    if response is None:
        raise dashboard.PageError(404, "Not found", f"The dashboard has no file called {name!r}.")
    return response


@router.exception_handler(dashboard.PageError)
def handle_page_error(error: dashboard.PageError) -> Response[str]:
    body = dashboard.error_page(root=_root(), title=error.title, message=error.message)
    return dashboard.html_response(body, status=error.status)


def _root() -> str:
    # "resource" is the route's path template in template.yaml, such as /dashboard/jobs/{id}.
    return dashboard.root_prefix(router.current_event.resource or router.current_event.path)


def _decode_page_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except ApiError:
        raise dashboard.PageError(
            400, "Invalid page link", "The cursor in this link is not one the dashboard made; start from the first page."
        ) from None
