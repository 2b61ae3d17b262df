"""API Gateway REST proxy integration: an HTTP request to a Lambda event, a Lambda result to an HTTP response.

The event has the fields of API Gateway's proxy integration payload
(format 1.0). These are single- and multi-value headers and query
parameters, path parameters, the stage and request id in
``requestContext``, and the body as text, or as base64 when it is binary.
As in a deployed REST API, ``path``
stays percent-encoded while path and query parameters are decoded, and a
repeated header or query parameter keeps its last value in the single-value
maps.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from .intrinsics import ACCOUNT_ID
from .routes import RouteMatch

LOCAL_API_ID = "localapi01"
# API Gateway's response when no resource and method match, whatever the authentication.
MISSING_ROUTE_STATUS = 403
MISSING_ROUTE_BODY = '{"message":"Missing Authentication Token"}'
# API Gateway's response when the function fails or returns something that is not a proxy response.
BAD_RESPONSE_STATUS = 502
BAD_RESPONSE_BODY = '{"message": "Internal server error"}'


@dataclass
class HttpRequest:
    """A request as the local server received it."""

    method: str
    raw_path: str  # percent-encoded, without the query string
    query_string: str
    # (name, value) in the order received, names in the client's spelling.
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass
class HttpResponse:
    """A response for the local server to send."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str | None = None,
    binary_media_types: Iterable[str] = (),
    host: str = "127.0.0.1",
) -> dict[str, Any]:
    """Return the proxy integration event API Gateway would send for ``request`` on the matched route."""
    request_id = request_id or str(uuid.uuid4())
    now = time.time()
    headers, multi_headers = _single_and_multi(request.headers)
    query_pairs = parse_qsl(request.query_string, keep_blank_values=True)
    query, multi_query = _single_and_multi(query_pairs)
    body, is_base64 = _event_body(request.body, _header(request.headers, "content-type"), binary_media_types)
    user_agent = _header(request.headers, "user-agent")

    return {
        "resource": match.route.resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _resource_id(match.route.resource),
            "resourcePath": match.route.resource,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            # Like `sam local start-api`, local URLs carry no stage prefix, so neither does this path.
            "path": request.raw_path,
            "accountId": ACCOUNT_ID,
            "protocol": request.protocol,
            "stage": match.route.stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host,
            "apiId": LOCAL_API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def to_http_response(result: Any, request_id: str) -> HttpResponse:
    """Turn a function's proxy response into HTTP, or into API Gateway's 502 when it is malformed.

    ``headers`` and ``multiValueHeaders`` are merged as API Gateway merges
    them: every value of both, each distinct value once. A base64 body
    (``isBase64Encoded``) is decoded to its bytes. Raises ``ValueError``
    with the reason when the result is not a valid proxy response, so the
    caller can log it before it returns 502.
    """
    if not isinstance(result, Mapping):
        raise ValueError(f"the function returned {type(result).__name__}, not an object with statusCode")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status code")

    merged: dict[str, list[str]] = {}
    names: dict[str, str] = {}  # lower-case name -> the function's spelling
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
        for value in values:
            _add_header(merged, names, name, value)
    for name, value in (result.get("headers") or {}).items():
        _add_header(merged, names, name, value)

    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise ValueError(f"body is {type(body).__name__}; a proxy response's body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"isBase64Encoded is true but body is not base64: {exc}") from None
    else:
        data = body.encode("utf-8")

    headers = [(names[key], value) for key, values in merged.items() for value in values]
    if "content-type" not in merged:
        # API Gateway labels a response without a Content-Type as JSON.
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status, headers, data)


def missing_route_response(request_id: str) -> HttpResponse:
    """Return API Gateway's 403 for a method and path that no route has."""
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
    ]
    return HttpResponse(MISSING_ROUTE_STATUS, headers, MISSING_ROUTE_BODY.encode())


def bad_gateway_response(request_id: str) -> HttpResponse:
    """Return API Gateway's 502 for a function that failed or answered with an invalid response."""
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    return HttpResponse(BAD_RESPONSE_STATUS, headers, BAD_RESPONSE_BODY.encode())


def json_error_response(status: int, message: str, request_id: str) -> HttpResponse:
    """Return an error of API Gateway's own shape, {"message": ...}."""
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


def _single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _event_body(data: bytes, content_type: str | None, binary_media_types: Iterable[str]) -> tuple[str | None, bool]:
    if not data:
        return None, False
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type and any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in binary_media_types):
        return base64.b64encode(data).decode("ascii"), True
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        # NOTE: a deployed API without this media type in BinaryMediaTypes
        # would mangle such a body; the local server hands it over intact.
        return base64.b64encode(data).decode("ascii"), True


def _add_header(merged: dict[str, list[str]], names: dict[str, str], name: Any, value: Any) -> None:
    key = str(name).lower()
    names.setdefault(key, str(name))
    text = _header_value(value)
    values = merged.setdefault(key, [])
    if text not in values:
        values.append(text)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resource_id(resource: str) -> str:
    # API Gateway gives each resource a short random id; a stable one per path is enough locally.
    return uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6]
