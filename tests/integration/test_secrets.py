"""Secrets: no password, token, secret or signature reaches a log line or an error body.

The database password is real: the test session's own server requires it.
Every test logs at DEBUG, the queue's logger and the root logger alike,
and searches everything written (JSON log lines, other loggers' records,
standard output and error, response bodies and exception messages).
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from jobqueue import config, db
from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue
from jobqueue.invocation import handle
from jobqueue.logs import logger
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.test_secret import rds_secret

SIGNATURE = "5f3c0ffee1234567890abcdef1234567890abcdef1234567890abcdef123456"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr-session-token-do-not-log"
API_KEY = "k3y-Do-Not-Log-0123456789"


@pytest.fixture
def everything_written(log_records, caplog, capsys):
    """Log at DEBUG everywhere; return a function that returns all text written so far."""
    caplog.set_level(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    texts: list[str] = []

    def written(*extra: str) -> str:
        captured = capsys.readouterr()
        texts.extend([captured.out, captured.err])
        return "\n".join([json.dumps(log_records()), caplog.text, *texts, *extra])

    def forget() -> None:
        """Drop what the test itself wrote while setting up, such as its own boto3 calls."""
        capsys.readouterr()
        caplog.clear()

    written.forget = forget
    yield written
    logger.setLevel(level)


def api(event: dict, database_url: str) -> dict:
    # In Lambda a function's environment never changes, but here one process switches databases.
    config.reset_settings()
    db.reset_database()
    return invoke(
        "ApiFunction", event, template_path=ROOT / "template.yaml", env_overrides={"DATABASE_URL": database_url}
    )


def process(monkeypatch, database_url: str) -> str:
    """Run one processor invocation against ``database_url``; return its counts or its error, as text."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    config.reset_settings()
    db.reset_database()
    try:
        return json.dumps(handle({"action": "process"}, request_id="r1", remaining_seconds=lambda: 600))
    except Exception as exc:  # noqa: BLE001 - the error's text is what the test searches
        return f"{type(exc).__name__}: {exc} (caused by {exc.__cause__!r})"


def test_database_password_never_written(own_server, own_database, everything_written, monkeypatch):
    password = own_server.password
    wrong_password = "wrong-pw-0b1d"
    with connect(own_database) as conn:
        enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))
    outputs = [process(monkeypatch, own_database)]
    assert '"processed": 1' in outputs[0]
    created = api(load_event("api-create-job.json"), own_database)
    assert created["statusCode"] == 201

    bad_login = own_server.url(own_database.split("dbname=")[1].split()[0], password=wrong_password)
    malformed = f"postgresql://postgres:{password}%zz@/jobqueue"
    for url in (bad_login, malformed):
        response = api(load_event("api-create-job.json"), url)
        assert response["statusCode"] in (500, 503)
        outputs.extend([response["body"], process(monkeypatch, url)])
    own_server.stop("fast")
    try:
        response = api(load_event("api-create-job.json"), own_database)
        outputs.extend([response["body"], process(monkeypatch, own_database)])
    finally:
        own_server.start()
    assert response["statusCode"] == 503

    text = everything_written(*outputs)
    assert "password authentication failed" in text, "the bad login must have been tried and logged"
    assert password not in text
    assert wrong_password not in text


@pytest.mark.parametrize("case", ["created", "invalid", "database-down"])
def test_request_credentials_never_written(database, everything_written, case):
    event = load_event("api-create-job.json")
    headers = {
        "Authorization": (
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20300101/us-east-1/execute-api/aws4_request, "
            f"SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={SIGNATURE}"
        ),
        "X-Amz-Security-Token": SESSION_TOKEN,
        "x-api-key": API_KEY,
    }
    event["headers"].update(headers)
    event["multiValueHeaders"].update({name: [value] for name, value in headers.items()})
    event["requestContext"]["identity"]["apiKey"] = API_KEY
    if case == "invalid":
        event["body"] = json.dumps({"type": "NOTIFICATION", "payload": [SESSION_TOKEN]})
    url = database if case != "database-down" else database.replace("dbname=", "dbname=no_such_db_")

    response = api(event, url)
    text = everything_written(json.dumps(response))

    assert response["statusCode"] == {"created": 201, "invalid": 422, "database-down": 503}[case]
    for secret in (SIGNATURE, SESSION_TOKEN, API_KEY):
        assert secret not in text


def test_secret_from_secrets_manager_never_written(database, aws, monkeypatch, everything_written):
    password = "pw-from-secrets-manager-9c1e"
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="jobqueue/debug", SecretString=json.dumps(rds_secret(database, password)))["ARN"]
    everything_written.forget()
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    config.reset_settings()
    db.reset_database()

    result = handle({"action": "process"}, request_id="r1", remaining_seconds=lambda: 600)

    text = everything_written(json.dumps(result))
    assert "GetSecretValue" in text, "botocore's DEBUG lines must have been captured"
    assert password not in text
