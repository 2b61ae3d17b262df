"""The API function end to end: sample events through the local runner into a real PostgreSQL.

Each test calls the real entry point (``functions/api/app.py``, logical id
``ApiFunction`` in template.yaml) the way ``sam local invoke`` would, with
an event from ``events/`` edited for the case at hand. Rejected requests
are checked for their status, the error body's shape, and an unchanged
jobs table.
"""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobqueue import config, db
from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue_local.invoke import invoke
from jobqueue_local.template import load_template
from tests.conftest import ROOT, load_event

TEMPLATE = ROOT / "template.yaml"
SAMPLE_JOB_ID = "0b7f6c1e-3c44-4a53-9a51-2f4d7d0a9c11"
SAMPLE_INCIDENT_ID = "inc_01HZX3V6J8Q2"
MAX_PAYLOAD_BYTES = 256 * 1024
_UNSET: Any = object()


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


def call(database: str, event: dict, **env: str) -> ApiResponse:
    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": database, **env})
    text = response["body"]
    # Powertools returns only multiValueHeaders for a REST API event.
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    return ApiResponse(response["statusCode"], json.loads(text), headers, text)


def make_event(
    name: str,
    *,
    body: Any = _UNSET,
    raw_body: str | None = None,
    content_type: str | None = None,
    query: dict[str, str] | None = _UNSET,
    job_id: str | None = None,
    incident_id: str | None = None,
) -> dict:
    """Return ``events/api-<name>.json`` with its body, query, content type or path ids replaced."""
    event = load_event(f"api-{name}.json")
    if body is not _UNSET:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if content_type is not None:
        event["headers"]["Content-Type"] = content_type
        event["multiValueHeaders"]["Content-Type"] = [content_type]
    if query is not _UNSET:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()} if query else None
    if job_id is not None:
        event["pathParameters"] = {"id": job_id}
        event["path"] = event["path"].replace(SAMPLE_JOB_ID, job_id)
    if incident_id is not None:
        event["pathParameters"] = {"incidentId": incident_id}
        event["path"] = event["path"].replace(SAMPLE_INCIDENT_ID, incident_id)
    return event


def snapshot(conn) -> list[tuple]:
    rows = conn.execute(
        'SELECT id, status::text, attempts, "scheduledAt", "updatedAt" FROM "BackgroundJob" ORDER BY id'
    ).fetchall()
    return [tuple(row.values()) for row in rows]


@contextmanager
def table_unchanged(conn):
    before = snapshot(conn)
    yield
    assert snapshot(conn) == before, "a rejected request changed the jobs table"


def assert_error(response: ApiResponse, status: int, code: str, field: str | None = None) -> dict:
    """Check the error body's shape and return its ``error`` object."""
    assert response.status == status, response.text
    assert set(response.body) == {"error"}
    error = response.body["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"].endswith(".")
    assert set(error) <= {"status", "code", "message", "fields"}
    for internal in ("pydantic", "Traceback", "SELECT", "BackgroundJob", "errors.pydantic.dev", "'loc'"):
        assert internal not in response.text
    if field is None:
        assert "fields" not in error or status in (413, 422)
    else:
        assert error["fields"], response.text
        assert all(set(item) == {"field", "problem"} for item in error["fields"])
        assert field in [item["field"] for item in error["fields"]], response.text
        assert field in error["message"]
    return error


def problem_of(error: dict, field: str) -> str:
    return next(item["problem"] for item in error["fields"] if item["field"] == field)


def job_status(conn, job_id: str) -> str:
    return conn.execute('SELECT status::text AS status FROM "BackgroundJob" WHERE id = %s', (job_id,)).fetchone()[
        "status"
    ]


def set_status(conn, job_id: str, status: str) -> None:
    stamp = {"COMPLETED": '"completedAt"', "CANCELLED": '"completedAt"', "FAILED": '"failedAt"'}[status]
    conn.execute(
        f"""UPDATE "BackgroundJob" SET status = %s, {stamp} = now() AT TIME ZONE 'UTC', attempts = 1
            WHERE id = %s""",
        (status, job_id),
    )


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_job(conn, job_type: str = "NOTIFICATION", **fields) -> str:
    return enqueue(conn, NewJob(job_type, {"incidentId": "inc_1", **fields.pop("payload", {})}, **fields)).id


# -- POST /jobs -------------------------------------------------------------


