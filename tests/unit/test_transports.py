"""The transport registry and the ``log`` transport."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from jobqueue.errors import PermanentError
from jobqueue.transports import (
    Delivery,
    IncidentSummary,
    Recipient,
    SendResult,
    Transport,
    UnknownTransport,
    get_transport,
    register_transport,
    transport_names,
    unregister_transport,
)
from jobqueue.transports.log import LogTransport
from tests.conftest import ROOT


def make_delivery(incident: IncidentSummary | None = None) -> Delivery:
    return Delivery(
        job_id="job-1",
        channel="EMAIL",
        message="Disk full on db-1",
        user=Recipient(id="u1", name="Alice", email="alice@example.com", phone="+15550100"),
        incident=incident,
    )


class CountingTransport:
    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult(provider_message_id="counted")


@pytest.fixture
def transport_name():
    name = "test-transport"
    yield name
    unregister_transport(name)


def test_get_transport_log_builtin():
    transport = get_transport("log")

    assert isinstance(transport, LogTransport)
    assert isinstance(transport, Transport)
    assert "log" in transport_names()


def test_get_transport_reuses_instance():
    assert get_transport("log") is get_transport("log")


def test_get_transport_unknown_lists_registered():
    with pytest.raises(UnknownTransport) as raised:
        get_transport("pigeon")

    assert isinstance(raised.value, PermanentError)
    assert "'pigeon' is not registered" in str(raised.value)
    assert "registered transports: aws, log" in str(raised.value)
    assert "NOTIFY_TRANSPORT" in str(raised.value)


def test_register_transport_builds_on_first_use(transport_name):
    built = []

    def factory():
        built.append(CountingTransport())
        return built[-1]

    assert register_transport(transport_name, factory) is None
    assert built == []
    assert get_transport(transport_name) is built[0]
    assert transport_name in transport_names()


def test_register_transport_replaces_instance(transport_name):
    first, second = CountingTransport(), CountingTransport()
    register_transport(transport_name, lambda: first)
    assert get_transport(transport_name) is first

    previous = register_transport(transport_name, lambda: second)

    assert get_transport(transport_name) is second
    assert previous() is first


def test_unregister_transport_removes_name(transport_name):
    register_transport(transport_name, CountingTransport)
    get_transport(transport_name)

    unregister_transport(transport_name)

    assert transport_name not in transport_names()
    with pytest.raises(UnknownTransport):
        get_transport(transport_name)


@pytest.mark.parametrize(("name", "factory", "error"), [("", CountingTransport, ValueError), ("x", None, TypeError)])
def test_register_transport_invalid_rejected(name, factory, error):
    with pytest.raises(error):
        register_transport(name, factory)


def test_get_transport_builds_once_across_threads(transport_name):
    built = []
    barrier = threading.Barrier(8)

    def factory():
        built.append(CountingTransport())
        return built[-1]

    register_transport(transport_name, factory)
    results = []

    def look_up():
        barrier.wait()
        results.append(get_transport(transport_name))

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(built) == 1
    assert all(result is built[0] for result in results)


def test_log_transport_logs_ids_only(log_records):
    incident = IncidentSummary(id="i1", title="Disk full", status="OPEN", urgency="HIGH", service_name="db")

    result = LogTransport().send(make_delivery(incident))

    assert result == SendResult(provider_message_id="log-job-1")
    (line,) = [line for line in log_records() if line.get("action") == "notification_sent"]
    assert line["level"] == "INFO"
    assert line["job_id"] == "job-1"
    assert line["channel"] == "EMAIL"
    assert line["user_id"] == "u1"
    assert line["incident_id"] == "i1"
    assert line["provider_message_id"] == "log-job-1"
    text = str(log_records())
    assert "alice@example.com" not in text
    assert "+15550100" not in text
    assert "Disk full on db-1" not in text


def test_log_transport_without_incident(log_records):
    LogTransport().send(make_delivery())

    (line,) = [line for line in log_records() if line.get("action") == "notification_sent"]
    # Powertools leaves out fields whose value is None.
    assert line.get("incident_id") is None


def test_delivery_repr_hides_contact_and_message():
    text = repr(make_delivery())

    assert "u1" in text
    assert "alice@example.com" not in text
    assert "+15550100" not in text
    assert "Disk full on db-1" not in text


def test_api_function_never_imports_boto3():
    # A fresh interpreter, because this test process has imported boto3 long ago.
    code = (
        "import sys; import app; import jobqueue.transports; import jobqueue.handlers.notification; "
        "from jobqueue.transports import get_transport; get_transport('log'); "
        "print(sorted(name for name in ('boto3', 'jobqueue.transports.aws') if name in sys.modules))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "api"), str(ROOT / "layers" / "jobqueue")]),
    }

    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout

    assert output.strip() == "[]"
