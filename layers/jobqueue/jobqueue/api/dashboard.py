"""HTML pages of the operators' dashboard, rendered on the server.

Every value from the database or the request goes through ``_text`` (or
``_attribute_url`` for links), which escapes it for HTML, so a payload such
as ``<script>`` shows as text. The pages load one stylesheet and one script,
both served by the API function (``ASSETS``), and the
``Content-Security-Policy`` header forbids everything else: other origins,
inline scripts, inline styles and inline event handlers.

Links are relative to the page's own URL, computed from the API Gateway
resource path (``root_prefix``). They therefore work under a stage prefix
(``/v1/dashboard``), under a custom domain's base path and behind a proxy
that serves the API under another prefix, none of which the function can
see reliably.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools.event_handler import Response

from jobqueue.durations import format_duration
from jobqueue.jobs import Job
from jobqueue.states import JobStatus, JobType, sources_of

# 'self' is the API's own origin, where the stylesheet, the script and the
# cancel and retry routes live. img-src allows the empty data: icon, which
# keeps the browser from requesting /favicon.ico, a route the API lacks.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Pages show payloads, which may be sensitive, so no cache keeps a copy.
    "Cache-Control": "no-store",
}
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

# File name under jobqueue/api/static -> Content-Type.
ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# The job list cuts longer errors, and the job's page shows them whole.
LIST_ERROR_CHARS = 140

NOTICES = {
    "cancelled": "The job was cancelled.",
    "retried": "The job is PENDING again and due now.",
}

CANCELLABLE = frozenset(sources_of(JobStatus.CANCELLED, "cancel"))
RETRYABLE = frozenset(sources_of(JobStatus.PENDING, "manual retry"))

_PAGE = string.Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${root}dashboard/assets/dashboard.css">
<script src="${root}dashboard/assets/dashboard.js" defer></script>
</head>
<body>
<header><a href="${root}dashboard">Job queue</a></header>
<main>
$content
</main>
</body>
</html>
"""
)


class PageError(Exception):
    """A request that gets an HTML error page, such as an invalid filter or an unknown job."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Filters:
    """The job list's filters and page, as read from the dashboard's query string."""

    status: JobStatus | None = None
    job_type: JobType | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    @classmethod
    def parse(cls, status: str | None, job_type: str | None, limit: str | None, cursor: str | None) -> Filters:
        """Read the query parameters, where an empty value means no filter.

        Raises ``PageError`` (400) naming the parameter and its allowed values.
        """
        return cls(
            status=_choice("status", status, JobStatus),
            job_type=_choice("type", job_type, JobType),
            limit=_page_size(limit),
            cursor=cursor or None,
        )

    def query(self, **changes: Any) -> str:
        """Return the query string (with its "?") of these filters after ``changes``."""
        changed = replace(self, **changes)
        params = {
            "status": changed.status.value if changed.status else None,
            "type": changed.job_type.value if changed.job_type else None,
            "limit": str(changed.limit) if changed.limit != DEFAULT_PAGE_SIZE else None,
            "cursor": changed.cursor,
        }
        text = urlencode({name: value for name, value in params.items() if value is not None})
        return f"?{text}" if text else ""


def _choice(name: str, value: str | None, enum: type[JobStatus] | type[JobType]) -> Any:
    if not value:
        return None
    try:
        return enum(value.upper())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise PageError(400, "Invalid filter", f"{name} {value!r} is not one of {allowed}.") from None


def _page_size(value: str | None) -> int:
    if not value:
        return DEFAULT_PAGE_SIZE
    if value.isdigit() and int(value) in PAGE_SIZES:
        return int(value)
    allowed = ", ".join(str(size) for size in PAGE_SIZES)
    raise PageError(400, "Invalid filter", f"limit {value!r} is not one of {allowed}.")


def root_prefix(resource_path: str) -> str:
    """Return the relative URL from a page to the API's root: "./" for /dashboard, "../../" for /dashboard/jobs/{id}."""
    depth = resource_path.strip("/").count("/")
    return "../" * depth if depth else "./"


def html_response(body: str, status: int = 200) -> Response:
    """Return an HTML page with the dashboard's security headers."""
    return Response(status_code=status, content_type=HTML_CONTENT_TYPE, body=body, headers=dict(PAGE_HEADERS))


