import pytest

from jobqueue.states import TRANSITIONS, JobStatus, sources_of


def test_transitions_cover_every_status():
    touched = {status for pair in TRANSITIONS for status in pair}
    assert touched == set(JobStatus)


@pytest.mark.parametrize(
    ("target", "cause", "expected"),
    [
        (JobStatus.CANCELLED, "cancel", (JobStatus.PENDING,)),
        (JobStatus.PENDING, "manual retry", (JobStatus.FAILED, JobStatus.CANCELLED)),
        (JobStatus.PROCESSING, "claim", (JobStatus.PENDING,)),
        (JobStatus.FAILED, "lease expiry", (JobStatus.PROCESSING,)),
    ],
)
def test_sources_of_cause(target, cause, expected):
    assert sources_of(target, cause) == expected


def test_completed_is_final():
    assert not any(source is JobStatus.COMPLETED for source, _ in TRANSITIONS)
