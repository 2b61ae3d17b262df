import pytest
from psycopg.conninfo import conninfo_to_dict

from jobqueue.config import Settings
from jobqueue.db import build_conninfo, is_local_host, redact
from jobqueue.errors import ConfigError


@pytest.mark.parametrize(
    ("host", "local"),
    [(None, True), ("/tmp/socket", True), ("localhost", True), ("127.0.0.1", True), ("::1", True),
     ("db.example.com", False), ("10.0.0.5", False)],
)
def test_is_local_host(host, local):
    assert is_local_host(host) is local


def test_conninfo_remote_requires_tls_by_default():
    params = conninfo_to_dict(build_conninfo(Settings.from_env({"DATABASE_URL": "postgresql://u:p@db.example.com/app"})))
    assert params["sslmode"] == "require"
    assert params["connect_timeout"] == "10"


def test_conninfo_remote_plaintext_rejected():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:p@db.example.com/app?sslmode=disable"})
    with pytest.raises(ConfigError, match="without TLS; use DB_SSLMODE=require"):
        build_conninfo(settings)


def test_conninfo_sslmode_setting_applies_to_remote():
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://u:p@db.example.com/app", "DB_SSLMODE": "verify-full",
         "DB_SSLROOTCERT": "/opt/rds-ca.pem"}
    )
    params = conninfo_to_dict(build_conninfo(settings))
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == "/opt/rds-ca.pem"


def test_conninfo_local_keeps_url_sslmode():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://postgres@127.0.0.1/app", "DB_SSLMODE": "require"})
    assert "sslmode" not in conninfo_to_dict(build_conninfo(settings))


def test_conninfo_missing_database_named():
    with pytest.raises(ConfigError, match="set DATABASE_URL .* or DB_SECRET_ARN"):
        build_conninfo(Settings.from_env({}))


def test_redact_hides_password():
    text = redact("postgresql://app:s3cret@db.example.com/app")
    assert "s3cret" not in text
    assert "db.example.com" in text
