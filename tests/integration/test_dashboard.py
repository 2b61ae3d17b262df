"""The dashboard routes of the API function: HTML pages, escaping, filters, pages of jobs, links and headers.

Each test sends a sample event from ``events/`` through the local runner to
the real entry point, against the test's own database. The browser test in
``tests/e2e`` drives the same pages in Chromium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from jobqueue.enqueue import NewJob, enqueue
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.helpers import job_row

TEMPLATE = ROOT / "template.yaml"
SAMPLE_JOB_ID = "0b7f6c1e-3c44-4a53-9a51-2f4d7d0a9c11"


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: str

    def links(self) -> list[str]:
        return [unescape(href) for href in re.findall(r'href="([^"]*)"', self.body)]

    def next_page_link(self) -> str | None:
        found = re.search(r'rel="next" href="([^"]*)"', self.body)
        return unescape(found.group(1)) if found else None

    def job_ids(self) -> list[str]:
        """Return the ids of the jobs listed, in page order."""
        return [unescape(job_id) for job_id in re.findall(r'<td class="id" data-label="Job"><a [^>]*><code>([^<]*)</code>', self.body)]


def call(database: str, event: dict) -> Page:
    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database})
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    return Page(response["statusCode"], headers, response["body"])


def overview_event(query: dict[str, str] | None = None) -> dict:
    event = load_event("api-get-dashboard.json")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} if query else None
    return event


def job_event(job_id: str, query: dict[str, str] | None = None) -> dict:
    event = load_event("api-get-dashboard-job.json")
    event["pathParameters"] = {"id": job_id}
    event["path"] = event["path"].replace(SAMPLE_JOB_ID, job_id)
    event["requestContext"]["path"] = event["requestContext"]["path"].replace(SAMPLE_JOB_ID, job_id)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} if query else None
    return event


def asset_event(name: str) -> dict:
    event = load_event("api-get-dashboard.json")
    event.update(resource="/dashboard/assets/{name}", path=f"/dashboard/assets/{name}", pathParameters={"name": name})
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    event["requestContext"]["resourcePath"] = "/dashboard/assets/{name}"
    return event


def new_job(conn, job_type: str = "NOTIFICATION", payload: dict | None = None, **fields) -> str:
    return enqueue(conn, NewJob(job_type, payload or {"incidentId": "inc_1"}, **fields)).id


def set_status(conn, job_id: str, status: str, error: str | None = None) -> None:
    conn.execute(
        """UPDATE "BackgroundJob"
           SET status = %s, error = %s, attempts = 1,
               "failedAt" = CASE WHEN %s = 'FAILED' THEN now() AT TIME ZONE 'UTC' END,
               "completedAt" = CASE WHEN %s IN ('COMPLETED', 'CANCELLED') THEN now() AT TIME ZONE 'UTC' END
           WHERE id = %s""",
        (status, error, status, status, job_id),
    )


def assert_html(page: Page, status: int = 200) -> None:
    assert page.status == status, page.body[:500]
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.body
    # CSP forbids inline scripts, styles and handlers, so the pages contain none.
    assert not re.search(r"<script(?![^>]*\ssrc=)", page.body)
    assert "<style" not in page.body
    assert " style=" not in page.body
    assert not re.search(r"<[^>]*\son[a-z]+=", page.body)


# -- Overview -----------------------------------------------------------------


def test_dashboard_overview_stats_and_jobs(database, conn) -> None:
    pending = new_job(conn, "NOTIFICATION")
    failed = new_job(conn, "SCHEDULED_TASK", {"task": "noop"})
    set_status(conn, failed, "FAILED", "task exploded")

    page = call(database, overview_event())

    assert_html(page)
    assert "<title>Job queue</title>" in page.body
    assert set(page.job_ids()) == {pending, failed}
    assert "task exploded" in page.body
    counts = dict(re.findall(r'<span class="label">(\w+)</span><span class="value">([\d,]+)</span>', page.body))
    assert counts == {"All": "2", "PENDING": "1", "PROCESSING": "0", "COMPLETED": "0", "FAILED": "1", "CANCELLED": "0"}
    assert "./dashboard?status=FAILED&type=SCHEDULED_TASK" in page.links()


def test_dashboard_overview_filters(database, conn) -> None:
    wanted = new_job(conn, "NOTIFICATION")
    other_status = new_job(conn, "NOTIFICATION")
    set_status(conn, other_status, "FAILED", "boom")
    other_type = new_job(conn, "ESCALATION", {"incidentId": "inc_1", "stepIndex": 0})

    page = call(database, overview_event({"status": "PENDING", "type": "NOTIFICATION"}))

    assert_html(page)
    assert page.job_ids() == [wanted]
    assert other_type not in page.body
    assert '<option value="PENDING" selected>' in page.body
    assert '<option value="NOTIFICATION" selected>' in page.body


def test_dashboard_overview_empty_filter_values(database, conn) -> None:
    job_id = new_job(conn)

    # The filter form sends empty values for "any".
    page = call(database, overview_event({"status": "", "type": "", "limit": ""}))

    assert_html(page)
    assert page.job_ids() == [job_id]


def test_dashboard_overview_keyset_pages(database, conn) -> None:
    created = [new_job(conn, payload={"incidentId": f"inc_{number}"}) for number in range(30)]

    first = call(database, overview_event({"limit": "25"}))
    next_link = first.next_page_link()
    assert next_link is not None
    query = {name: values[-1] for name, values in parse_qs(urlsplit(next_link).query).items()}
    second = call(database, overview_event(query))

    assert len(first.job_ids()) == 25
    assert query["limit"] == "25"
    assert len(second.job_ids()) == 5
    assert set(first.job_ids()) | set(second.job_ids()) == set(created)
    assert second.next_page_link() is None
    assert "./dashboard?limit=25" in second.links()  # First page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "DONE"}, "status &#x27;DONE&#x27; is not one of PENDING"),
        ({"type": "EMAIL"}, "type &#x27;EMAIL&#x27; is not one of ESCALATION"),
        ({"limit": "7"}, "limit &#x27;7&#x27; is not one of 25, 50, 100, 200"),
        ({"cursor": "not-a-cursor"}, "The cursor in this link is not one the dashboard made"),
    ],
)
def test_dashboard_overview_invalid_query_400(database, query: dict, message: str) -> None:
    page = call(database, overview_event(query))

    assert_html(page, 400)
    assert message in page.body
    assert './dashboard">Back to all jobs' in page.body


def test_dashboard_overview_lowercase_filter(database, conn) -> None:
    job_id = new_job(conn)

    page = call(database, overview_event({"status": "pending"}))

    assert page.job_ids() == [job_id]


# -- One job ------------------------------------------------------------------


def test_dashboard_job_escapes_values(database, conn) -> None:
    payload = {"incidentId": "inc_1", "note": "<script>alert('x')</script> & <b>bold</b>"}
    job_id = new_job(conn, "NOTIFICATION", payload, dedup_key="<img src=x>")
    set_status(conn, job_id, "FAILED", "<svg onload=alert(1)>")

    page = call(database, job_event(job_id))

    assert_html(page)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page.body
    assert "&lt;img src=x&gt;" in page.body
    assert "&lt;svg onload=alert(1)&gt;" in page.body
    assert "<b>bold" not in page.body
    assert "<img" not in page.body
    assert "<svg" not in page.body


def test_dashboard_job_error_history(database, conn) -> None:
    job_id = new_job(conn)
    conn.execute(
        """UPDATE "BackgroundJob" SET "errorHistory" = %s::jsonb, error = 'SMTP timeout', attempts = 2
           WHERE id = %s""",
        (
            '[{"attempt": 1, "at": "2030-01-01T10:00:00.000Z", "kind": "retry", "error": "connection refused"},'
            ' {"attempt": 2, "at": "2030-01-01T10:00:05.000Z", "kind": "lease_expired", "error": "SMTP timeout",'
            ' "owner": "req-1/abc"}, "written by another tool"]',
            job_id,
        ),
    )

    page = call(database, job_event(job_id))

    assert_html(page)
    history = page.body.split("<h2>Error history</h2>", 1)[1]
    assert 'Attempt 1 \u00b7 <time datetime="2030-01-01T10:00:00Z">2030-01-01 10:00:00 UTC</time> \u00b7 retry' in history
    assert "connection refused" in history
    assert "Attempt 2" in history
    assert "lease_expired" in history
    assert "req-1/abc" in history
    assert "written by another tool" in history
    assert "2 of 3" in page.body


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("PENDING", ["cancel"]),
        ("FAILED", ["retry"]),
        ("CANCELLED", ["retry"]),
        ("COMPLETED", []),
    ],
)
def test_dashboard_job_actions(database, conn, status: str, actions: list[str]) -> None:
    job_id = new_job(conn)
    if status != "PENDING":
        set_status(conn, job_id, status, "boom" if status == "FAILED" else None)

    page = call(database, job_event(job_id))

    forms = re.findall(r'<form method="post" action="([^"]*)" data-api-action', page.body)
    assert forms == [f"../../jobs/{job_id}/{action}" for action in actions]
    if not actions:
        assert f"A {status} job can be neither cancelled nor retried." in page.body


def test_dashboard_job_links_relative(database, conn) -> None:
    job_id = new_job(conn)
    event = job_event(job_id)
    # Deployed under a stage and a custom domain base path: the links must not depend on either.
    event["requestContext"]["path"] = f"/queue/v1/dashboard/jobs/{job_id}"

    page = call(database, event)

    assert "../../dashboard/assets/dashboard.css" in page.links()
    assert "../../dashboard" in page.links()
    assert not [link for link in page.links() if link.startswith("/")]


def test_dashboard_job_notice(database, conn) -> None:
    job_id = new_job(conn)

    known = call(database, job_event(job_id, {"notice": "cancelled"}))
    unknown = call(database, job_event(job_id, {"notice": "<b>hi</b>"}))

    assert '<p class="notice" role="status">The job was cancelled.</p>' in known.body
    assert 'class="notice"' not in unknown.body
    assert "<b>hi" not in unknown.body
    assert "&lt;b&gt;hi" not in unknown.body


def test_dashboard_job_not_found_404(database) -> None:
    page = call(database, job_event("no-such-job"))

    assert_html(page, 404)
    assert "No job has id &#x27;no-such-job&#x27;." in page.body


def test_dashboard_sample_events(database, conn) -> None:
    job_id = new_job(conn)
    conn.execute('UPDATE "BackgroundJob" SET id = %s WHERE id = %s', (SAMPLE_JOB_ID, job_id))

    overview = call(database, load_event("api-get-dashboard.json"))
    job = call(database, load_event("api-get-dashboard-job.json"))

    assert_html(overview)
    assert_html(job)
    assert SAMPLE_JOB_ID in job.body


# -- Static files -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("dashboard.css", "text/css; charset=utf-8", "@media (max-width: 40rem)"),
        ("dashboard.js", "text/javascript; charset=utf-8", "data-api-action"),
    ],
)
def test_dashboard_assets(database, name: str, content_type: str, marker: str) -> None:
    page = call(database, asset_event(name))

    assert page.status == 200
    assert page.headers["Content-Type"] == content_type
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert marker in page.body


@pytest.mark.parametrize("name", ["missing.js", "..%2Fresolver.py", "__init__.py"])
def test_dashboard_asset_unknown_404(database, name: str) -> None:
    page = call(database, asset_event(name))

    assert_html(page, 404)


# -- Writes from a browser ----------------------------------------------------


@pytest.mark.parametrize(
    ("site", "status"),
    [("cross-site", 403), ("same-site", 403), ("same-origin", 200), ("none", 200), (None, 200)],
)
def test_cancel_fetch_metadata(database, conn, site: str | None, status: int) -> None:
    job_id = new_job(conn)
    event = load_event("api-cancel-job.json")
    event["pathParameters"] = {"id": job_id}
    event["path"] = f"/jobs/{job_id}/cancel"
    if site is not None:
        event["headers"]["Sec-Fetch-Site"] = site
        event["multiValueHeaders"]["Sec-Fetch-Site"] = [site]

    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database})

    assert response["statusCode"] == status, response["body"]
    assert job_row(conn, job_id)["status"] == ("PENDING" if status == 403 else "CANCELLED")
    if status == 403:
        assert "cross_site_request" in response["body"]
