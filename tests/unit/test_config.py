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


def test_settings_notification_defaults():
    settings = Settings.from_env({})
    assert settings.ses_from_address is None
    assert settings.sms_type == "Transactional"
    assert settings.webhook_allowed_hosts == ()
    assert settings.webhook_timeout_seconds == 10


def test_settings_notification_values_read():
    settings = Settings.from_env(
        {
            "NOTIFY_TRANSPORT": "aws",
            "SES_FROM_ADDRESS": "Alerts <alerts@example.com>",
            "SES_CONFIGURATION_SET": "paging-events",
            "SMS_SENDER_ID": "Acme",
            "SMS_TYPE": "Promotional",
            "INCIDENT_URL_BASE": "https://app.example.com/incidents/{incidentId}",
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:8443, [::1]:9000, Hooks.Internal.example",
            "WEBHOOK_SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks-AbCdEf",
            "WEBHOOK_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert settings.notify_transport == "aws"
    assert settings.ses_from_address == "Alerts <alerts@example.com>"
    assert settings.ses_configuration_set == "paging-events"
    assert settings.sms_sender_id == "Acme"
    assert settings.sms_type == "Promotional"
    assert settings.incident_url_base == "https://app.example.com/incidents/{incidentId}"
    assert settings.webhook_allowed_hosts == (("127.0.0.1", 8443), ("::1", 9000), ("hooks.internal.example", None))
    assert settings.webhook_secrets_arn.endswith(":secret:webhooks-AbCdEf")
    assert settings.webhook_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SES_FROM_ADDRESS", "alerts", "SES_FROM_ADDRESS='alerts' is not an email address"),
        ("SES_FROM_ADDRESS", "a@b.com\nBcc: c@d.com", "is not an email address"),
        ("SES_CONFIGURATION_SET", "has space", "SES_CONFIGURATION_SET='has space' is invalid"),
        ("SMS_SENDER_ID", "123456", "SMS_SENDER_ID='123456' is invalid"),
        ("SMS_SENDER_ID", "TooLongSender", "SMS_SENDER_ID='TooLongSender' is invalid"),
        ("SMS_TYPE", "Urgent", "SMS_TYPE='Urgent' is invalid"),
        ("INCIDENT_URL_BASE", "app.example.com", "INCIDENT_URL_BASE='app.example.com' is not an http(s) URL"),
        ("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:0", "WEBHOOK_ALLOWED_HOSTS entry '127.0.0.1:0' has an invalid port"),
        ("WEBHOOK_ALLOWED_HOSTS", "[::1", "WEBHOOK_ALLOWED_HOSTS entry '[::1' is invalid"),
        ("WEBHOOK_ALLOWED_HOSTS", "bad host", "WEBHOOK_ALLOWED_HOSTS entry 'bad host' is not a host name"),
        ("WEBHOOK_SECRETS_ARN", "webhooks", "WEBHOOK_SECRETS_ARN='webhooks' is invalid"),
        ("WEBHOOK_TIMEOUT_SECONDS", "0", "WEBHOOK_TIMEOUT_SECONDS=0 is out of range"),
    ],
)
def test_settings_bad_notification_value_named(name, value, fragment):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value})
    assert fragment in str(raised.value)
