"""Unit tests for the dashboard's rendering helpers in jobqueue.api.dashboard."""

from __future__ import annotations

import pytest

from jobqueue.api.dashboard import Filters, PageError, _duration, _history_time, _stats_html, root_prefix
from jobqueue.states import JobStatus, JobType


@pytest.mark.parametrize(
    ("resource", "prefix"),
    [
        ("/dashboard", "./"),
        ("/dashboard/jobs/{id}", "../../"),
        ("/dashboard/assets/{name}", "../../"),
    ],
)
def test_root_prefix(resource: str, prefix: str) -> None:
    assert root_prefix(resource) == prefix


def test_filters_query_round_trip() -> None:
    filters = Filters.parse("failed", "NOTIFICATION", "100", "abc")

    assert filters == Filters(JobStatus.FAILED, JobType.NOTIFICATION, 100, "abc")
    assert filters.query() == "?status=FAILED&type=NOTIFICATION&limit=100&cursor=abc"
    assert filters.query(cursor=None) == "?status=FAILED&type=NOTIFICATION&limit=100"
    assert Filters().query() == ""


def test_filters_query_encodes_cursor() -> None:
    assert Filters(cursor="a+b/c=").query() == "?cursor=a%2Bb%2Fc%3D"


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        (("DONE", None, None, None), "status"),
        ((None, "EMAIL", None, None), "type"),
        ((None, None, "1000", None), "limit"),
        ((None, None, "-25", None), "limit"),
    ],
)
def test_filters_parse_invalid(arguments: tuple, parameter: str) -> None:
    with pytest.raises(PageError) as raised:
        Filters.parse(*arguments)

    assert raised.value.status == 400
    assert raised.value.message.startswith(f"{parameter} ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "0.2 s"), (59.96, "60.0 s"), (75, "1 min 15 s"), (3 * 3600 + 120, "3 h 2 min"), (3 * 86400, "3 d 0 h")],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


def test_stats_unknown_type_not_linked() -> None:
    stats = {
        "total": 3,
        "pending": 3,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "oldestDueAgeSeconds": None,
        "byType": {"NOTIFICATION": {"pending": 2}, "CUSTOM_TYPE": {"pending": 1}},
    }

    html = _stats_html("./", stats)

    assert 'href="./dashboard?status=PENDING&amp;type=NOTIFICATION"' in html
    assert "type=CUSTOM_TYPE" not in html
    assert '<th scope="row">CUSTOM_TYPE</th><td class="number" data-label="PENDING">1</td>' in html
    assert "No job is due now." in html


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2030-01-01T10:00:00.000Z", ">2030-01-01 10:00:00 UTC<"),
        ("2030-01-01T12:00:00+02:00", ">2030-01-01 10:00:00 UTC<"),
        ("2030-01-01T10:00:00", ">2030-01-01 10:00:00 UTC<"),
        ("yesterday <b>", "yesterday &lt;b&gt;"),
    ],
)
def test_history_time(value: str, text: str) -> None:
    assert text in _history_time(value)
