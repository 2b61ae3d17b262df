"""The API's pure parts: request models, body parsing, cursors and error wording, without a database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from jobqueue.api.body import BULK_MAX_REQUEST_BYTES, REQUEST_OVERHEAD_BYTES, max_request_bytes, parse_json_object
from jobqueue.api.cursor import decode_cursor, encode_cursor
from jobqueue.api.errors import ApiError, describe_problem, format_location, validation_error
from jobqueue.api.models import (
    AutoUnsnoozeRequest,
    CreateJobRequest,
    CreateJobsRequest,
    EscalationRequest,
    NotificationRequest,
)
from jobqueue.enqueue import validate
from jobqueue.states import JobType

GENERIC_PROBLEM = "is invalid; GET /openapi.json describes the expected value"


# -- request models ---------------------------------------------------------


def test_create_job_request_reads_camel_case():
    request = CreateJobRequest.model_validate(
        {
            "type": "ESCALATION",
            "payload": {"incidentId": "i1"},
            "scheduledAt": "2030-01-31T11:00:00+02:00",
            "maxAttempts": 5,
            "priority": -3,
            "dedupKey": "k",
        }
    )

    assert request.type is JobType.ESCALATION
    assert request.scheduled_at == datetime(2030, 1, 31, 9, tzinfo=UTC)
    assert (request.max_attempts, request.priority, request.dedup_key) == (5, -3, "k")


def test_to_new_job_passes_layer_validation():
    request = CreateJobRequest.model_validate({"type": "NOTIFICATION", "payload": {"a": 1}, "delaySeconds": 2.5})
    job = request.to_new_job()

    checked = validate(job)

    assert checked.delay_seconds == 2.5
    assert checked.run_at is None
    assert checked.max_attempts == 3


def test_create_job_request_accepts_whole_number_delay():
    request = CreateJobRequest.model_validate({"type": "NOTIFICATION", "payload": {}, "delaySeconds": 30})

    assert request.delay_seconds == 30.0


BAD_REQUESTS = [
    (CreateJobRequest, {"payload": {}}, ("type",)),
    (CreateJobRequest, {"type": "NOPE", "payload": {}}, ("type",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": 3}, ("payload",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "scheduledAt": "2030-01-31T09:00:00"}, ("scheduledAt",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "scheduledAt": "31/01/2030"}, ("scheduledAt",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "scheduledAt": 1.5}, ("scheduledAt",)),
    (
        CreateJobRequest,
        {"type": "ESCALATION", "payload": {}, "scheduledAt": "2030-01-31T09:00:00Z", "delaySeconds": 1},
        ("delaySeconds",),
    ),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "delaySeconds": "1"}, ("delaySeconds",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "maxAttempts": 2.0}, ("maxAttempts",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "maxAttempts": 1000}, ("maxAttempts",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "priority": False}, ("priority",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "dedupKey": 7}, ("dedupKey",)),
    (CreateJobRequest, {"type": "ESCALATION", "payload": {}, "max_attempts": 2}, ("max_attempts",)),
    (CreateJobsRequest, {"jobs": []}, ("jobs",)),
    (CreateJobsRequest, {"jobs": "many"}, ("jobs",)),
    (CreateJobsRequest, {"jobs": [{"type": "ESCALATION", "payload": {}}] * 501}, ("jobs",)),
    (EscalationRequest, {"incidentId": "i", "stepIndex": -1}, ("stepIndex",)),
    (EscalationRequest, {"incidentId": "i", "stepIndex": 2**31}, ("stepIndex",)),
    (EscalationRequest, {"incidentId": "", "stepIndex": 0}, ("incidentId",)),
    (EscalationRequest, {"incidentId": "x" * 256, "stepIndex": 0}, ("incidentId",)),
    (NotificationRequest, {"incidentId": "i", "userId": "u", "channel": "FAX", "message": "m"}, ("channel",)),
    (NotificationRequest, {"incidentId": "i", "userId": "u", "channel": "SMS", "message": "m" * 2001}, ("message",)),
    (NotificationRequest, {"incidentId": "i", "userId": "u\x00", "channel": "SMS", "message": "m"}, ("userId",)),
    (AutoUnsnoozeRequest, {"incidentId": "i", "snoozedUntil": "2030-01-31T09:00:00"}, ("snoozedUntil",)),
    (AutoUnsnoozeRequest, {"incidentId": "i", "snoozedUntil": True}, ("snoozedUntil",)),
]


@pytest.mark.parametrize(("model", "data", "loc"), BAD_REQUESTS)
def test_request_models_reject_bad_input(model, data, loc):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)

    assert loc in [error["loc"][: len(loc)] for error in caught.value.errors()]


@pytest.mark.parametrize(("model", "data", "loc"), BAD_REQUESTS)
def test_describe_problem_words_every_model_error(model, data, loc):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)

    for error in caught.value.errors():
        problem = describe_problem(error)
        assert problem != GENERIC_PROBLEM, error["type"]
        assert "Input should" not in problem


def test_request_models_are_documented_with_json_names():
    schema = CreateJobRequest.model_json_schema(by_alias=True)

    assert set(schema["properties"]) == {
        "type",
        "payload",
        "scheduledAt",
        "delaySeconds",
        "maxAttempts",
        "priority",
        "dedupKey",
    }
    assert schema["properties"]["scheduledAt"]["title"] == "scheduledAt"
    assert schema["additionalProperties"] is False


# -- body parsing -----------------------------------------------------------


def test_max_request_bytes_single_and_bulk():
    assert max_request_bytes(1000) == 1000 + REQUEST_OVERHEAD_BYTES
    assert max_request_bytes(1000, bulk=True) == BULK_MAX_REQUEST_BYTES
    assert max_request_bytes(BULK_MAX_REQUEST_BYTES, bulk=True) == BULK_MAX_REQUEST_BYTES + REQUEST_OVERHEAD_BYTES


def test_parse_json_object_returns_dict():
    assert parse_json_object('{"a": [1, 2.5, null]}', 100) == {"a": [1, 2.5, None]}


def test_parse_json_object_counts_utf8_bytes():
    text = json.dumps({"a": "é" * 10}, ensure_ascii=False)

    with pytest.raises(ApiError) as caught:
        parse_json_object(text, len(text))

    assert caught.value.status_code == 413
    assert caught.value.code == "request_too_large"


def test_parse_json_object_checks_size_before_parsing():
    with pytest.raises(ApiError) as caught:
        parse_json_object("not json at all", 5)

    assert caught.value.code == "request_too_large"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "invalid_json"),
        ("{'a': 1}", "invalid_json"),
        ('{"a": Infinity}', "invalid_json"),
        ('{"a": -Infinity}', "invalid_json"),
        ("[]", "invalid_body"),
        ("1", "invalid_body"),
        ("true", "invalid_body"),
        ("null", "invalid_body"),
    ],
)
def test_parse_json_object_rejects(text, code):
    with pytest.raises(ApiError) as caught:
        parse_json_object(text, 1000)

    assert caught.value.status_code == 400
    assert caught.value.code == code


# -- cursors ----------------------------------------------------------------


def test_cursor_round_trip():
    created_at = datetime(2030, 1, 31, 9, 0, 0, 123000, tzinfo=UTC)

    cursor = encode_cursor(created_at, "job-1")

    assert "=" not in cursor
    assert decode_cursor(cursor) == (created_at, "job-1")


def test_cursor_decodes_to_utc():
    created_at = datetime(2030, 1, 31, 11, tzinfo=timezone(timedelta(hours=2)))

    decoded_at, _ = decode_cursor(encode_cursor(created_at, "job-1"))

    assert decoded_at.utcoffset() == timedelta(0)
    assert decoded_at == created_at


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        _b64("not json"),
        _b64('{"createdAt": "2030-01-01T00:00:00Z", "id": "x"}'),
        _b64('["2030-01-01T00:00:00Z"]'),
        _b64('["2030-01-01T00:00:00Z", "x", "y"]'),
        _b64('["2030-01-01T00:00:00Z", 5]'),
        _b64('["later", "x"]'),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 5000,
    ],
)
def test_decode_cursor_rejects(cursor):
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor)

    assert caught.value.status_code == 422
    assert caught.value.fields[0]["field"] == "query.cursor"


# -- error wording ----------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("body", "payload"), "body.payload"),
        (("body", "jobs", 3, "payload"), "body.jobs[3].payload"),
        (("query", "limit"), "query.limit"),
        (("body",), "body"),
        ((), "request"),
    ],
)
def test_format_location(loc, text):
    assert format_location(loc) == text


def test_describe_problem_never_echoes_input():
    error = {"type": "string_too_long", "loc": ("body", "x"), "input": "SECRET" * 100, "ctx": {"max_length": 255}}

    assert describe_problem(error) == "must have at most 255 characters"


def test_describe_problem_unknown_type_is_generic():
    error = {"type": "url_parsing", "msg": "Input should be a valid URL, SECRET", "input": "SECRET"}

    assert describe_problem(error) == GENERIC_PROBLEM


def test_validation_error_caps_fields():
    problems = [(f"body.jobs[{index}].type", "is required") for index in range(80)]

    error = validation_error(problems)

    assert error.status_code == 422
    assert len(error.fields) == 50
    assert error.message == "Invalid request: body.jobs[0].type is required. 79 more problems listed in fields."


def test_validation_error_single_problem():
    error = validation_error([("query.cursor", "is not valid")])

    assert error.message == "Invalid request: query.cursor is not valid."
    assert error.fields == [{"field": "query.cursor", "problem": "is not valid"}]
