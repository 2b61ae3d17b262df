"""Bad API input: schemathesis fuzzes the API function against the OpenAPI document the function serves.

The document comes from GET /openapi.json through the real handler, and
every generated request goes through an API Gateway event adapter
(``api_gateway_wsgi``) to the same handler and a real database. The checks:
no response is a 5xx, every 4xx has the JSON error body, and a rejected
request leaves the jobs table as it was. A second test sends SQL-like text
in every string field, parameter and filter the document declares, and
checks that it was stored as text or rejected, never run.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from werkzeug.test import Client

from jobqueue.api.cursor import encode_cursor
from jobqueue.api.resolver import openapi_document
from jobqueue.enqueue import NewJob, enqueue
from tests.integration.api_gateway_wsgi import ApiGatewayWsgi

FUZZ_CASES: Counter = Counter()
ERROR_CODES = {400, 404, 409, 413, 415, 422}


def jobs_snapshot(conn) -> list[tuple]:
    rows = conn.execute('SELECT * FROM "BackgroundJob" ORDER BY id').fetchall()
    return [tuple(json.dumps(value, default=str) for value in row.values()) for row in rows]


@pytest.fixture
def gateway(conn, database):
    document = json.loads(openapi_document())
    return ApiGatewayWsgi(database, document["paths"].keys(), snapshot=lambda: jobs_snapshot(conn))


@pytest.fixture
def api_schema(gateway):
    """The OpenAPI document, read through the real handler as a client would."""
    return schemathesis.openapi.from_wsgi("/openapi.json", gateway)


@pytest.fixture(scope="module", autouse=True)
def report_fuzz_cases():
    yield
    if FUZZ_CASES:
        print(
            f"\n[api fuzz] cases={sum(FUZZ_CASES.values())} operations={len(FUZZ_CASES)} by_operation={dict(FUZZ_CASES)}"
        )


def error_body_is_json(ctx, response, case) -> None:
    """Every 4xx has the JSON error body {"error": {"status", "code", "message"}}."""
    if not 400 <= response.status_code < 500:
        return None
    error = json.loads(response.content)["error"]
    assert error["status"] == response.status_code, response.content
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert response.status_code in ERROR_CODES, f"undocumented status {response.status_code}"
    return None


def rejected_request_writes_nothing(ctx, response, case) -> None:
    exchange = case.operation.schema.app.exchanges[-1]
    if exchange.status >= 400:
        assert exchange.jobs_after == exchange.jobs_before, f"{exchange.method} {exchange.path} changed the jobs table"
    return None


CHECKS = [not_a_server_error, error_body_is_json, rejected_request_writes_nothing]


def fuzz(api_schema, *, examples: int, derandomize: bool) -> None:
    """Send ``examples`` valid and ``examples`` invalid requests per operation, checking each response."""
    # Driven through Hypothesis directly: schemathesis' own pytest plugin (4.32.5) fails under pytest 9.
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} ({mode.value})"

            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=derandomize,
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case):
                case.call_and_validate(checks=CHECKS)
                FUZZ_CASES[label] += 1  # noqa: B023 - send() runs within this iteration

            try:
                send()
            except Unsatisfiable:
                # An operation without parameters or body (GET /jobs/stats) has no invalid request to make.
                assert mode == GenerationMode.NEGATIVE


def test_api_fuzz(api_schema):
    fuzz(api_schema, examples=20, derandomize=True)


@pytest.mark.stress
def test_api_fuzz__many_cases(api_schema):
    fuzz(api_schema, examples=100, derandomize=False)


# -- SQL-like text -------------------------------------------------------------

SQL_TEXTS = [
    """'; DROP TABLE "BackgroundJob"; --""",
    "' OR '1'='1",
    """x'); DELETE FROM "BackgroundJob" WHERE ('1'='1""",
    '$$; TRUNCATE "BackgroundJob"; $$',
    "%(id)s %s {0} \\' \\\\",
    "1; SELECT pg_sleep(10)",
]

# Every string field and parameter of the OpenAPI document, as (method, path, where, name).
STRING_INPUTS = {
    ("post", "/jobs", "body", "payload"),
    ("post", "/jobs", "body", "dedupKey"),
    ("post", "/jobs", "body", "type"),
    ("post", "/jobs", "body", "scheduledAt"),
    ("post", "/jobs/bulk", "body", "jobs[].payload"),
    ("post", "/jobs/bulk", "body", "jobs[].dedupKey"),
    ("post", "/jobs/bulk", "body", "jobs[].type"),
    ("post", "/jobs/bulk", "body", "jobs[].scheduledAt"),
    ("get", "/jobs", "query", "status"),
    ("get", "/jobs", "query", "type"),
    ("get", "/jobs", "query", "cursor"),
    ("get", "/jobs/{id}", "path", "id"),
    ("post", "/jobs/{id}/cancel", "path", "id"),
    ("post", "/jobs/{id}/retry", "path", "id"),
    ("post", "/escalations", "body", "incidentId"),
    ("post", "/notifications", "body", "incidentId"),
    ("post", "/notifications", "body", "userId"),
    ("post", "/notifications", "body", "channel"),
    ("post", "/notifications", "body", "message"),
    ("post", "/auto-unsnooze", "body", "incidentId"),
    ("post", "/auto-unsnooze", "body", "snoozedUntil"),
    ("delete", "/incidents/{incidentId}/auto-unsnooze", "path", "incidentId"),
}