def test_create_job_sample_event(database, conn):
    response = call(database, make_event("create-job"))

    assert response.status == 201, response.text
    assert response.body["created"] is True
    job = response.body["job"]
    assert job["type"] == "SCHEDULED_TASK"
    assert job["status"] == "PENDING"
    assert job["payload"] == {"task": "noop", "args": {"note": "sample job"}}
    assert job["maxAttempts"] == 5
    assert job["priority"] == 10
    assert job["dedupKey"] == "sample:noop"
    assert job["attempts"] == 0
    assert parse_time(job["scheduledAt"]) - parse_time(job["createdAt"]) < timedelta(seconds=1)
    assert snapshot(conn)[0][0] == job["id"]


def test_create_job_defaults(database, conn):
    response = call(database, make_event("create-job", body={"type": "ESCALATION", "payload": {}}))

    assert response.status == 201, response.text
    job = response.body["job"]
    assert job["maxAttempts"] == 3
    assert job["priority"] == 0
    assert job["dedupKey"] is None
    assert abs(parse_time(job["scheduledAt"]) - datetime.now(UTC)) < timedelta(seconds=30)


def test_create_job_scheduled_at_offset_stored_as_utc(database, conn):
    body = {"type": "ESCALATION", "payload": {"incidentId": "i"}, "scheduledAt": "2030-01-31T11:00:00+02:00"}
    response = call(database, make_event("create-job", body=body))

    assert response.status == 201, response.text
    assert response.body["job"]["scheduledAt"] == "2030-01-31T09:00:00Z"


def test_create_job_dedup_key_returns_existing(database, conn):
    body = {"type": "NOTIFICATION", "payload": {"n": 1}, "dedupKey": "digest:team_ops"}
    first = call(database, make_event("create-job", body=body))
    second = call(database, make_event("create-job", body={**body, "payload": {"n": 2}}))

    assert first.status == 201
    assert second.status == 200, second.text
    assert second.body["created"] is False
    assert second.body["job"]["id"] == first.body["job"]["id"]
    assert second.body["job"]["payload"] == {"n": 1}
    assert len(snapshot(conn)) == 1


def test_create_job_logs_write_without_payload(database, conn, log_records):
    body = {"type": "NOTIFICATION", "payload": {"secretToken": "do-not-log-me"}}
    response = call(database, make_event("create-job", body=body))

    records = [record for record in log_records() if record.get("action") == "enqueue"]
    assert len(records) == 1
    assert records[0]["job_id"] == response.body["job"]["id"]
    assert records[0]["correlation_id"] == load_event("api-create-job.json")["requestContext"]["requestId"]
    assert "do-not-log-me" not in json.dumps(log_records())


VALID_JOB = {"type": "NOTIFICATION", "payload": {"incidentId": "inc_1"}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"payload": {}}, "body.type", id="type-missing"),
        pytest.param({"type": "ESCALATION"}, "body.payload", id="payload-missing"),
        pytest.param({**VALID_JOB, "type": "PIZZA_DELIVERY"}, "body.type", id="type-unknown"),
        pytest.param({**VALID_JOB, "type": 5}, "body.type", id="type-number"),
        pytest.param({**VALID_JOB, "payload": [1, 2]}, "body.payload", id="payload-array"),
        pytest.param({**VALID_JOB, "payload": "text"}, "body.payload", id="payload-string"),
        pytest.param({**VALID_JOB, "payload": None}, "body.payload", id="payload-null"),
        pytest.param({**VALID_JOB, "payload": {"note": "a\u0000b"}}, "body.payload", id="payload-nul"),
        pytest.param({**VALID_JOB, "scheduledAt": "2030-01-31T09:00:00"}, "body.scheduledAt", id="scheduled-naive"),
        pytest.param({**VALID_JOB, "scheduledAt": "tomorrow"}, "body.scheduledAt", id="scheduled-text"),
        pytest.param({**VALID_JOB, "scheduledAt": 1900000000}, "body.scheduledAt", id="scheduled-number"),
        pytest.param(
            {**VALID_JOB, "scheduledAt": "2030-01-31T09:00:00Z", "delaySeconds": 5},
            "body.delaySeconds",
            id="scheduled-and-delay",
        ),
        pytest.param({**VALID_JOB, "delaySeconds": -1}, "body.delaySeconds", id="delay-negative"),
        pytest.param({**VALID_JOB, "delaySeconds": "5"}, "body.delaySeconds", id="delay-string"),
        pytest.param({**VALID_JOB, "delaySeconds": 10**12}, "body.delaySeconds", id="delay-huge"),
        pytest.param({**VALID_JOB, "maxAttempts": 0}, "body.maxAttempts", id="attempts-zero"),
        pytest.param({**VALID_JOB, "maxAttempts": 101}, "body.maxAttempts", id="attempts-above-max"),
        pytest.param({**VALID_JOB, "maxAttempts": 1.5}, "body.maxAttempts", id="attempts-fraction"),
        pytest.param({**VALID_JOB, "maxAttempts": True}, "body.maxAttempts", id="attempts-boolean"),
        pytest.param({**VALID_JOB, "priority": 5000}, "body.priority", id="priority-above-max"),
        pytest.param({**VALID_JOB, "priority": "high"}, "body.priority", id="priority-string"),
        pytest.param({**VALID_JOB, "dedupKey": ""}, "body.dedupKey", id="dedup-empty"),
        pytest.param({**VALID_JOB, "dedupKey": "   "}, "body.dedupKey", id="dedup-blank"),
        pytest.param({**VALID_JOB, "dedupKey": "k" * 256}, "body.dedupKey", id="dedup-too-long"),
        pytest.param({**VALID_JOB, "dedupKey": "a\u0000b"}, "body.dedupKey", id="dedup-nul"),
        pytest.param({**VALID_JOB, "delay": 5}, "body.delay", id="unknown-field"),
    ],
)
def test_create_job_rejects_invalid_field(database, conn, body, field):
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body=body))

    assert_error(response, 422, "validation_failed", field)


