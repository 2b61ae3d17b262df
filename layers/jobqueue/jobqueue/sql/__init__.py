"""Named SQL statements, loaded from ``queries.sql``.

Every statement the queue runs lives in that one file, under a
``-- name: <name>`` marker and a one-line purpose. Code looks statements
up by name: ``queries["claim_due_jobs"]``.
"""

from __future__ import annotations

import re
from importlib import resources

_MARKER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load(text: str) -> dict[str, str]:
    """Split the text of a queries file into ``{name: statement}``."""
    parts = _MARKER.split(text)
    statements: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in statements:
            raise ValueError(f"queries.sql defines {name!r} twice; rename one of them")
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        statements[name] = "\n".join(lines).strip().rstrip(";")
    return statements


queries = load(resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8"))
