"""A rotated database secret: a warm function reads the secret again when a new connection fails.

moto plays Secrets Manager. The stale secret points at a closed
port on 127.0.0.1, as an old password would fail the login, and the
rotated one at the test database.
"""

from __future__ import annotations

import json

import boto3
import pytest
from psycopg.conninfo import conninfo_to_dict

from jobqueue import config, db
from jobqueue.errors import DatabaseUnavailable


def secret_for(url: str, **changes) -> str:
    params = conninfo_to_dict(url)
    secret = {
        "engine": "postgres",
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "username": params.get("user", "postgres"),
        "password": "old-password",
        "dbname": params["dbname"],
    }
    return json.dumps(secret | changes)


@pytest.fixture
def secret_database(database, aws, monkeypatch):
    """Point the process at a secret whose first version cannot connect; yield (client, arn)."""
    client = boto3.client("secretsmanager")
    stale = secret_for(database, host="127.0.0.1", port=1)
    arn = client.create_secret(Name="jobqueue/rotated", SecretString=stale)["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    config.reset_settings()
    db.reset_database()
    yield client, arn
    db.reset_database()


def test_rotated_secret_read_again(secret_database, database, log_records):
    client, arn = secret_database
    pool = db.get_database()
    client.put_secret_value(SecretId=arn, SecretString=secret_for(database, password="new-password"))

    with pool.connection() as conn:
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1

    assert "new-password" in pool.conninfo
    assert [record["action"] for record in log_records() if record.get("action") == "secret_reloaded"] == [
        "secret_reloaded"
    ]
    assert not any("new-password" in json.dumps(record) for record in log_records())


def test_unchanged_secret_fails_once(secret_database):
    pool = db.get_database()

    with pytest.raises(DatabaseUnavailable, match="cannot connect to the database"):
        with pool.connection():
            pass
