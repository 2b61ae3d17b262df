"""Numbered SQL migrations and the code that applies them."""

from __future__ import annotations

from jobqueue.db import connect
from jobqueue.migrations.runner import apply_migrations, available_migrations, pending_migrations

__all__ = ["apply_migrations", "available_migrations", "migrate", "pending_migrations"]


def migrate(conninfo: str) -> list[str]:
    """Connect to ``conninfo``, apply pending migrations and return their names."""
    with connect(conninfo) as conn:
        return apply_migrations(conn)
