"""The local stack end to end: real HTTP to the API function on 127.0.0.1, and the processor on its timer.

The server runs in the test process with the project's template.yaml,
against the test's own database, as ``python -m jobqueue_local serve``
runs it. The timer's processor runs in a child process, as it does there.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import job_row
from tests.local_stack import http, post_json, running_stack, wait_until

NOTIFICATION = {
    "type": "NOTIFICATION",
    "payload": {"incidentId": "inc_1", "userId": "u_1", "channel": "EMAIL", "message": "CPU high"},
    "delaySeconds": 3600,
}


@pytest.fixture
def api(database):
    with running_stack(database) as stack:
        yield stack.url


def test_local_api_create_and_get_job(api, conn) -> None:
    created = post_json(f"{api}/jobs", NOTIFICATION)

    assert created.status == 201, created.text
    assert created.headers["Content-Type"] == "application/json"
    assert created.headers["x-amzn-RequestId"]
    job = created.json()["job"]
    assert job["status"] == "PENDING"
    assert job_row(conn, job["id"])["type"] == "NOTIFICATION"

    fetched = http(f"{api}/jobs/{job['id']}")
    assert fetched.status == 200
    assert fetched.json()["id"] == job["id"]
    assert fetched.json()["payload"] == NOTIFICATION["payload"]


def test_local_api_list_jobs_filters(api) -> None:
    notification = post_json(f"{api}/jobs", NOTIFICATION).json()["job"]["id"]
    task = post_json(f"{api}/jobs", {"type": "SCHEDULED_TASK", "payload": {"task": "noop"}}).json()["job"]["id"]

    everything = http(f"{api}/jobs").json()
    only_tasks = http(f"{api}/jobs?type=SCHEDULED_TASK").json()
    first_page = http(f"{api}/jobs?limit=1").json()

    assert {job["id"] for job in everything["jobs"]} == {notification, task}
    assert [job["id"] for job in only_tasks["jobs"]] == [task]
    assert len(first_page["jobs"]) == 1
    assert first_page["nextCursor"]
    second_page = http(f"{api}/jobs?limit=1&cursor={first_page['nextCursor']}").json()
    assert {first_page["jobs"][0]["id"], second_page["jobs"][0]["id"]} == {notification, task}


def test_local_api_cancel_job(api, conn) -> None:
    job_id = post_json(f"{api}/jobs", NOTIFICATION).json()["job"]["id"]

    cancelled = http(f"{api}/jobs/{job_id}/cancel", "POST")
    again = http(f"{api}/jobs/{job_id}/cancel", "POST")

    assert cancelled.status == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert job_row(conn, job_id)["status"] == "CANCELLED"
    assert again.status == 409
    assert again.json()["error"]["code"] == "invalid_transition"


def test_local_api_unknown_job_404(api) -> None:
    response = http(f"{api}/jobs/no-such-job")

    assert response.status == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_local_api_bad_json_400(api, conn) -> None:
    response = http(f"{api}/jobs", "POST", body='{"type": ', headers={"Content-Type": "application/json"})

    assert response.status == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert conn.execute('SELECT count(*) AS n FROM "BackgroundJob"').fetchone()["n"] == 0


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/nothing"), ("DELETE", "/jobs")])
def test_local_api_unknown_route_403(api, method: str, path: str) -> None:
    response = http(f"{api}{path}", method)

    assert response.status == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_local_api_no_cors_headers(api) -> None:
    # The template configures no CORS: API Gateway has no OPTIONS method for a preflight request, and
    # the function adds no Access-Control-* headers, so only same-origin pages (the dashboard) can call it.
    preflight = http(
        f"{api}/jobs",
        "OPTIONS",
        headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "POST"},
    )
    listed = http(f"{api}/jobs", headers={"Origin": "http://127.0.0.1:9"})

    assert preflight.status == 403
    assert listed.status == 200
    assert not [name for name in listed.headers if name.lower().startswith("access-control-")]


def test_local_api_cross_site_write_403(api, conn) -> None:
    job_id = post_json(f"{api}/jobs", NOTIFICATION).json()["job"]["id"]

    response = http(f"{api}/jobs/{job_id}/cancel", "POST", headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status == 403
    assert response.json()["error"]["code"] == "cross_site_request"
    assert job_row(conn, job_id)["status"] == "PENDING"


def test_local_api_openapi_document(api) -> None:
    response = http(f"{api}/openapi.json")

    assert response.status == 200
    paths = json.loads(response.body)["paths"]
    assert "/jobs/{id}/cancel" in paths
    assert not [path for path in paths if path.startswith("/dashboard")]


def test_local_timer_completes_job(database, conn) -> None:
    with running_stack(database, processor_interval=0.5) as stack:
        created = post_json(f"{stack.url}/jobs", {"type": "SCHEDULED_TASK", "payload": {"task": "noop"}})
        job_id = created.json()["job"]["id"]

        wait_until(
            lambda: job_row(conn, job_id)["status"] == "COMPLETED",
            60,
            "the processor timer did not complete the job",
        )
        # The API still responds while the timer runs.
        assert http(f"{stack.url}/jobs/{job_id}").json()["status"] == "COMPLETED"
        timer = stack.timers[0]

    assert timer.schedule.event_name == "ProcessTick"
    assert timer.runs >= 1
    assert job_row(conn, job_id)["attempts"] == 1
