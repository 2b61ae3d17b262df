"""The API Gateway routes of a SAM template, and how a request path finds one.

Every ``Type: Api`` event of every ``AWS::Serverless::Function`` becomes a
route: its ``Path`` with ``{name}`` parameters, its ``Method`` (``ANY``
matches every method) and the stage of the API it belongs to. A request
matches the way API Gateway REST APIs match: segment by segment, a literal
segment wins over a ``{name}`` parameter, so ``/jobs/stats`` beats
``/jobs/{id}``. Greedy ``{name+}`` paths are not supported locally.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import TemplateError
from .intrinsics import IntrinsicResolver
from .template import FUNCTION_TYPE, load_template

logger = logging.getLogger(__name__)

API_TYPE = "AWS::Serverless::Api"
# SAM's implicit API, used by Api events without RestApiId, has this stage.
IMPLICIT_API_STAGE = "Prod"
_PARAMETER = re.compile(r"^\{([A-Za-z0-9_.-]+)\}$")


@dataclass(frozen=True)
class Route:
    """One Api event: which function handles which method on which path template."""

    function_id: str
    event_name: str
    method: str  # upper case; ANY matches every method
    resource: str  # the path template, such as /jobs/{id}
    stage: str
    # Path segments: a literal string, or None where the segment is a {name} parameter.
    segments: tuple[str | None, ...]
    parameter_names: tuple[str, ...]
    # The API's BinaryMediaTypes, such as image/png: request bodies of these types arrive as base64.
    binary_media_types: tuple[str, ...] = ()

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """Return the path parameters when the decoded ``segments`` fit this route, else None."""
        if len(segments) != len(self.segments):
            return None
        values: list[str] = []
        for expected, actual in zip(self.segments, segments):
            if expected is None:
                if not actual:
                    return None
                values.append(actual)
            elif expected != actual:
                return None
        return dict(zip(self.parameter_names, values))

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sort key that puts literal segments before parameters, position by position."""
        return tuple(1 if segment is None else 0 for segment in self.segments)


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


class RouteTable:
    """The routes of a template, looked up by method and path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda route: (route.resource, route.method))

    def find(self, method: str, raw_path: str) -> RouteMatch | None:
        """Return the route for ``method`` on ``raw_path`` (still percent-encoded), or None.

        Like API Gateway, the most specific path wins first, and only then
        the method: a GET on a path whose best match has only POST is no match.
        """
        segments = [unquote(segment) for segment in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
        candidates = [(route, route.match(segments)) for route in self.routes]
        matching = [(route, parameters) for route, parameters in candidates if parameters is not None]
        if not matching:
            return None
        best = min(route.specificity for route, _ in matching)
        on_resource = {route.method: (route, parameters) for route, parameters in matching if route.specificity == best}
        # A method of its own wins over ANY on the same resource.
        found = on_resource.get(method.upper()) or on_resource.get("ANY")
        return RouteMatch(*found) if found else None


def load_routes(template_path: Path | str, parameter_overrides: dict[str, str] | None = None) -> RouteTable:
    """Read the Api events of every function in the template.

    Raises ``TemplateError`` for an Api event without Path or Method, or
    with a greedy ``{proxy+}`` path, which the local server cannot serve.
    """
    template = load_template(template_path)
    resolver = IntrinsicResolver(template, parameter_overrides)
    resources = template["Resources"]

    routes: list[Route] = []
    for function_id, resource in sorted(resources.items()):
        if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if isinstance(event, dict) and event.get("Type") == "Api":
                properties = resolver.resolve(event.get("Properties") or {})
                routes.append(_route(function_id, event_name, properties, resources, resolver))
    return RouteTable(routes)


def _route(
    function_id: str,
    event_name: str,
    properties: dict[str, Any],
    resources: dict[str, Any],
    resolver: IntrinsicResolver,
) -> Route:
    where = f"{function_id} event {event_name}"
    path = properties.get("Path")
    method = properties.get("Method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise TemplateError(f"{where}: Path {path!r} must be a string that starts with /")
    if not isinstance(method, str) or not method:
        raise TemplateError(f"{where}: Method {method!r} must be an HTTP method such as GET, or ANY")

    segments: list[str | None] = []
    names: list[str] = []
    for segment in path.strip("/").split("/") if path.strip("/") else []:
        if segment.endswith("+}"):
            raise TemplateError(f"{where}: the greedy path {path} is not supported by the local server")
        parameter = _PARAMETER.match(segment)
        if parameter:
            segments.append(None)
            names.append(parameter.group(1))
        else:
            segments.append(segment)

    stage, binary_media_types = _api_settings(properties.get("RestApiId"), resources, resolver)
    return Route(
        function_id=function_id,
        event_name=event_name,
        method=method.upper(),
        resource=path,
        stage=stage,
        segments=tuple(segments),
        parameter_names=tuple(names),
        binary_media_types=binary_media_types,
    )


def _api_settings(
    rest_api_id: Any, resources: dict[str, Any], resolver: IntrinsicResolver
) -> tuple[str, tuple[str, ...]]:
    """Return the stage name and the binary media types of the API that ``rest_api_id`` names."""
    if rest_api_id is None:
        return IMPLICIT_API_STAGE, ()
    # A Ref to a resource resolves to its logical id (see IntrinsicResolver).
    api = resources.get(rest_api_id) if isinstance(rest_api_id, str) else None
    if not isinstance(api, dict) or api.get("Type") != API_TYPE:
        logger.warning(
            "RestApiId %r is not an AWS::Serverless::Api of this template; using stage %s",
            rest_api_id,
            IMPLICIT_API_STAGE,
        )
        return IMPLICIT_API_STAGE, ()
    properties = resolver.resolve(api.get("Properties") or {})
    stage = properties.get("StageName")
    # SAM writes the / of a media type as ~1, as in image~1png.
    binary = tuple(str(item).replace("~1", "/") for item in properties.get("BinaryMediaTypes") or ())
    return (stage if isinstance(stage, str) and stage else IMPLICIT_API_STAGE), binary