def test_create_job_naive_scheduled_at_asks_for_offset(database, conn):
    body = {**VALID_JOB, "scheduledAt": "2030-01-31T09:00:00"}
    response = call(database, make_event("create-job", body=body))

    problem = problem_of(assert_error(response, 422, "validation_failed", "body.scheduledAt"), "body.scheduledAt")
    assert "Z" in problem
    assert "offset" in problem


def test_create_job_unknown_type_lists_types(database, conn):
    response = call(database, make_event("create-job", body={**VALID_JOB, "type": "PIZZA_DELIVERY"}))

    error = assert_error(response, 422, "validation_failed", "body.type")
    assert "SCHEDULED_TASK" in problem_of(error, "body.type")
    assert "PIZZA_DELIVERY" not in response.text


def test_create_job_reports_every_bad_field(database, conn):
    body = {"type": "PIZZA", "payload": [], "maxAttempts": 0}
    response = call(database, make_event("create-job", body=body))

    error = assert_error(response, 422, "validation_failed", "body.type")
    assert {item["field"] for item in error["fields"]} == {"body.type", "body.payload", "body.maxAttempts"}
    assert "2 more problems" in error["message"]


def test_create_job_payload_over_limit(database, conn):
    body = {**VALID_JOB, "payload": {"blob": "x" * MAX_PAYLOAD_BYTES}}
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body=body))

    error = assert_error(response, 413, "payload_too_large", "body.payload")
    assert str(MAX_PAYLOAD_BYTES) in error["message"]


def test_create_job_payload_limit_from_settings(database, conn):
    body = {**VALID_JOB, "payload": {"blob": "x" * 2000}}
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body=body), MAX_PAYLOAD_BYTES="1024")

    assert_error(response, 413, "payload_too_large", "body.payload")


def test_create_job_raw_body_over_limit(database, conn):
    body = {**VALID_JOB, "payload": {"blob": "x" * (MAX_PAYLOAD_BYTES + 64 * 1024)}}
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body=body))

    error = assert_error(response, 413, "request_too_large")
    assert "fields" not in error


@pytest.mark.parametrize(
    ("raw_body", "status", "code"),
    [
        pytest.param('{"type": "ESCALATION", "payload": {', 400, "invalid_json", id="truncated"),
        pytest.param("type=ESCALATION", 400, "invalid_json", id="not-json"),
        pytest.param('{"type": "ESCALATION", "payload": {"x": NaN}}', 400, "invalid_json", id="nan"),
        pytest.param("[" * 100_000 + "]" * 100_000, 400, "invalid_json", id="deeply-nested"),
        pytest.param('[{"type": "ESCALATION", "payload": {}}]', 400, "invalid_body", id="array"),
        pytest.param('"ESCALATION"', 400, "invalid_body", id="string"),
        pytest.param("null", 400, "invalid_body", id="null"),
        pytest.param("", 400, "invalid_body", id="empty"),
    ],
)
def test_create_job_rejects_malformed_body(database, conn, raw_body, status, code):
    with table_unchanged(conn):
        response = call(database, make_event("create-job", raw_body=raw_body))

    assert_error(response, status, code)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_create_job_rejects_non_json_content_type(database, conn, content_type):
    with table_unchanged(conn):
        response = call(
            database, make_event("create-job", raw_body="type=ESCALATION&payload=x", content_type=content_type)
        )

    assert_error(response, 415, "unsupported_media_type")


