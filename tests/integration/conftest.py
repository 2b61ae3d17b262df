"""Fixtures for the tests that run processors as OS processes and count what they did."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import jobqueue.tasks
from jobqueue import config, db
from tests.integration.processes import Lambdas, install_probes

TEST_TASKS = Path(__file__).resolve().parent / "tasks"


@pytest.fixture
def probes(conn):
    """The test's database with the probe tables and triggers of ``tests.integration.processes``."""
    install_probes(conn)
    return conn


@pytest.fixture
def lambdas(tmp_path, database):
    """Start entry-point processes against the test's database; any still running are killed afterwards."""
    runner = Lambdas(tmp_path, database)
    yield runner
    runner.kill_all()


@pytest.fixture
def extra_tasks():
    """Make the test-only tasks in ``tests/integration/tasks`` runnable by this process's SCHEDULED_TASK handler."""
    jobqueue.tasks.__path__.append(str(TEST_TASKS))
    jobqueue.tasks.reset_tasks()
    yield
    jobqueue.tasks.__path__.remove(str(TEST_TASKS))
    jobqueue.tasks.reset_tasks()


@pytest.fixture(scope="session")
def own_server():
    """A password-protected PostgreSQL server of this test session's own, which tests may stop and restart.

    Each test that stops it must start it again before it ends.
    """
    from tests.integration.own_server import OwnServer

    server = OwnServer(password=f"pw-{uuid.uuid4().hex}")
    server.start()
    yield server
    server.remove()


@pytest.fixture
def own_database(own_server, monkeypatch):
    """A fresh migrated database on ``own_server``; its URL, with the password, is also the process's DATABASE_URL."""
    url = own_server.create_migrated_database(f"jq_own_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("DATABASE_URL", url)
    config.reset_settings()
    db.reset_database()
    yield url
    db.reset_database()
    config.reset_settings()
