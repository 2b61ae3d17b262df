"""IAM database authentication: tokens made by boto3, and passed as the password of each new connection.

boto3 signs a token locally, so these tests need AWS credentials in the
environment (fake ones) but never reach AWS. A real RDS database is the
only thing that checks a token. Against the test PostgreSQL the tests
use a stub token instead, and a spy on ``psycopg.connect`` shows that
the stub was passed.
"""

from __future__ import annotations

import json
import urllib.parse

import boto3
import psycopg
import pytest

from jobqueue import db
from jobqueue.cli import ExitCode, main
from jobqueue.config import Settings
from jobqueue.db import IAM_TOKEN_REUSE_SECONDS, Database, IamTokens, build_conninfo, password_source
from jobqueue.errors import ConfigError

RDS_HOST = "mydb.cluster-abc123.us-east-1.rds.amazonaws.com"


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials and a region, enough for boto3 to sign; the metadata service is never asked."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def iam_settings(**env: str) -> Settings:
    return Settings.from_env({"DB_IAM_AUTH": "true", **env})


def test_iam_token_signed_for_user(aws_credentials):
    token = IamTokens(RDS_HOST, 5432, "jobqueue_app")()

    address, _, query = token.partition("/?")
    fields = urllib.parse.parse_qs(query)
    assert address == f"{RDS_HOST}:5432"
    assert fields["Action"] == ["connect"]
    assert fields["DBUser"] == ["jobqueue_app"]
    assert fields["X-Amz-Expires"] == ["900"]
    assert "us-east-1/rds-db/aws4_request" in fields["X-Amz-Credential"][0]
    assert fields["X-Amz-Signature"][0]


def test_iam_token_reused_then_renewed(aws_credentials):
    now = [1000.0]
    tokens = IamTokens(RDS_HOST, 5432, "jobqueue_app", clock=lambda: now[0])
    made_at = []
    tokens._make_token = lambda: made_at.append(now[0]) or f"token-{len(made_at)}"

    first = tokens()
    now[0] += IAM_TOKEN_REUSE_SECONDS - 1
    second = tokens()
    now[0] += 1
    third = tokens()

    assert first == second == "token-1"
    assert third == "token-2"
    assert made_at == [1000.0, 1000.0 + IAM_TOKEN_REUSE_SECONDS]


def test_iam_token_without_region_rejected(aws_credentials, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    with pytest.raises(ConfigError, match="needs an AWS region to sign tokens; set AWS_REGION"):
        IamTokens(RDS_HOST, 5432, "jobqueue_app")()


def test_iam_url_with_password_rejected():
    settings = iam_settings(DATABASE_URL=f"postgresql://jobqueue_app:secret@{RDS_HOST}/app")

    with pytest.raises(ConfigError, match="DATABASE_URL contains a password, but DB_IAM_AUTH=true"):
        build_conninfo(settings)


@pytest.mark.parametrize("url", [f"postgresql://{RDS_HOST}/app", "postgresql://jobqueue_app@/app?host=/tmp"])
def test_iam_needs_host_and_user(url):
    settings = iam_settings(DATABASE_URL=url)

    with pytest.raises(ConfigError, match="needs the database's host name and user"):
        password_source(settings, build_conninfo(settings))


def test_iam_off_has_no_password_source():
    settings = Settings.from_env({"DATABASE_URL": f"postgresql://jobqueue_app:secret@{RDS_HOST}/app"})

    assert password_source(settings, build_conninfo(settings)) is None


def test_get_database_uses_iam_tokens():
    settings = iam_settings(DATABASE_URL=f"postgresql://jobqueue_app@{RDS_HOST}:6432/app")
    db.reset_database()
    try:
        source = db.get_database(settings).password_source
    finally:
        db.reset_database()

    assert isinstance(source, IamTokens)
    assert (source.host, source.port, source.user) == (RDS_HOST, 6432, "jobqueue_app")


def test_iam_secret_needs_no_password(aws):
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(
        Name="jobqueue/iam", SecretString=json.dumps({"host": RDS_HOST, "port": 5432, "username": "jobqueue_app"})
    )["ARN"]

    conninfo = build_conninfo(iam_settings(DB_SECRET_ARN=arn))

    assert "password" not in psycopg.conninfo.conninfo_to_dict(conninfo)
    assert psycopg.conninfo.conninfo_to_dict(conninfo)["user"] == "jobqueue_app"


def test_iam_token_passed_on_connect(database, mocker):
    tokens = IamTokens(RDS_HOST, 5432, "postgres")
    mocker.patch.object(tokens, "_make_token", return_value="stub-token")
    spy = mocker.spy(psycopg, "connect")
    pool = Database(database, password_source=tokens)

    try:
        with pool.connection() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1
    finally:
        pool.close()

    assert spy.call_args.kwargs["password"] == "stub-token"


def test_cli_uses_iam_token(database, mocker, monkeypatch, capsys):
    monkeypatch.setenv("DB_IAM_AUTH", "true")
    # The test database may sit behind a Unix socket, which has no host name to sign a token for.
    source = mocker.patch("jobqueue.cli.commands.password_source", return_value=lambda: "stub-token")
    spy = mocker.spy(psycopg, "connect")

    code = main(["--json", "stats"])

    assert code == ExitCode.OK, capsys.readouterr().err
    settings, _ = source.call_args.args
    assert settings.db_iam_auth is True
    assert spy.call_args.kwargs["password"] == "stub-token"
