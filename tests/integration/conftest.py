"""Fixtures for the tests that run processors as OS processes and count what they did."""

from __future__ import annotations

from pathlib import Path

import pytest

import jobqueue.tasks
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
def test_tasks():
    """Make the test-only tasks in ``tests/integration/tasks`` runnable by this process's SCHEDULED_TASK handler."""
    jobqueue.tasks.__path__.append(str(TEST_TASKS))
    jobqueue.tasks.reset_tasks()
    yield
    jobqueue.tasks.__path__.remove(str(TEST_TASKS))
    jobqueue.tasks.reset_tasks()
