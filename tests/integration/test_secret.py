"""Database credentials from an RDS-managed secret in Secrets Manager (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from psycopg.conninfo import conninfo_to_dict

from jobqueue import config, db
from jobqueue.enqueue import NewJob, enqueue
from jobqueue.errors import ConfigError
from jobqueue.invocation import handle


def rds_secret(url: str, password: str = "") -> dict:
    params = conninfo_to_dict(url)
    return {
        "engine": "postgres",
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "username": params.get("user", "postgres"),
        "password": password,
        "dbname": params["dbname"],
    }


def test_processor_reads_database_from_secret(database, aws, monkeypatch, log_records):
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="jobqueue/db", SecretString=json.dumps(rds_secret(database, "pw-7f3a9c")))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    config.reset_settings()
    db.reset_database()
    with db.connect(database) as conn:
        enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"}))

    result = handle({"action": "process"}, request_id="r1", remaining_seconds=lambda: 600)

    assert result["processed"] == 1
    assert db.get_database().conninfo.count("pw-7f3a9c") == 1
    assert not any("pw-7f3a9c" in json.dumps(record) for record in log_records())


def test_secret_without_host_named(aws, monkeypatch):
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="jobqueue/bad", SecretString=json.dumps({"username": "u", "password": "p"}))["ARN"]
    settings = config.Settings.from_env({"DB_SECRET_ARN": arn})
    with pytest.raises(ConfigError, match="has no host"):
        db.build_conninfo(settings)


def test_secret_missing_named(aws):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(ConfigError, match="cannot read the database secret"):
        db.build_conninfo(config.Settings.from_env({"DB_SECRET_ARN": arn}))