def asset_response(name: str) -> Response | None:
    """Return the stylesheet or script called ``name``, or None when there is no such asset."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    body = _asset_text(name)
    # no-cache: the browser checks for a newer file on every page, so a deploy shows at once.
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


@functools.cache
def _asset_text(name: str) -> str:
    # Read once per cold start; the files change only with a deploy.
    return resources.files("jobqueue.api").joinpath("static", name).read_text(encoding="utf-8")


# -- Pages --------------------------------------------------------------------


def overview_page(
    *, root: str, stats: Mapping[str, Any], jobs: list[Job], filters: Filters, next_cursor: str | None
) -> str:
    """Render the queue's statistics and one page of jobs."""
    content = "\n".join(
        [
            "<h1>Job queue</h1>",
            f'<p class="muted">Updated {_time(datetime.now(UTC))}. <a href="{_attribute_url(root, "dashboard", filters.query())}">Refresh</a></p>',
            _stats_html(root, stats),
            '<h2 id="jobs">Jobs</h2>',
            _filters_html(root, filters),
            _jobs_table_html(root, jobs),
            _pager_html(root, filters, next_cursor),
        ]
    )
    return _PAGE.substitute(title="Job queue", root=root, content=content)


def job_page(*, root: str, job: Job, notice: str | None = None) -> str:
    """Render one job: its fields, payload, result, last error, error history and the allowed actions."""
    parts = [
        f'<p><a href="{_attribute_url(root, "dashboard")}">All jobs</a></p>',
        f"<h1>Job <code>{_text(job.id)}</code></h1>",
    ]
    if notice in NOTICES:
        parts.append(f'<p class="notice" role="status">{_text(NOTICES[notice])}</p>')
    parts.append('<p id="action-problem" class="problem" role="alert"></p>')
    parts.append(_actions_html(root, job))
    parts.append(_fields_html(job))
    parts.append("<h2>Payload</h2>")
    parts.append(f"<pre>{_json(job.payload)}</pre>")
    if job.result is not None:
        parts.append("<h2>Result</h2>")
        parts.append(f"<pre>{_json(job.result)}</pre>")
    if job.error:
        parts.append("<h2>Last error</h2>")
        parts.append(f"<pre>{_text(job.error)}</pre>")
    parts.append("<h2>Error history</h2>")
    parts.append(_history_html(job.error_history))
    return _PAGE.substitute(title=f"Job {_text(job.id)} - Job queue", root=root, content="\n".join(parts))


def error_page(*, root: str, title: str, message: str) -> str:
    """Render an error with a link back to the job list."""
    content = (
        f"<h1>{_text(title)}</h1>\n<p class=\"problem\">{_text(message)}</p>\n"
        f'<p><a href="{_attribute_url(root, "dashboard")}">Back to all jobs</a></p>'
    )
    return _PAGE.substitute(title=f"{_text(title)} - Job queue", root=root, content=content)


# -- Parts of the overview ----------------------------------------------------


def _stats_html(root: str, stats: Mapping[str, Any]) -> str:
    tiles = [
        f'<li><a href="{_attribute_url(root, "dashboard")}"><span class="label">All</span>'
        f'<span class="value">{_count(stats["total"])}</span></a></li>'
    ]
    for status in JobStatus:
        url = _attribute_url(root, "dashboard", Filters(status=status).query())
        tiles.append(
            f'<li><a href="{url}"><span class="label">{_text(status.value)}</span>'
            f'<span class="value">{_count(stats[status.value.lower()])}</span></a></li>'
        )

    age = stats.get("oldestDueAgeSeconds")
    lag = (
        "No job is due now."
        if age is None
        else f"The oldest due job has waited {_text(_duration(age))} past its scheduled time."
    )

    header = "".join(f'<th class="number" scope="col">{_text(status.value)}</th>' for status in JobStatus)
    rows = []
    for job_type, counts in stats["byType"].items():
        cells = []
        for status in JobStatus:
            count = counts.get(status.value.lower(), 0)
            label = _text(status.value)
            # A type the database has but this code does not know cannot be a filter, so it gets no link.
            if count and job_type in JobType.__members__:
                query = Filters(status=status, job_type=JobType(job_type)).query()
                url = _attribute_url(root, "dashboard", query)
                cells.append(f'<td class="number" data-label="{label}"><a href="{url}">{_count(count)}</a></td>')
            else:
                muted = "" if count else " muted"
                cells.append(f'<td class="number{muted}" data-label="{label}">{_count(count)}</td>')
        rows.append(f'<tr><th scope="row">{_text(job_type)}</th>{"".join(cells)}</tr>')

    return "\n".join(
        [
            '<h2 id="statistics">Statistics</h2>',
            f'<ul class="counts">{"".join(tiles)}</ul>',
            f"<p>{lag}</p>",
            '<div class="scroll"><table class="by-type">',
            f'<thead><tr><th scope="col">Type</th>{header}</tr></thead>',
            f"<tbody>{''.join(rows)}</tbody>",
            "</table></div>",
        ]
    )


