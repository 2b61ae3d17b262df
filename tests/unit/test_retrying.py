import psycopg.errors
import pytest

from jobqueue.retrying import SERIALIZATION_RETRIES, retry_serialization_failures


def failing_then(result, failures: list[BaseException]):
    calls = []

    def run():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return run, calls


def test_retry_serialization_failure_then_success():
    errors = [psycopg.errors.SerializationFailure("could not serialize"), psycopg.errors.DeadlockDetected("deadlock")]
    run, calls = failing_then("claimed", errors)
    assert retry_serialization_failures(run) == "claimed"
    assert len(calls) == 3


def test_retry_gives_up_after_attempts():
    errors = [psycopg.errors.SerializationFailure("could not serialize") for _ in range(SERIALIZATION_RETRIES)]
    run, calls = failing_then("never", errors)
    with pytest.raises(psycopg.errors.SerializationFailure):
        retry_serialization_failures(run)
    assert len(calls) == SERIALIZATION_RETRIES


def test_retry_other_errors_raised_at_once():
    run, calls = failing_then("never", [psycopg.errors.UniqueViolation("duplicate")])
    with pytest.raises(psycopg.errors.UniqueViolation):
        retry_serialization_failures(run)
    assert len(calls) == 1
