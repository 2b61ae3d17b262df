"""Apply the numbered SQL migrations in this folder.

Each ``NNNN_name.sql`` file runs once, in name order, in its own
transaction, and is recorded in ``"_jobqueue_migrations"``. A session
advisory lock keeps two processes (say, two cold starts) from applying
the same migration at once. Running the migrations again changes nothing.
"""

from __future__ import annotations

from importlib import resources

import psycopg

from jobqueue.logs import logger
from jobqueue.sql import queries

# An arbitrary constant shared by every process that migrates this schema.
MIGRATION_LOCK_KEY = 7_216_530_118


def available_migrations() -> list[tuple[str, str]]:
    """Return ``(name, sql)`` for every migration file, in the order they apply."""
    folder = resources.files(__package__)
    files = sorted(entry for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in files]


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied.

    ``conn`` must be in autocommit mode: each migration gets its own
    transaction, and the advisory lock is held for the whole run.
    """
    if not conn.autocommit:
        raise ValueError("apply_migrations needs an autocommit connection; set conn.autocommit = True")

    conn.execute(queries["lock_migrations"], {"key": MIGRATION_LOCK_KEY})
    try:
        conn.execute(queries["create_migrations_table"])
        applied = {row["name"] for row in conn.execute(queries["list_applied_migrations"])}
        newly_applied = []
        for name, sql in available_migrations():
            if name in applied:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute(queries["record_migration"], {"name": name})
            logger.info("applied migration %s", name)
            newly_applied.append(name)
        return newly_applied
    finally:
        conn.execute(queries["unlock_migrations"], {"key": MIGRATION_LOCK_KEY})


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Return the names of the migrations not applied yet, in order, without applying or locking anything."""
    if not conn.execute(queries["find_migrations_table"]).fetchone()["present"]:
        return [name for name, _ in available_migrations()]
    applied = {row["name"] for row in conn.execute(queries["list_applied_migrations"])}
    return [name for name, _ in available_migrations() if name not in applied]