def _filters_html(root: str, filters: Filters) -> str:
    def options(values: list[str], selected: str | None, any_label: str) -> str:
        items = [f'<option value=""{" selected" if selected is None else ""}>{_text(any_label)}</option>']
        items.extend(
            f'<option value="{_text(value)}"{" selected" if value == selected else ""}>{_text(value)}</option>'
            for value in values
        )
        return "".join(items)

    statuses = options([status.value for status in JobStatus], filters.status and filters.status.value, "any")
    types = options([job_type.value for job_type in JobType], filters.job_type and filters.job_type.value, "any")
    sizes = "".join(
        f'<option value="{size}"{" selected" if size == filters.limit else ""}>{size}</option>' for size in PAGE_SIZES
    )
    # A GET form: the filters end up in the URL, so a filtered list can be bookmarked and shared.
    return (
        f'<form class="filters" method="get" action="{_attribute_url(root, "dashboard")}">'
        f'<label>Status <select name="status">{statuses}</select></label>'
        f'<label>Type <select name="type">{types}</select></label>'
        f'<label>Per page <select name="limit">{sizes}</select></label>'
        '<button type="submit">Filter</button>'
        "</form>"
    )


def _jobs_table_html(root: str, jobs: list[Job]) -> str:
    if not jobs:
        return '<p class="muted">No jobs match these filters.</p>'

    rows = []
    for job in jobs:
        url = _attribute_url(root, f"dashboard/jobs/{quote(job.id, safe='')}")
        error = job.error or ""
        if len(error) > LIST_ERROR_CHARS:
            error = error[: LIST_ERROR_CHARS - 1] + "\u2026"
        rows.append(
            "<tr>"
            f'<td class="id" data-label="Job"><a href="{url}"><code>{_text(job.id)}</code></a></td>'
            f'<td data-label="Type">{_text(job.type.value)}</td>'
            f'<td data-label="Status">{_status(job.status)}</td>'
            f'<td data-label="Scheduled">{_time(job.scheduled_at)}</td>'
            f'<td class="number" data-label="Attempts">{job.attempts} of {job.max_attempts}</td>'
            f'<td data-label="Created">{_time(job.created_at)}</td>'
            f'<td class="error" data-label="Last error">{_text(error)}</td>'
            "</tr>"
        )
    header = "".join(
        f'<th scope="col" class="number">{name}</th>' if name == "Attempts" else f'<th scope="col">{name}</th>'
        for name in ("Job", "Type", "Status", "Scheduled", "Attempts", "Created", "Last error")
    )
    return (
        f'<table class="jobs"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _pager_html(root: str, filters: Filters, next_cursor: str | None) -> str:
    # Keyset pages only go forward; the browser's Back button returns to the previous page.
    links = []
    if filters.cursor:
        links.append(f'<a class="button" href="{_attribute_url(root, "dashboard", filters.query(cursor=None))}">First page</a>')
    if next_cursor:
        links.append(
            f'<a class="button" rel="next" href="{_attribute_url(root, "dashboard", filters.query(cursor=next_cursor))}">Next page</a>'
        )
    return f'<nav class="pager" aria-label="Pages">{"".join(links)}</nav>' if links else ""


# -- Parts of the job page ----------------------------------------------------


def _actions_html(root: str, job: Job) -> str:
    job_path = f"jobs/{quote(job.id, safe='')}"
    forms = []
    if job.status in CANCELLABLE:
        forms.append(_action_form(root, f"{job_path}/cancel", "Cancel job", "cancelled", danger=True, job_id=job.id))
    if job.status in RETRYABLE:
        forms.append(_action_form(root, f"{job_path}/retry", "Retry job", "retried", danger=False, job_id=job.id))
    if not forms:
        return f'<p class="muted">A {_text(job.status.value)} job can be neither cancelled nor retried.</p>'
    return f'<div class="actions">{"".join(forms)}</div>'


def _action_form(root: str, path: str, label: str, notice: str, *, danger: bool, job_id: str) -> str:
    # The form posts to the API's own route. dashboard.js sends it with fetch
    # instead and, on success, loads data-next: this page with a notice.
    question = f"{label} {job_id}?"
    button_class = ' class="danger"' if danger else ""
    return (
        f'<form method="post" action="{_attribute_url(root, path)}" data-api-action '
        f'data-confirm="{_text(question)}" data-next="?notice={notice}">'
        f'<button type="submit"{button_class}>{_text(label)}</button></form>'
    )


def _fields_html(job: Job) -> str:
    fields = [
        ("Status", _status(job.status)),
        ("Type", _text(job.type.value)),
        ("Attempts", f"{job.attempts} of {job.max_attempts}"),
        ("Priority", _text(job.priority)),
        ("Dedup key", _text(job.dedup_key) if job.dedup_key else _none()),
        ("Scheduled", _time(job.scheduled_at)),
        ("Started", _time(job.started_at)),
        ("Completed", _time(job.completed_at)),
        ("Failed", _time(job.failed_at)),
        ("Lease owner", _text(job.lease_owner) if job.lease_owner else _none()),
        ("Lease expires", _time(job.lease_expires_at)),
        ("Created", _time(job.created_at)),
        ("Updated", _time(job.updated_at)),
    ]
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields)
    return f'<dl class="fields">{items}</dl>'


