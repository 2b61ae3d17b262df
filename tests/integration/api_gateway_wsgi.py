"""A WSGI application that turns each HTTP request into an API Gateway REST proxy event for the API function.

Schemathesis drives WSGI applications in-process, so this adapter lets it
fuzz the real entry point (``ApiFunction`` in template.yaml, called through
the local runner) the way API Gateway would invoke it. Path, query string,
headers and body go into the event, and the function's response comes back
as the HTTP response. A body that is not UTF-8 arrives base64-encoded, as
API Gateway sends binary bodies.

Each call also records a snapshot of the jobs table before and after, so a
check can prove that a rejected request wrote nothing.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from jobqueue import config, db
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event

TEMPLATE = ROOT / "template.yaml"


@dataclass
class Exchange:
    """One request as the function saw it, its response, and the jobs table around it."""

    method: str
    path: str
    event: dict[str, Any]
    status: int
    body: str
    jobs_before: list[tuple]
    jobs_after: list[tuple]


@dataclass
class ApiGatewayWsgi:
    database_url: str
    # Resource templates as API Gateway declares them, such as /jobs/{id}.
    resources: Iterable[str]
    snapshot: Callable[[], list[tuple]]
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Static paths first: API Gateway prefers /jobs/stats to /jobs/{id}.
        ordered = sorted(self.resources, key=lambda resource: ("{" in resource, resource))
        self._routes = [(resource, _template_pattern(resource)) for resource in ordered]
        self._base_event = load_event("api-get-job.json")
        # The local runner keeps the layer's modules, so make sure they read this test's DATABASE_URL.
        config.reset_settings()
        db.reset_database()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        event = self.build_event(environ)
        before = self.snapshot()
        response = invoke(
            "ApiFunction", event, template_path=TEMPLATE, env_overrides={"DATABASE_URL": self.database_url}
        )
        after = self.snapshot()

        status = response["statusCode"]
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        self.exchanges.append(
            Exchange(event["httpMethod"], event["path"], event, status, raw.decode("utf-8", "replace"), before, after)
        )
        headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        start_response(f"{status} {_phrase(status)}", list(headers.items()))
        return [raw]

    def build_event(self, environ: dict[str, Any]) -> dict[str, Any]:
        path = environ.get("PATH_INFO") or "/"
        method = environ["REQUEST_METHOD"]
        resource, path_parameters = self._match(path)

        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers: dict[str, list[str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.setdefault(key[5:].replace("_", "-").title(), []).append(value)
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = [environ[key]]

        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw_body = environ["wsgi.input"].read(length) if length else b""
        try:
            body, is_base64 = raw_body.decode("utf-8"), False
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(raw_body).decode("ascii"), True

        event = copy.deepcopy(self._base_event)
        event.update(
            resource=resource,
            path=path,
            httpMethod=method,
            headers={name: values[-1] for name, values in headers.items()},
            multiValueHeaders=headers,
            queryStringParameters={name: values[-1] for name, values in query.items()} or None,
            multiValueQueryStringParameters=query or None,
            pathParameters=path_parameters,
            body=body if raw_body else None,
            isBase64Encoded=is_base64,
        )
        event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/Prod{path}")
        return event

    def _match(self, path: str) -> tuple[str, dict[str, str] | None]:
        for resource, pattern in self._routes:
            found = pattern.fullmatch(path)
            if found:
                return resource, found.groupdict() or None
        return path, None


def _template_pattern(resource: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", resource)
    regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
    return re.compile(regex)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
