"""Notification transports, looked up by the name in ``NOTIFY_TRANSPORT``.

The registry maps a name to a factory that builds the transport. A
factory runs on the first ``get_transport(name)`` of a process, and that
one instance is reused by every later NOTIFICATION job, so clients and
their connections survive across warm invocations. Factories import their
module themselves, so a process that never sends loads no client library.

Two are built in: ``log`` (writes a log line, for local runs) and ``aws``
(Amazon SES, Amazon SNS and HTTPS webhooks, see ``jobqueue.transports.aws``).
Another transport plugs in with ``register_transport("name", factory)``
before the first job runs; an unregistered name fails the job with
``UnknownTransport``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from jobqueue.errors import PermanentError
from jobqueue.transports.base import (
    Delivery,
    DeliveryError,
    DisabledDevice,
    IncidentSummary,
    NoDeliveryAddress,
    PermanentDeliveryError,
    PushDevice,
    Recipient,
    SendResult,
    TransientDeliveryError,
    Transport,
    WebhookTarget,
)

__all__ = [
    "Delivery",
    "DeliveryError",
    "DisabledDevice",
    "IncidentSummary",
    "NoDeliveryAddress",
    "PermanentDeliveryError",
    "PushDevice",
    "Recipient",
    "SendResult",
    "TransientDeliveryError",
    "Transport",
    "UnknownTransport",
    "WebhookTarget",
    "get_transport",
    "register_transport",
    "reset_transports",
    "transport_names",
    "unregister_transport",
]

TransportFactory = Callable[[], Transport]


class UnknownTransport(PermanentError):
    """No transport is registered under the requested name.

    A subclass of ``PermanentError``: retrying cannot fix a setting, so a
    NOTIFICATION job that hits it fails at once.
    """

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"notification transport {name!r} is not registered; registered transports: "
            f"{', '.join(known) or 'none'}. Set NOTIFY_TRANSPORT to one of them, or register "
            f"the transport with jobqueue.transports.register_transport"
        )
        self.name = name
        self.known = known


def _create_log_transport() -> Transport:
    from jobqueue.transports.log import LogTransport

    return LogTransport()


def _create_aws_transport() -> Transport:
    from jobqueue.transports.aws import AwsTransport

    return AwsTransport()


_factories: dict[str, TransportFactory] = {"log": _create_log_transport, "aws": _create_aws_transport}
_instances: dict[str, Transport] = {}
# Worker threads look transports up concurrently, and the lock makes sure
# a factory runs once per name.
_lock = threading.Lock()


def register_transport(name: str, factory: TransportFactory) -> TransportFactory | None:
    """Register ``factory`` under ``name`` and return the factory it replaced, or None.

    An instance already built under ``name`` is dropped, so the next
    ``get_transport(name)`` builds a new one with ``factory``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a transport name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"the factory for transport {name!r} must be callable, got {factory!r}")
    with _lock:
        previous = _factories.get(name)
        _factories[name] = factory
        _instances.pop(name, None)
    return previous


def unregister_transport(name: str) -> None:
    """Remove ``name`` and its built instance from the registry; do nothing when it is absent."""
    with _lock:
        _factories.pop(name, None)
        _instances.pop(name, None)


def transport_names() -> list[str]:
    """Return the registered transport names, sorted."""
    with _lock:
        return sorted(_factories)


def get_transport(name: str) -> Transport:
    """Return the process's transport instance for ``name``, building it on first use.

    Raises ``UnknownTransport`` listing the registered names when ``name``
    is not registered.
    """
    with _lock:
        instance = _instances.get(name)
        if instance is not None:
            return instance
        factory = _factories.get(name)
        if factory is None:
            raise UnknownTransport(name, sorted(_factories))
        instance = factory()
        _instances[name] = instance
        return instance


def reset_transports() -> None:
    """Drop every built instance, so the next ``get_transport`` builds anew with the current settings."""
    with _lock:
        _instances.clear()