def test_create_job_accepts_json_with_charset(database, conn):
    event = make_event("create-job", body=VALID_JOB, content_type="application/json; charset=utf-8")
    response = call(database, event)

    assert response.status == 201, response.text


# -- POST /jobs/bulk --------------------------------------------------------


def test_create_jobs_bulk_sample_event(database, conn):
    response = call(database, make_event("create-jobs-bulk"))

    assert response.status == 201, response.text
    assert response.body["created"] == 3
    assert response.body["existing"] == 0
    ids = [item["id"] for item in response.body["jobs"]]
    assert all(item["created"] for item in response.body["jobs"])
    assert sorted(ids) == [row[0] for row in snapshot(conn)]


def test_create_jobs_bulk_dedup(database, conn):
    jobs = [
        {**VALID_JOB, "dedupKey": "k1"},
        {**VALID_JOB, "dedupKey": "k1"},
        {**VALID_JOB, "dedupKey": "k2"},
    ]
    first = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}))
    again = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}))

    assert first.status == 201, first.text
    assert [item["created"] for item in first.body["jobs"]] == [True, False, True]
    assert first.body["jobs"][0]["id"] == first.body["jobs"][1]["id"]
    assert (first.body["created"], first.body["existing"]) == (2, 1)
    assert again.status == 200, again.text
    assert (again.body["created"], again.body["existing"]) == (0, 3)
    assert [item["id"] for item in again.body["jobs"]] == [item["id"] for item in first.body["jobs"]]
    assert len(snapshot(conn)) == 2


def test_create_jobs_bulk_accepts_body_above_single_limit(database, conn):
    # 500 jobs of 1 KiB: about 520 KB, above the 320 KiB limit of a single-job request.
    jobs = [{**VALID_JOB, "payload": {"text": "y" * 1024}} for _ in range(500)]
    response = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}))

    assert response.status == 201, response.text[:500]
    assert response.body["created"] == 500
    assert len(snapshot(conn)) == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "body.jobs", id="jobs-missing"),
        pytest.param({"jobs": {}}, "body.jobs", id="jobs-object"),
        pytest.param({"jobs": []}, "body.jobs", id="jobs-empty"),
        pytest.param({"jobs": [VALID_JOB] * 501}, "body.jobs", id="jobs-above-max"),
        pytest.param({"jobs": [VALID_JOB] * 3 + [{**VALID_JOB, "payload": []}]}, "body.jobs[3].payload", id="bad-4th"),
        pytest.param({"jobs": [VALID_JOB, {"payload": {}}]}, "body.jobs[1].type", id="type-missing-2nd"),
        pytest.param({"jobs": [VALID_JOB, "job"]}, "body.jobs[1]", id="job-not-object"),
    ],
)
def test_create_jobs_bulk_rejects_invalid_input(database, conn, body, field):
    with table_unchanged(conn):
        response = call(database, make_event("create-jobs-bulk", body=body))

    assert_error(response, 422, "validation_failed", field)


def test_create_jobs_bulk_layer_error_writes_nothing(database, conn):
    jobs = [VALID_JOB, {**VALID_JOB, "payload": {"note": "nul \u0000 here"}}]
    with table_unchanged(conn):
        response = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}))

    assert_error(response, 422, "validation_failed", "body.jobs[1].payload")


def test_create_jobs_bulk_payload_over_limit(database, conn):
    jobs = [VALID_JOB, {**VALID_JOB, "payload": {"blob": "x" * 2000}}]
    with table_unchanged(conn):
        response = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}), MAX_PAYLOAD_BYTES="1024")

    assert_error(response, 413, "payload_too_large", "body.jobs[1].payload")


def test_create_jobs_bulk_lists_at_most_50_fields(database, conn):
    jobs = [{"type": "PIZZA", "payload": {}}] * 120
    response = call(database, make_event("create-jobs-bulk", body={"jobs": jobs}))

    error = assert_error(response, 422, "validation_failed", "body.jobs[0].type")
    assert len(error["fields"]) == 50
    assert "119 more problems" in error["message"]


# -- GET /jobs/{id} ---------------------------------------------------------


