import re

import pytest

from jobqueue.sql import load, queries


def test_queries_loaded_by_name():
    assert "claim_due_jobs" in queries
    assert "jobqueue_claim(" in queries["claim_due_jobs"]


def test_queries_have_no_trailing_semicolon_or_comments():
    for name, statement in queries.items():
        assert not statement.endswith(";"), name
        assert not statement.startswith("--"), name


def test_load_duplicate_name_rejected():
    with pytest.raises(ValueError, match="defines 'a' twice"):
        load("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_every_statement_names_expected_status_when_updating_jobs():
    for name, statement in queries.items():
        if re.search(r'UPDATE "BackgroundJob"', statement):
            assert "status" in statement.split("WHERE", 1)[-1], name
