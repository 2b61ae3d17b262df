"""Settings read from the environment, validated once at cold start.

Each setting is an environment variable with a named default. A bad value
raises ``ConfigError`` naming the variable, its value and what it accepts,
so a misconfigured function fails on its first invocation, not mid-run.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from jobqueue.errors import ConfigError

BATCH_SIZE = 50
WORKER_THREADS = 8
RETENTION_DAYS = 7
LEASE_MARGIN_SECONDS = 60
# Lease used when no Lambda context gives the time the run may last.
DEFAULT_LEASE_SECONDS = 960
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0
RETRY_JITTER = 0.0
MAX_ATTEMPTS = 3
MAX_PAYLOAD_BYTES = 256 * 1024
# A job is not started when less than this is left of the invocation.
JOB_START_MARGIN_SECONDS = 10.0
CLEANUP_BATCH_SIZE = 5000
NOTIFY_TRANSPORT = "log"
DB_CONNECT_TIMEOUT_SECONDS = 10
# Notification delivery (NOTIFY_TRANSPORT=aws).
SMS_TYPE = "Transactional"
WEBHOOK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    db_secret_arn: str | None
    db_sslmode: str | None
    db_sslrootcert: str | None
    db_connect_timeout_seconds: int
    auto_migrate: bool
    batch_size: int
    worker_threads: int
    retention_days: int
    lease_margin_seconds: int
    retry_base_seconds: float
    retry_max_seconds: float
    retry_jitter: float
    max_payload_bytes: int
    job_start_margin_seconds: float
    cleanup_batch_size: int
    notify_transport: str
    # Notification delivery; see README "Notifications".
    ses_from_address: str | None = None
    ses_configuration_set: str | None = None
    sms_sender_id: str | None = None
    sms_type: str = SMS_TYPE
    incident_url_base: str | None = None
    # (host, port or None) pairs; see ``parse_allowed_hosts``.
    webhook_allowed_hosts: tuple[tuple[str, int | None], ...] = ()
    webhook_secrets_arn: str | None = None
    webhook_timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS
    # Last and with a default, so code that builds Settings by hand keeps working.
    db_iam_auth: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise ``ConfigError`` on the first bad one."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            database_url=reader.text("DATABASE_URL"),
            db_secret_arn=reader.text("DB_SECRET_ARN"),
            db_sslmode=reader.choice(
                "DB_SSLMODE", None, ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
            ),
            db_sslrootcert=reader.text("DB_SSLROOTCERT"),
            db_connect_timeout_seconds=reader.integer("DB_CONNECT_TIMEOUT_SECONDS", DB_CONNECT_TIMEOUT_SECONDS, 1, 300),
            auto_migrate=reader.boolean("AUTO_MIGRATE", False),
            batch_size=reader.integer("BATCH_SIZE", BATCH_SIZE, 1, 1000),
            worker_threads=reader.integer("WORKER_THREADS", WORKER_THREADS, 1, 64),
            retention_days=reader.integer("RETENTION_DAYS", RETENTION_DAYS, 1, 3650),
            lease_margin_seconds=reader.integer("LEASE_MARGIN_SECONDS", LEASE_MARGIN_SECONDS, 0, 3600),
            retry_base_seconds=reader.number("RETRY_BASE_SECONDS", RETRY_BASE_SECONDS, 0.0, 86400.0),
            retry_max_seconds=reader.number("RETRY_MAX_SECONDS", RETRY_MAX_SECONDS, 0.0, 7 * 86400.0),
            retry_jitter=reader.number("RETRY_JITTER", RETRY_JITTER, 0.0, 1.0),
            max_payload_bytes=reader.integer("MAX_PAYLOAD_BYTES", MAX_PAYLOAD_BYTES, 2, 64 * 1024 * 1024),
            job_start_margin_seconds=reader.number(
                "JOB_START_MARGIN_SECONDS", JOB_START_MARGIN_SECONDS, 0.0, 900.0
            ),
            cleanup_batch_size=reader.integer("CLEANUP_BATCH_SIZE", CLEANUP_BATCH_SIZE, 1, 100_000),
            notify_transport=reader.choice("NOTIFY_TRANSPORT", NOTIFY_TRANSPORT, ("log", "aws")),
            ses_from_address=_email_address(reader, "SES_FROM_ADDRESS"),
            ses_configuration_set=reader.pattern(
                "SES_CONFIGURATION_SET", _CONFIGURATION_SET, "1 to 64 letters, digits, '-' or '_'"
            ),
            sms_sender_id=reader.pattern(
                "SMS_SENDER_ID", _SENDER_ID, "1 to 11 letters and digits with at least one letter, no spaces"
            ),
            sms_type=reader.choice("SMS_TYPE", SMS_TYPE, ("Transactional", "Promotional")),
            incident_url_base=_url_base(reader, "INCIDENT_URL_BASE"),
            webhook_allowed_hosts=_allowed_hosts(reader, "WEBHOOK_ALLOWED_HOSTS"),
            webhook_secrets_arn=reader.pattern(
                "WEBHOOK_SECRETS_ARN", _SECRET_ARN, "the ARN of a Secrets Manager secret"
            ),
            webhook_timeout_seconds=reader.number("WEBHOOK_TIMEOUT_SECONDS", WEBHOOK_TIMEOUT_SECONDS, 0.5, 60.0),
            db_iam_auth=reader.boolean("DB_IAM_AUTH", False),
        )
        if settings.retry_max_seconds < settings.retry_base_seconds:
            raise ConfigError(
                f"RETRY_MAX_SECONDS={settings.retry_max_seconds:g} is below "
                f"RETRY_BASE_SECONDS={settings.retry_base_seconds:g}; raise the maximum or lower the base"
            )
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def choice(self, name: str, default: str | None, allowed: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is invalid; use one of: {', '.join(allowed)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} is invalid; use true or false")

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a whole number; use {minimum} to {maximum}") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name}={number} is out of range; use {minimum} to {maximum}")
        return number

    def number(self, name: str, default: float, minimum: float, maximum: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number; use {minimum:g} to {maximum:g}") from None
        if not minimum <= number <= maximum:  # also rejects NaN
            raise ConfigError(f"{name}={value} is out of range; use {minimum:g} to {maximum:g}")
        return number

    def pattern(self, name: str, regex: re.Pattern[str], accepted: str) -> str | None:
        value = self.text(name)
        if value is not None and not regex.fullmatch(value):
            raise ConfigError(f"{name}={value!r} is invalid; use {accepted}")
        return value


_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Amazon SNS sender IDs: up to 11 alphanumeric characters, at least one of them a letter.
_SENDER_ID = re.compile(r"(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,11}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+")
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _email_address(reader: _Reader, name: str) -> str | None:
    """Read a From address, either ``alerts@example.com`` or ``Alerts <alerts@example.com>``."""
    value = reader.text(name)
    if value is None:
        return None
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or "\n" in value or "\r" in value:
        raise ConfigError(
            f"{name}={value!r} is not an email address; use alerts@example.com or 'Alerts <alerts@example.com>'"
        )
    return value


def _url_base(reader: _Reader, name: str) -> str | None:
    """Read the base of incident links: an http(s) URL, optionally with an ``{incidentId}`` placeholder."""
    value = reader.text(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError(f"{name}={value!r} is not an http(s) URL; use for example https://app.example.com/incidents")
    return value


def parse_allowed_hosts(value: str, name: str = "WEBHOOK_ALLOWED_HOSTS") -> tuple[tuple[str, int | None], ...]:
    """Parse a comma-separated list of ``host``, ``host:port`` or ``[ipv6]:port`` entries.

    Host names are lowercased. Raises ``ConfigError`` naming ``name`` and the bad entry.
    """
    entries = []
    for raw in value.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        host, port = entry, None
        if entry.startswith("["):
            host, bracket, rest = entry[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ConfigError(f"{name} entry {raw.strip()!r} is invalid; write an IPv6 address as [::1]:8443")
            port_text = rest[1:] if rest else None
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
        else:
            port_text = None
        if port_text is not None:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ConfigError(f"{name} entry {raw.strip()!r} has an invalid port; use 1 to 65535")
            port = int(port_text)
        if not _valid_host(host):
            raise ConfigError(f"{name} entry {raw.strip()!r} is not a host name or IP address")
        entries.append((host, port))
    return tuple(entries)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host))


def _allowed_hosts(reader: _Reader, name: str) -> tuple[tuple[str, int | None], ...]:
    value = reader.text(name)
    return parse_allowed_hosts(value, name) if value else ()


_settings: Settings | None = None
_settings_lock = threading.Lock()


def get_settings() -> Settings:
    """Return the settings read from the environment at cold start."""
    global _settings
    with _settings_lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def reset_settings() -> None:
    """Forget the cached settings, so the next ``get_settings()`` reads the environment again."""
    global _settings
    with _settings_lock:
        _settings = None
