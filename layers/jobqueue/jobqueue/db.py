"""Database connections: where they come from, and keeping them healthy.

The connection string comes from ``DATABASE_URL`` or, in AWS, from the
RDS-managed secret named by ``DB_SECRET_ARN`` (read through Powertools
parameters, cached for five minutes). Connections:

- use TLS whenever the host is not the local machine;
- disable server-side prepared statements (``prepare_threshold=None``), so
  RDS Proxy and PgBouncer in transaction mode neither pin nor break them;
- run every session in UTC, and at READ COMMITTED even when the
  database's default isolation level is stricter;
- are kept in a small pool across warm invocations, pinged before reuse
  when they sat idle or the server sent them something, and replaced when
  they broke.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from jobqueue.config import Settings, get_settings
from jobqueue.errors import ConfigError, DatabaseUnavailable
from jobqueue.logs import logger

# A connection idle for longer than this is pinged before it is handed out;
# a Lambda environment may have been frozen for minutes in between.
PING_AFTER_IDLE_SECONDS = 5.0
SECRET_MAX_AGE_SECONDS = 300
_SECURE_SSLMODES = ("require", "verify-ca", "verify-full")


def is_local_host(host: str | None) -> bool:
    """Return True for a Unix socket path, ``localhost`` or a loopback address."""
    if not host:
        return True  # libpq's default is the local Unix socket
    first = host.split(",")[0].strip()
    if first.startswith("/") or first == "localhost":
        return True
    try:
        return ipaddress.ip_address(first).is_loopback
    except ValueError:
        return False


def build_conninfo(settings: Settings) -> str:
    """Return the libpq connection string the settings describe.

    Raises ``ConfigError`` when no database is configured, or when the
    settings would send credentials to a remote host without TLS.
    """
    if settings.database_url:
        try:
            params = conninfo_to_dict(settings.database_url)
        except psycopg.ProgrammingError:
            # from None: libpq's message quotes the part it could not parse, which may be the password.
            raise ConfigError(
                "DATABASE_URL is not a valid PostgreSQL connection string; use the form "
                "postgresql://user:password@host:5432/dbname, with special characters percent-encoded"
            ) from None
    elif settings.db_secret_arn:
        params = _params_from_secret(settings.db_secret_arn)
    else:
        raise ConfigError(
            "no database configured: set DATABASE_URL to a postgresql:// URL, "
            "or DB_SECRET_ARN to the ARN of an RDS-managed secret"
        )

    # DB_SSLMODE and DB_SSLROOTCERT apply to remote hosts only: a database
    # on this machine (a local run, the embedded server) needs no TLS.
    host = params.get("host")
    if not is_local_host(host):
        if settings.db_sslmode:
            params["sslmode"] = settings.db_sslmode
        if settings.db_sslrootcert:
            params["sslrootcert"] = settings.db_sslrootcert
        params.setdefault("sslmode", "require")
        if params["sslmode"] not in _SECURE_SSLMODES:
            raise ConfigError(
                f"sslmode={params['sslmode']!r} for remote host {host!r} would send credentials "
                f"without TLS; use DB_SSLMODE=require, verify-ca or verify-full"
            )
    params.setdefault("connect_timeout", str(settings.db_connect_timeout_seconds))
    params.setdefault("application_name", "jobqueue")
    return make_conninfo(**params)


class _DropResponseBodies(logging.Filter):
    """Drops botocore's DEBUG line with a whole response body, which for GetSecretValue contains the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Response body")


