"""Settings read from the environment, validated once at cold start.

Each setting is an environment variable with a named default. A bad value
raises ``ConfigError`` naming the variable, its value and what it accepts,
so a misconfigured function fails on its first invocation, not mid-run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from jobqueue.errors import ConfigError

BATCH_SIZE = 50
WORKER_THREADS = 8
RETENTION_DAYS = 7
LEASE_MARGIN_SECONDS = 60
# Lease used when no Lambda context says how long the run may last.
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