def _string_properties(schema: dict, components: dict, prefix: str = "") -> set[str]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    names = set()
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [prop])
        for option in options:
            if "$ref" in option:
                option = components[option["$ref"].rsplit("/", 1)[1]]
            if option.get("type") in ("string", "object") or "enum" in option:
                names.add(f"{prefix}{name}")
            if option.get("type") == "array":
                names |= _string_properties(option["items"], components, f"{prefix}{name}[].")
    return names


def test_sql_inputs_cover_every_string_input():
    document = json.loads(openapi_document())
    components = document["components"]["schemas"]
    declared = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") != "integer":
                    declared.add((method, path, parameter["in"], parameter["name"]))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                declared |= {(method, path, "body", name) for name in _string_properties(body, components)}
    assert declared == STRING_INPUTS


def valid_request(method: str, path: str, job_id: str) -> tuple[str, dict, dict]:
    """Return (path, query, body) of a request that succeeds, to put SQL-like text into one field of."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    job = {"type": "NOTIFICATION", "payload": {"note": "x"}, "dedupKey": "k", "scheduledAt": later}
    bodies = {
        "/jobs": job,
        "/jobs/bulk": {"jobs": [job]},
        "/escalations": {"incidentId": "inc_1", "stepIndex": 0},
        "/notifications": {"incidentId": "inc_1", "userId": "u_1", "channel": "EMAIL", "message": "hi"},
        "/auto-unsnooze": {"incidentId": "inc_1", "snoozedUntil": later},
    }
    concrete = path.replace("{id}", job_id).replace("{incidentId}", "inc_1")
    return concrete, {}, bodies.get(path, {}) if method == "post" else {}


def with_text(method: str, path: str, where: str, name: str, text: str, job_id: str) -> tuple[str, dict, dict]:
    concrete, query, body = valid_request(method, path, job_id)
    if where == "path":
        concrete = path.replace("{" + name + "}", text)
    elif where == "query":
        query[name] = encode_cursor(datetime.now(UTC), text) if name == "cursor" else text
    else:
        target = body["jobs"][0] if name.startswith("jobs[].") else body
        field = name.removeprefix("jobs[].")
        target[field] = {text: text, "nested": [text]} if field == "payload" else text
    return concrete, query, body


def stored_as_text(conn, text: str) -> bool:
    # row_to_json escapes text the way json.dumps does, in text columns and inside jsonb alike.
    row = conn.execute(
        """SELECT 1 FROM "BackgroundJob" AS job WHERE strpos(row_to_json(job)::text, %s) > 0""",
        (json.dumps(text, ensure_ascii=False)[1:-1],),
    ).fetchone()
    return row is not None


@pytest.mark.parametrize("text", SQL_TEXTS)
def test_sql_like_text_stored_or_rejected(conn, gateway, text):
    canary = enqueue(conn, NewJob("ESCALATION", {"incidentId": "canary"})).id
    client = Client(gateway)
    outcomes = Counter()
    for method, path, where, name in sorted(STRING_INPUTS):
        concrete, query, body = with_text(method, path, where, name, text, canary)
        url = quote(concrete, safe="/") + (f"?{urlencode(query)}" if query else "")
        kwargs = {"json": body} if method == "post" and body else {}
        response = client.open(url, method=method.upper(), **kwargs)
        exchange = gateway.exchanges[-1]
        outcomes[response.status_code] += 1
        FUZZ_CASES["sql-like text"] += 1

        assert response.status_code < 500, f"{method} {path} {name}: {response.get_data(as_text=True)}"
        if response.status_code >= 400:
            assert exchange.jobs_after == exchange.jobs_before
        assert conn.execute('SELECT 1 FROM "BackgroundJob" WHERE id = %s', (canary,)).fetchone(), "the canary is gone"
        if where == "body" and response.status_code in (200, 201):
            assert stored_as_text(conn, text), f"{method} {path} {name}: the text was not stored as sent"
    print(f"\n[sql-like text] text={text!r} statuses={dict(outcomes)}")


@pytest.mark.parametrize(
    ("scheduled_at", "status"),
    [
        ("1909-05-27T10:11:21-19:52", 201),
        ("2030-01-01T00:00:00+23:59", 201),
        ("0001-01-01T01:00:00+05:00", 422),
        ("9999-12-31T23:00:00-05:00", 422),
    ],
)
def test_bulk_scheduled_at_any_offset(gateway, scheduled_at, status):
    # Found by the fuzzer: PostgreSQL rejects UTC offsets past 15:59, which Python's datetime allows.
    job = {"type": "NOTIFICATION", "payload": {}, "scheduledAt": scheduled_at}
    response = Client(gateway).post("/jobs/bulk", json={"jobs": [job]})
    assert response.status_code == status, response.get_data(as_text=True)
