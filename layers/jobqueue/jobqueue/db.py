"""Database connections: where they come from, and keeping them healthy.

The connection string comes from ``DATABASE_URL`` or, in AWS, from the
RDS-managed secret named by ``DB_SECRET_ARN`` (read through Powertools
parameters, cached for five minutes). With ``DB_IAM_AUTH=true`` the
password is an RDS IAM authentication token instead, made for the URL's
or the secret's host, port and user (see ``IamTokens``). Connections:

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

import functools
import ipaddress
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
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


def build_conninfo(settings: Settings, *, force_fetch: bool = False) -> str:
    """Return the libpq connection string the settings describe.

    ``force_fetch`` reads the secret again instead of from its cache.

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
        if settings.db_iam_auth and params.get("password"):
            raise ConfigError(
                "DATABASE_URL contains a password, but DB_IAM_AUTH=true logs in with IAM tokens; "
                "remove the password from the URL, or set DB_IAM_AUTH=false"
            )
    elif settings.db_secret_arn:
        params = _params_from_secret(
            settings.db_secret_arn, force_fetch=force_fetch, require_password=not settings.db_iam_auth
        )
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


def _params_from_secret(secret_arn: str, *, force_fetch: bool = False, require_password: bool = True) -> dict[str, str]:
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
    required = ("host", "username", "password") if require_password else ("host", "username")
    missing = [key for key in required if not secret.get(key)]
    if missing:
        raise ConfigError(
            f"the database secret {secret_arn!r} has no {', '.join(missing)}; "
            f"store an RDS-managed secret (host, port, username, password, dbname)"
        )
    params = {
        "host": str(secret["host"]),
        "port": str(secret.get("port", 5432)),
        "user": str(secret["username"]),
        "dbname": str(secret.get("dbname") or secret.get("dbInstanceIdentifier") or "postgres"),
    }
    if require_password:
        params["password"] = str(secret["password"])
    return params


def connect(conninfo: str, *, autocommit: bool = True, password: str | None = None) -> psycopg.Connection:
    """Open one connection with the queue's session settings.

    ``password``, when given, replaces any password in ``conninfo``; an
    IAM token is passed this way. Raises ``DatabaseUnavailable`` naming
    the host when the server cannot be reached or rejects the login.
    """
    extra = {} if password is None else {"password": password}
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
            **extra,
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

    def __init__(
        self,
        conninfo: str,
        *,
        max_idle: int = 16,
        password_source: Callable[[], str] | None = None,
        reload_conninfo: Callable[[], str] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.max_idle = max_idle
        # Called when a new connection fails, to read a secret that may have been rotated.
        self.reload_conninfo = reload_conninfo
        # Called for each new connection; IamTokens makes a fresh token when the last one is old.
        self.password_source = password_source
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
        return self._connect()

    def _connect(self) -> psycopg.Connection:
        try:
            return connect(self.conninfo, password=self.password_source() if self.password_source else None)
        except DatabaseUnavailable:
            if self.reload_conninfo is None:
                raise
            # After a rotation the cached secret contains the old password, so
            # read it again and retry once, but only when it changed.
            fresh = self.reload_conninfo()
            if fresh == self.conninfo:
                raise
            logger.warning(
                "database connection failed; retrying with the secret read again", extra={"action": "secret_reloaded"}
            )
            self.conninfo = fresh
            return connect(self.conninfo, password=self.password_source() if self.password_source else None)

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

    The connection string is resolved once per cold start. When it comes
    from a secret and a new connection fails, the secret is read again,
    bypassing its cache, so a rotated password is picked up at once.
    """
    global _database
    with _database_lock:
        if _database is None:
            settings = settings or get_settings()
            conninfo = build_conninfo(settings)
            reload_conninfo = None
            if not settings.database_url and settings.db_secret_arn:
                reload_conninfo = functools.partial(build_conninfo, settings, force_fetch=True)
            _database = Database(
                conninfo, password_source=password_source(settings, conninfo), reload_conninfo=reload_conninfo
            )
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


# -- IAM database authentication ----------------------------------------------

# RDS accepts a token for 15 minutes after it is made. A new token is made
# after 10 minutes, so a slow connect never presents an expired one.
IAM_TOKEN_REUSE_SECONDS = 600


class IamTokens:
    """RDS IAM authentication tokens for one host, port and user, used as passwords.

    A token is a request signed with the function's AWS credentials, made
    locally by boto3 (``generate_db_auth_token``) without calling AWS. The
    database user needs ``GRANT rds_iam``, the caller the IAM permission
    ``rds-db:connect`` on that user, and the connection TLS.
    """

    def __init__(self, host: str, port: int, user: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._clock = clock
        self._lock = threading.Lock()
        self._client = None
        self._token: str | None = None
        self._made_at = 0.0

    def __call__(self) -> str:
        """Return a token younger than ``IAM_TOKEN_REUSE_SECONDS``, making a new one when needed."""
        with self._lock:
            if self._token is None or self._clock() - self._made_at >= IAM_TOKEN_REUSE_SECONDS:
                self._token = self._make_token()
                self._made_at = self._clock()
            return self._token

    def _make_token(self) -> str:
        if self._client is None:
            # Imported here: boto3 costs about 100 ms of cold start, and
            # only IAM authentication needs it.
            import boto3

            # Lambda sets AWS_REGION; boto3 itself reads only AWS_DEFAULT_REGION and the AWS config.
            region = os.environ.get("AWS_REGION") or boto3.session.Session().region_name
            if not region:
                raise ConfigError(
                    "DB_IAM_AUTH=true needs an AWS region to sign tokens; set AWS_REGION or AWS_DEFAULT_REGION"
                )
            self._client = boto3.client("rds", region_name=region)
        try:
            return self._client.generate_db_auth_token(DBHostname=self.host, Port=self.port, DBUsername=self.user)
        except Exception as exc:  # noqa: BLE001 - botocore raises several unrelated types here
            raise ConfigError(
                f"cannot make an IAM database token for user {self.user!r} at {self.host!r}: {exc}; "
                f"check the function's AWS credentials"
            ) from exc


def password_source(settings: Settings, conninfo: str) -> Callable[[], str] | None:
    """Return the ``IamTokens`` for ``conninfo`` when ``DB_IAM_AUTH`` is on, else None.

    Raises ``ConfigError`` when IAM authentication is on but the
    connection string names no host or user.
    """
    if not settings.db_iam_auth:
        return None
    params = conninfo_to_dict(conninfo)
    host, user = params.get("host"), params.get("user")
    if not host or host.startswith("/") or not user:
        raise ConfigError(
            "DB_IAM_AUTH=true needs the database's host name and user, as in "
            "postgresql://jobqueue_app@mydb.cluster-abc.us-east-1.rds.amazonaws.com/app"
        )
    return IamTokens(host.split(",")[0].strip(), int(params.get("port") or 5432), user)
