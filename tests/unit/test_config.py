import pytest

from jobqueue.config import Settings
from jobqueue.errors import ConfigError


def test_settings_defaults():
    settings = Settings.from_env({})
    assert settings.batch_size == 50
    assert settings.retry_base_seconds == 5
    assert settings.retention_days == 7
    assert settings.max_payload_bytes == 256 * 1024
    assert settings.notify_transport == "log"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BATCH_SIZE", "abc", "BATCH_SIZE='abc' is not a whole number"),
        ("BATCH_SIZE", "0", "BATCH_SIZE=0 is out of range"),
        ("WORKER_THREADS", "1000", "WORKER_THREADS=1000 is out of range"),
        ("AUTO_MIGRATE", "maybe", "AUTO_MIGRATE='maybe' is invalid"),
        ("RETRY_BASE_SECONDS", "nan", "RETRY_BASE_SECONDS=nan is out of range"),
        ("RETRY_JITTER", "1.5", "RETRY_JITTER=1.5 is out of range"),
        ("DB_SSLMODE", "sometimes", "DB_SSLMODE='sometimes' is invalid"),
        ("NOTIFY_TRANSPORT", "pigeon", "NOTIFY_TRANSPORT='pigeon' is invalid"),
    ],
)
def test_settings_bad_value_named(name, value, fragment):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value})
    assert fragment in str(raised.value)


def test_settings_retry_max_below_base_rejected():
    with pytest.raises(ConfigError, match="RETRY_MAX_SECONDS=1 is below RETRY_BASE_SECONDS=5"):
        Settings.from_env({"RETRY_MAX_SECONDS": "1"})