def test_get_job_found(database, conn):
    job_id = new_job(conn, payload={"userId": "u1"})
    response = call(database, make_event("get-job", job_id=job_id))

    assert response.status == 200, response.text
    assert response.body["id"] == job_id
    assert response.body["payload"] == {"incidentId": "inc_1", "userId": "u1"}
    assert response.body["status"] == "PENDING"


def test_get_job_unknown_id(database, conn):
    response = call(database, make_event("get-job"))

    error = assert_error(response, 404, "job_not_found")
    assert SAMPLE_JOB_ID in error["message"]


def test_get_job_id_too_long(database, conn):
    response = call(database, make_event("get-job", job_id="j" * 256))

    assert_error(response, 422, "validation_failed", "path.id")


# -- GET /jobs --------------------------------------------------------------


def list_all(database: str, **query: str) -> list[list[dict]]:
    """Follow nextCursor from the first page to the last; return the pages."""
    pages = []
    cursor = None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        response = call(database, make_event("list-jobs", query=params))
        assert response.status == 200, response.text
        pages.append(response.body["jobs"])
        cursor = response.body["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


def test_list_jobs_pagination_visits_each_job_once(database, conn):
    # Jobs enqueued in one transaction share createdAt, so the id breaks ties.
    same_instant = enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(12)])
    one_by_one = [new_job(conn, payload={"n": n}) for n in range(11)]
    expected = {result.id for result in same_instant} | set(one_by_one)

    pages = list_all(database, limit="5")

    seen = [job["id"] for page in pages for job in page]
    assert len(seen) == len(expected) == 23
    assert set(seen) == expected
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    # Parsed, because isoformat() leaves out a zero fraction, and "12:00:00Z" sorts after "12:00:00.002Z" as text.
    keys = [(parse_time(job["createdAt"]), job["id"]) for page in pages for job in page]
    assert keys == sorted(keys, reverse=True)


def test_list_jobs_exact_multiple_of_limit(database, conn):
    for n in range(4):
        new_job(conn, payload={"n": n})

    pages = list_all(database, limit="2")

    assert [len(page) for page in pages] == [2, 2]


def test_list_jobs_filters(database, conn):
    failed = new_job(conn, "ESCALATION")
    set_status(conn, failed, "FAILED")
    new_job(conn, "ESCALATION")
    new_job(conn, "NOTIFICATION")

    pages = list_all(database, status="FAILED", type="ESCALATION")
    pending_notifications = list_all(database, status="PENDING", type="NOTIFICATION")

    assert [job["id"] for page in pages for job in page] == [failed]
    assert len(pending_notifications[0]) == 1
    assert pending_notifications[0][0]["type"] == "NOTIFICATION"


def test_list_jobs_default_limit(database, conn):
    enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(55)])

    response = call(database, make_event("list-jobs", query=None))

    assert response.status == 200, response.text
    assert len(response.body["jobs"]) == 50
    assert response.body["nextCursor"]


def test_list_jobs_sample_event(database, conn):
    failed = new_job(conn, "NOTIFICATION")
    set_status(conn, failed, "FAILED")

    response = call(database, make_event("list-jobs"))

    assert response.status == 200, response.text
    assert [job["id"] for job in response.body["jobs"]] == [failed]
    assert response.body["nextCursor"] is None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param({"limit": "0"}, "query.limit", id="limit-zero"),
        pytest.param({"limit": "201"}, "query.limit", id="limit-above-max"),
        pytest.param({"limit": "ten"}, "query.limit", id="limit-text"),
        pytest.param({"status": "RUNNING"}, "query.status", id="status-unknown"),
        pytest.param({"type": "PIZZA"}, "query.type", id="type-unknown"),
        pytest.param({"cursor": "not a cursor!"}, "query.cursor", id="cursor-garbage"),
        pytest.param({"cursor": _b64('{"a": 1}')}, "query.cursor", id="cursor-object"),
        pytest.param({"cursor": _b64('["yesterday", "id"]')}, "query.cursor", id="cursor-bad-time"),
        pytest.param({"cursor": _b64('["2030-01-01T00:00:00Z", ""]')}, "query.cursor", id="cursor-empty-id"),
        pytest.param({"cursor": "A" * 3000}, "query.cursor", id="cursor-too-long"),
    ],
)
def test_list_jobs_rejects_invalid_query(database, conn, query, field):
    response = call(database, make_event("list-jobs", query=query))

    assert_error(response, 422, "validation_failed", field)


# -- POST /jobs/{id}/cancel -------------------------------------------------


