"""Helpers for tests that start the local stack (``python -m jobqueue_local serve``) and send it HTTP requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from jobqueue_local.server import LocalStack
from tests.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"


@dataclass
class HttpResult:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    url: str, method: str = "GET", body: bytes | str | None = None, headers: dict[str, str] | None = None
) -> HttpResult:
    """Send one request with urllib and return the response, error statuses included."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return HttpResult(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpResult(error.code, error.headers, error.read())


def post_json(url: str, value: Any, headers: dict[str, str] | None = None) -> HttpResult:
    return http(url, "POST", json.dumps(value), {"Content-Type": "application/json", **(headers or {})})


@contextmanager
def running_stack(database_url: str, *, template: Path = TEMPLATE, processor_interval: float = 0) -> Iterator[LocalStack]:
    """Serve ``template`` on a free port of 127.0.0.1 against ``database_url`` until the block ends."""
    stack = LocalStack(
        template_path=template, database_url=database_url, port=0, processor_interval=processor_interval
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def wait_until(condition: Callable[[], bool], timeout_seconds: float, message: str) -> None:
    """Poll ``condition`` every 0.2 s; fail with ``message`` when it stays false for ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout_seconds:g} s")
        time.sleep(0.2)
