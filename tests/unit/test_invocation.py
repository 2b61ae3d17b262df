import pytest

from jobqueue.invocation import InvalidEvent, ProcessorRequest, parse_event
from jobqueue.states import JobType
from tests.conftest import load_event


def test_parse_scheduled_event():
    assert parse_event(load_event("processor-scheduled.json")) == ProcessorRequest()


def test_parse_manual_event():
    request = parse_event(load_event("processor-manual.json"))
    assert request.batch_size == 10
    assert request.max_jobs == 100
    assert request.types == tuple(JobType)


def test_parse_cleanup_event():
    assert parse_event(load_event("processor-cleanup.json")).action == "cleanup"


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"action": "explode"}, "action='explode' is invalid"),
        ({"batchSize": 0}, "batchSize=0 is invalid"),
        ({"batchSize": "10"}, "batchSize='10' is invalid"),
        ({"types": ["EMAIL"]}, "unknown job type"),
        ({"types": []}, "non-empty list"),
        ({"cleanup": "yes"}, "cleanup='yes' is invalid"),
    ],
)
def test_parse_bad_event_named(event, fragment):
    with pytest.raises(InvalidEvent) as raised:
        parse_event(event)
    assert fragment in str(raised.value)