def test_cancel_job_pending(database, conn):
    job_id = new_job(conn)
    response = call(database, make_event("cancel-job", job_id=job_id))

    assert response.status == 200, response.text
    assert response.body["id"] == job_id
    assert response.body["status"] == "CANCELLED"
    assert job_status(conn, job_id) == "CANCELLED"


def test_cancel_job_unknown_id(database, conn):
    with table_unchanged(conn):
        response = call(database, make_event("cancel-job"))

    assert_error(response, 404, "job_not_found")


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED"])
def test_cancel_job_finished_conflicts(database, conn, status):
    job_id = new_job(conn)
    set_status(conn, job_id, status)
    with table_unchanged(conn):
        response = call(database, make_event("cancel-job", job_id=job_id))

    error = assert_error(response, 409, "invalid_transition")
    assert status in error["message"]
    assert "PENDING" in error["message"]


# -- POST /jobs/{id}/retry --------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_retry_job_finished(database, conn, status):
    job_id = new_job(conn, max_attempts=2)
    set_status(conn, job_id, status)
    response = call(database, make_event("retry-job", job_id=job_id))

    assert response.status == 200, response.text
    assert response.body["status"] == "PENDING"
    assert response.body["attempts"] == 0
    assert abs(parse_time(response.body["scheduledAt"]) - datetime.now(UTC)) < timedelta(seconds=30)
    assert job_status(conn, job_id) == "PENDING"


@pytest.mark.parametrize("status", ["PENDING", "COMPLETED"])
def test_retry_job_conflicts(database, conn, status):
    job_id = new_job(conn)
    if status != "PENDING":
        set_status(conn, job_id, status)
    with table_unchanged(conn):
        response = call(database, make_event("retry-job", job_id=job_id))

    error = assert_error(response, 409, "invalid_transition")
    assert status in error["message"]


def test_retry_job_unknown_id(database, conn):
    response = call(database, make_event("retry-job"))

    assert_error(response, 404, "job_not_found")


# -- GET /jobs/stats --------------------------------------------------------


def test_get_job_stats_counts(database, conn):
    new_job(conn, "ESCALATION")
    failed = new_job(conn, "NOTIFICATION")
    set_status(conn, failed, "FAILED")

    response = call(database, make_event("get-job-stats"))

    assert response.status == 200, response.text
    assert response.body["pending"] == 1
    assert response.body["failed"] == 1
    assert response.body["total"] == 2
    assert response.body["byType"]["NOTIFICATION"]["failed"] == 1
    assert response.body["byType"]["ESCALATION"]["pending"] == 1
    assert response.body["oldestDueAgeSeconds"] is not None


def test_get_job_stats_wins_over_job_id_route(database, conn):
    response = call(database, make_event("get-job-stats"))

    assert response.status == 200, response.text
    assert "error" not in response.body
    assert response.body["total"] == 0


# -- POST /escalations ------------------------------------------------------


def test_create_escalation_once_per_step(database, conn):
    first = call(database, make_event("create-escalation"))
    again = call(database, make_event("create-escalation"))

    assert first.status == 201, first.text
    assert first.body["created"] is True
    job = first.body["job"]
    assert job["type"] == "ESCALATION"
    assert job["payload"] == {"incidentId": SAMPLE_INCIDENT_ID, "stepIndex": 0}
    assert again.status == 200, again.text
    assert again.body["created"] is False
    assert again.body["job"]["id"] == job["id"]
    assert len(snapshot(conn)) == 1


def test_create_escalation_delay(database, conn):
    body = {"incidentId": "inc_9", "stepIndex": 2, "delaySeconds": 300}
    response = call(database, make_event("create-escalation", body=body))

    assert response.status == 201, response.text
    job = response.body["job"]
    delay = parse_time(job["scheduledAt"]) - parse_time(job["createdAt"])
    assert timedelta(seconds=299) <= delay <= timedelta(seconds=301)


ESCALATION = {"incidentId": "inc_1", "stepIndex": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"stepIndex": 0}, "body.incidentId", id="incident-missing"),
        pytest.param({**ESCALATION, "incidentId": ""}, "body.incidentId", id="incident-empty"),
        pytest.param({**ESCALATION, "incidentId": "i" * 256}, "body.incidentId", id="incident-too-long"),
        pytest.param({**ESCALATION, "incidentId": "a\u0000b"}, "body.incidentId", id="incident-nul"),
        pytest.param({**ESCALATION, "incidentId": 42}, "body.incidentId", id="incident-number"),
        pytest.param({"incidentId": "inc_1"}, "body.stepIndex", id="step-missing"),
        pytest.param({**ESCALATION, "stepIndex": -1}, "body.stepIndex", id="step-negative"),
        pytest.param({**ESCALATION, "stepIndex": "1"}, "body.stepIndex", id="step-string"),
        pytest.param({**ESCALATION, "delaySeconds": -5}, "body.delaySeconds", id="delay-negative"),
    ],
)
def test_create_escalation_rejects_invalid_field(database, conn, body, field):
    with table_unchanged(conn):
        response = call(database, make_event("create-escalation", body=body))

    assert_error(response, 422, "validation_failed", field)