def _history_html(history: list[Any]) -> str:
    if not history:
        return '<p class="muted">No failed attempts.</p>'
    items = []
    for entry in history:
        if not isinstance(entry, dict):
            # Rows written by other tools may hold anything; show it as JSON.
            items.append(f"<li><pre>{_json(entry)}</pre></li>")
            continue
        known = {"attempt", "at", "kind", "error"}
        heading = " \u00b7 ".join(
            part
            for part in (
                f"Attempt {_text(entry['attempt'])}" if "attempt" in entry else "",
                _history_time(entry["at"]) if "at" in entry else "",
                _text(entry["kind"]) if entry.get("kind") else "",
            )
            if part
        )
        others = {key: value for key, value in entry.items() if key not in known}
        extra = f"<pre>{_json(others)}</pre>" if others else ""
        items.append(f"<li><p>{heading}</p><pre>{_text(entry.get('error', ''))}</pre>{extra}</li>")
    return f'<ol class="history">{"".join(items)}</ol>'


def _history_time(value: Any) -> str:
    # The queue writes "at" in ISO 8601 with Z. Other writers' text shows as it is, and a time
    # without an offset is taken as UTC, like the table's timestamp(3) columns.
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return _text(value)
    return _time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# -- Values -------------------------------------------------------------------


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _attribute_url(root: str, path: str, query: str = "") -> str:
    # Callers quote path segments and build queries with urlencode; this
    # escapes the whole URL for the attribute, where & becomes &amp;.
    return _text(f"{root}{path}{query}")


def _json(value: Any) -> str:
    return _text(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _count(value: int) -> str:
    return f"{value:,}"


def _none() -> str:
    return '<span class="muted">none</span>'


def _status(status: JobStatus) -> str:
    return f'<span class="status status-{_text(status.value)}">{_text(status.value)}</span>'


def _time(value: datetime | None) -> str:
    if value is None:
        return _none()
    utc = value.astimezone(UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    return f'<time datetime="{_text(iso)}">{_text(utc.strftime("%Y-%m-%d %H:%M:%S"))} UTC</time>'


_duration = format_duration