def _params_from_secret(secret_arn: str, *, force_fetch: bool = False) -> dict[str, str]:
    # Imported here: boto3 costs about 100 ms of cold start, and only
    # functions that read a secret need it.
    from aws_lambda_powertools.utilities import parameters

    # With the root logger at DEBUG, botocore logs every response body.
    botocore_parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _DropResponseBodies) for f in botocore_parsers.filters):
        botocore_parsers.addFilter(_DropResponseBodies())

    try:
        secret = parameters.get_secret(
            secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch
        )
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigError(
            f"cannot read the database secret {secret_arn!r}: {exc}; check DB_SECRET_ARN "
            f"and that the function's role may call secretsmanager:GetSecretValue on it"
        ) from exc
    missing = [key for key in ("host", "username", "password") if not secret.get(key)]
    if missing:
        raise ConfigError(
            f"the database secret {secret_arn!r} has no {', '.join(missing)}; "
            f"store an RDS-managed secret (host, port, username, password, dbname)"
        )
    return {
        "host": str(secret["host"]),
        "port": str(secret.get("port", 5432)),
        "user": str(secret["username"]),
        "password": str(secret["password"]),
        "dbname": str(secret.get("dbname") or secret.get("dbInstanceIdentifier") or "postgres"),
    }


def connect(conninfo: str, *, autocommit: bool = True) -> psycopg.Connection:
    """Open one connection with the queue's session settings.

    Raises ``DatabaseUnavailable`` naming the host when the server cannot
    be reached or rejects the login.
    """
    try:
        conn = psycopg.connect(
            conninfo,
            autocommit=autocommit,
            prepare_threshold=None,
            row_factory=dict_row,
            # The queue's SQL is written for READ COMMITTED. Under a database
            # default of REPEATABLE READ or SERIALIZABLE, autocommit statements
            # (an API enqueue) that race for a deduplication key would fail with
            # a serialization error.
            options=r"-c TimeZone=UTC -c default_transaction_isolation=read\ committed",
        )
    except psycopg.OperationalError as exc:
        host = conninfo_to_dict(conninfo).get("host", "local socket")
        raise DatabaseUnavailable(f"cannot connect to the database at {host!r}: {_first_line(exc)}") from exc
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    return conn


def _has_input(conn: psycopg.Connection) -> bool:
    """Return True when the server sent data to an idle connection.

    The queue never LISTENs, so an idle connection receives data only when
    the server ends it (pg_terminate_backend, a restart, a failover) with a
    last message. Checking costs no round trip.

    NOTE: a connection lost without a last message (a network partition) is
    noticed only by the ping after PING_AFTER_IDLE_SECONDS, so a call made
    sooner fails.
    """
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class Database:
    """A small pool of connections kept across warm invocations.

    ``connection()`` hands out a healthy connection and takes it back; a
    connection that broke while in use is closed instead of returned.
    The pool is thread-safe, so the processor's worker threads each hold
    one connection at a time.
    """

    def __init__(self, conninfo: str, *, max_idle: int = 16) -> None:
        self.conninfo = conninfo
        self.max_idle = max_idle
        self._idle: list[tuple[psycopg.Connection, float]] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    def _acquire(self) -> psycopg.Connection:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, idle_since = self._idle.pop()
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _has_input(conn):
                return conn
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error as exc:
                logger.warning("discarding a broken idle connection: %s", _first_line(exc))
                conn.close()
        return connect(self.conninfo)

    def _release(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken:
            conn.close()
            return
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # A caller left a transaction open; never hand that state on.
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()
                return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection; connections in use close on release."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


_database: Database | None = None
_database_lock = threading.Lock()


def get_database(settings: Settings | None = None) -> Database:
    """Return the process-wide ``Database``, creating it on first use.

    The connection string is resolved once per cold start; a rotated
    secret is picked up by ``reset_database()`` after a login failure.
    """
    global _database
    with _database_lock:
        if _database is None:
            _database = Database(build_conninfo(settings or get_settings()))
        return _database


def reset_database() -> None:
    """Forget the process-wide ``Database`` and close its idle connections."""
    global _database
    with _database_lock:
        if _database is not None:
            _database.close()
        _database = None


def redact(conninfo: str) -> str:
    """Return the connection string with its password replaced, for logs and errors."""
    params = conninfo_to_dict(conninfo)
    if "password" in params:
        params["password"] = quote("***")
    return make_conninfo(**params)