# -- POST /notifications ----------------------------------------------------


def test_create_notification_sample_event(database, conn):
    response = call(database, make_event("create-notification"))

    assert response.status == 201, response.text
    job = response.body["job"]
    assert job["type"] == "NOTIFICATION"
    assert job["payload"] == {
        "incidentId": SAMPLE_INCIDENT_ID,
        "userId": "user_alice",
        "channel": "SLACK",
        "message": "Incident acknowledged by Bob; next update in 15 minutes",
    }


NOTIFICATION = {"incidentId": "inc_1", "userId": "user_1", "channel": "EMAIL", "message": "Incident opened"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({**NOTIFICATION, "channel": "FAX"}, "body.channel", id="channel-unknown"),
        pytest.param({**NOTIFICATION, "channel": "email"}, "body.channel", id="channel-lower-case"),
        pytest.param({k: v for k, v in NOTIFICATION.items() if k != "userId"}, "body.userId", id="user-missing"),
        pytest.param({**NOTIFICATION, "message": ""}, "body.message", id="message-empty"),
        pytest.param({**NOTIFICATION, "message": "m" * 2001}, "body.message", id="message-too-long"),
        pytest.param({**NOTIFICATION, "message": ["hi"]}, "body.message", id="message-array"),
        pytest.param({**NOTIFICATION, "delaySeconds": "soon"}, "body.delaySeconds", id="delay-string"),
    ],
)
def test_create_notification_rejects_invalid_field(database, conn, body, field):
    with table_unchanged(conn):
        response = call(database, make_event("create-notification", body=body))

    assert_error(response, 422, "validation_failed", field)


def test_create_notification_channel_lists_channels(database, conn):
    response = call(database, make_event("create-notification", body={**NOTIFICATION, "channel": "FAX"}))

    problem = problem_of(assert_error(response, 422, "validation_failed", "body.channel"), "body.channel")
    for channel in ("EMAIL", "SMS", "PUSH", "WEBHOOK", "SLACK"):
        assert channel in problem


# -- POST /auto-unsnooze and DELETE /incidents/{incidentId}/auto-unsnooze ----


def test_schedule_auto_unsnooze_sample_event(database, conn):
    response = call(database, make_event("schedule-auto-unsnooze"))

    assert response.status == 201, response.text
    job = response.body["job"]
    assert job["type"] == "AUTO_UNSNOOZE"
    assert job["scheduledAt"] == "2030-01-31T09:00:00Z"
    assert job["payload"] == {"incidentId": SAMPLE_INCIDENT_ID}


def test_schedule_auto_unsnooze_replaces_pending(database, conn):
    first = call(database, make_event("schedule-auto-unsnooze"))
    later = {"incidentId": SAMPLE_INCIDENT_ID, "snoozedUntil": "2030-02-01T00:00:00Z"}
    second = call(database, make_event("schedule-auto-unsnooze", body=later))

    assert second.status == 201, second.text
    assert second.body["job"]["id"] != first.body["job"]["id"]
    assert second.body["job"]["scheduledAt"] == "2030-02-01T00:00:00Z"
    assert job_status(conn, first.body["job"]["id"]) == "CANCELLED"
    assert job_status(conn, second.body["job"]["id"]) == "PENDING"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"incidentId": "inc_1"}, "body.snoozedUntil", id="until-missing"),
        pytest.param({"incidentId": "inc_1", "snoozedUntil": "2030-01-31T09:00:00"}, "body.snoozedUntil", id="naive"),
        pytest.param({"incidentId": "inc_1", "snoozedUntil": "soon"}, "body.snoozedUntil", id="until-text"),
        pytest.param({"snoozedUntil": "2030-01-31T09:00:00Z"}, "body.incidentId", id="incident-missing"),
    ],
)
def test_schedule_auto_unsnooze_rejects_invalid_field(database, conn, body, field):
    with table_unchanged(conn):
        response = call(database, make_event("schedule-auto-unsnooze", body=body))

    assert_error(response, 422, "validation_failed", field)


def test_schedule_auto_unsnooze_naive_time_asks_for_offset(database, conn):
    body = {"incidentId": "inc_1", "snoozedUntil": "2030-01-31T09:00:00"}
    response = call(database, make_event("schedule-auto-unsnooze", body=body))

    problem = problem_of(assert_error(response, 422, "validation_failed", "body.snoozedUntil"), "body.snoozedUntil")
    assert "Z" in problem
    assert "offset" in problem


def test_cancel_auto_unsnooze_pending(database, conn):
    scheduled = call(database, make_event("schedule-auto-unsnooze"))
    response = call(database, make_event("cancel-auto-unsnooze"))

    assert response.status == 200, response.text
    assert response.body == {"cancelled": [scheduled.body["job"]["id"]]}
    assert job_status(conn, scheduled.body["job"]["id"]) == "CANCELLED"


def test_cancel_auto_unsnooze_none_pending(database, conn):
    with table_unchanged(conn):
        response = call(database, make_event("cancel-auto-unsnooze", incident_id="inc_without_snooze"))

    assert response.status == 200, response.text
    assert response.body == {"cancelled": []}


def test_cancel_auto_unsnooze_incident_id_too_long(database, conn):
    response = call(database, make_event("cancel-auto-unsnooze", incident_id="i" * 256))

    assert_error(response, 422, "validation_failed", "path.incidentId")


# -- GET /openapi.json ------------------------------------------------------

ROUTES = {
    ("/jobs", "post"),
    ("/jobs/bulk", "post"),
    ("/jobs", "get"),
    ("/jobs/stats", "get"),
    ("/jobs/{id}", "get"),
    ("/jobs/{id}/cancel", "post"),
    ("/jobs/{id}/retry", "post"),
    ("/escalations", "post"),
    ("/notifications", "post"),
    ("/auto-unsnooze", "post"),
    ("/incidents/{incidentId}/auto-unsnooze", "delete"),
    ("/openapi.json", "get"),
}
# HTML routes, which the OpenAPI document of the JSON API leaves out.
DASHBOARD_ROUTES = {
    ("/dashboard", "get"),
    ("/dashboard/jobs/{id}", "get"),
    ("/dashboard/assets/{name}", "get"),
}


def test_get_openapi_lists_every_route(database):
    response = call(database, make_event("get-openapi"))

    assert response.status == 200, response.text
    document = response.body
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    routes = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == ROUTES
    for path, method in ROUTES:
        operation = document["paths"][path][method]
        assert operation["summary"], (path, method)
        assert any(code.startswith("2") for code in operation["responses"]), (path, method)
    assert document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert document["paths"]["/jobs/bulk"]["post"]["responses"]["201"]


def test_get_openapi_validates(database):
    import openapi_spec_validator as validator  # pinned in requirements-dev.txt
    response = call(database, make_event("get-openapi"))

    validator.validate(response.body)


def test_get_openapi_template_routes_match():
    # Every route API Gateway forwards must be one the function serves, and the other way round.
    template = load_template(TEMPLATE)
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    template_routes = {(event["Properties"]["Path"], event["Properties"]["Method"].lower()) for event in events}

    assert template_routes == ROUTES | DASHBOARD_ROUTES


# -- errors outside the routes ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("DELETE", "/jobs"), ("PUT", "/jobs/abc"), ("GET", "/jobs/abc/cancel")],
)
def test_unknown_route(database, method, path):
    event = make_event("get-job-stats")
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = "/{proxy+}"

    assert_error(call(database, event), 404, "route_not_found")


def test_database_unavailable_returns_503():
    # Nothing listens on port 1 of the loopback address, so the connection is refused at once.
    config.reset_settings()
    db.reset_database()
    try:
        response = call("postgresql://postgres@127.0.0.1:1/postgres", make_event("get-job-stats"))
    finally:
        db.reset_database()
        config.reset_settings()

    error = assert_error(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in error["message"]


def test_unexpected_error_returns_500(database, conn, log_records):
    conn.execute('ALTER TABLE "BackgroundJob" RENAME TO "BackgroundJobMoved"')
    response = call(database, make_event("get-job-stats"))

    error = assert_error(response, 500, "internal_error")
    assert "BackgroundJob" not in error["message"]
    failures = [record for record in log_records() if record.get("action") == "internal_error"]
    assert len(failures) == 1
    assert "UndefinedTable" in failures[0]["exception_name"]
