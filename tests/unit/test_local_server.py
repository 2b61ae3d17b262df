"""Tests for the local API server and the schedule timers, with a small echo function per test.

The echo function returns the event it received, so a test sends real HTTP
to 127.0.0.1 and checks the API Gateway event the function saw, then how
its proxy response came back as HTTP.
"""

from __future__ import annotations

import argparse
import base64
import http.client as http_client
import json
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobqueue_local.__main__ import _interval
from jobqueue_local.apigateway import to_http_response
from jobqueue_local.errors import LocalRunnerError, TemplateError
from jobqueue_local.routes import load_routes
from jobqueue_local.schedule import Schedule, load_schedules, parse_rate, scheduled_event
from jobqueue_local.server import LocalStack
from tests.local_stack import TEMPLATE, http, running_stack

ECHO_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: test
Globals:
  Function:
    Runtime: python3.13
    Timeout: 10
Resources:
  EchoApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      BinaryMediaTypes: ["application~1octet-stream"]
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo
      Handler: app.lambda_handler
      Events:
        Item:
          Type: Api
          Properties: {RestApiId: !Ref EchoApi, Path: "/items/{itemId}", Method: ANY}
        ItemStats:
          Type: Api
          Properties: {RestApiId: !Ref EchoApi, Path: /items/stats, Method: GET}
        Shaped:
          Type: Api
          Properties: {RestApiId: !Ref EchoApi, Path: "/shaped/{kind}", Method: GET}
        Implicit:
          Type: Api
          Properties: {Path: /implicit, Method: post}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute)}
        Nightly:
          Type: Schedule
          Properties: {Schedule: "cron(0 3 * * ? *)", Input: '{"action": "nightly"}'}
        Paused:
          Type: Schedule
          Properties: {Schedule: rate(2 hours), Enabled: false}
"""

ECHO_HANDLER = """\
import base64
import json


def lambda_handler(event, context):
    if event["resource"] != "/shaped/{kind}":
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
    kind = event["pathParameters"]["kind"]
    if kind == "headers":
        return {
            "statusCode": "201",
            "headers": {"X-Single": "one", "X-Both": "from-headers"},
            "multiValueHeaders": {"X-Multi": ["1", "2"], "X-Both": ["from-multi", "from-headers"]},
            "body": "",
        }
    if kind == "binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode(), "isBase64Encoded": True}
    if kind == "invalid":
        return {"body": "no status code"}
    raise RuntimeError("the echo function failed on purpose")
"""


@pytest.fixture
def echo_template(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(ECHO_TEMPLATE)
    folder = tmp_path / "functions" / "echo"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(ECHO_HANDLER)
    return tmp_path / "template.yaml"


@pytest.fixture
def echo_url(echo_template: Path):
    # The echo function never connects, so the database URL only has to be present.
    with running_stack("postgresql://unused@127.0.0.1/unused", template=echo_template) as stack:
        yield stack.url


# -- Routes -------------------------------------------------------------------


def test_routes_project_template() -> None:
    table = load_routes(TEMPLATE)
    routes = {(route.method, route.resource): route for route in table.routes}

    assert ("GET", "/dashboard") in routes
    assert ("GET", "/dashboard/jobs/{id}") in routes
    assert ("POST", "/jobs/{id}/cancel") in routes
    assert {route.function_id for route in table.routes} == {"ApiFunction"}
    assert {route.stage for route in table.routes} == {"v1"}


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("GET", "/jobs/stats", "/jobs/stats", {}),
        ("GET", "/jobs/abc", "/jobs/{id}", {"id": "abc"}),
        ("GET", "/jobs/a%20b%2Fc", "/jobs/{id}", {"id": "a b/c"}),
        ("POST", "/jobs/abc/cancel", "/jobs/{id}/cancel", {"id": "abc"}),
        ("GET", "/jobs/", "/jobs", {}),
        ("GET", "/dashboard/jobs/x", "/dashboard/jobs/{id}", {"id": "x"}),
    ],
)
def test_routes_find(method: str, path: str, resource: str, parameters: dict) -> None:
    match = load_routes(TEMPLATE).find(method, path)

    assert match is not None
    assert match.route.resource == resource
    assert match.path_parameters == parameters


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nothing"),
        ("DELETE", "/jobs"),
        # /jobs/stats is the best resource for this path, and it has no POST, so POST /jobs/{id} is not tried.
        ("POST", "/jobs/stats"),
        ("GET", "/jobs/abc/cancel/more"),
    ],
)
def test_routes_find_no_match(method: str, path: str) -> None:
    assert load_routes(TEMPLATE).find(method, path) is None


def test_routes_greedy_path_rejected(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            """\
            Resources:
              Proxy:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: .
                  Handler: app.handler
                  Events:
                    All:
                      Type: Api
                      Properties: {Path: "/{proxy+}", Method: ANY}
            """
        )
    )

    with pytest.raises(TemplateError, match=r"greedy path /\{proxy\+\}"):
        load_routes(template)


# -- HTTP to event ------------------------------------------------------------


def test_server_event_fields(echo_url: str) -> None:
    response = http(
        f"{echo_url}/items/a%20b?tag=x&tag=y&empty=&q=%C3%A9",
        "PUT",
        body='{"name": "é"}',
        headers={"Content-Type": "application/json", "X-Trace": "t-1", "User-Agent": "tests/1.0"},
    )

    assert response.status == 200, response.text
    event = response.json()
    assert event["resource"] == "/items/{itemId}"
    assert event["path"] == "/items/a%20b"
    assert event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"itemId": "a b"}
    assert event["queryStringParameters"] == {"tag": "y", "empty": "", "q": "é"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["x", "y"], "empty": [""], "q": ["é"]}
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["body"] == '{"name": "é"}'
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None

    context = event["requestContext"]
    assert context["stage"] == "test"
    assert context["resourcePath"] == "/items/{itemId}"
    assert context["httpMethod"] == "PUT"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tests/1.0"
    assert context["requestId"] == response.headers["x-amzn-RequestId"]


def test_server_event_without_query_or_body(echo_url: str) -> None:
    event = http(f"{echo_url}/items/1").json()

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None


def test_server_repeated_header_last_value(echo_url: str) -> None:
    # urllib cannot repeat a header, so this goes through http.client.
    address = urlsplit(echo_url)
    connection = http_client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest("GET", "/items/1")
    connection.putheader("X-Repeated", "first")
    connection.putheader("X-Repeated", "second")
    connection.endheaders()
    event = json.loads(connection.getresponse().read())
    connection.close()

    assert event["headers"]["X-Repeated"] == "second"
    assert event["multiValueHeaders"]["X-Repeated"] == ["first", "second"]


def test_server_binary_body_base64(echo_url: str) -> None:
    data = bytes(range(256))

    event = http(
        f"{echo_url}/items/1", "POST", body=data, headers={"Content-Type": "application/octet-stream"}
    ).json()

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data


def test_server_literal_segment_wins(echo_url: str) -> None:
    assert http(f"{echo_url}/items/stats").json()["resource"] == "/items/stats"
    # /items/stats has only GET, so a POST there is no match, as in API Gateway.
    assert http(f"{echo_url}/items/stats", "POST", body="{}").status == 403


def test_server_implicit_api_stage(echo_url: str) -> None:
    event = http(f"{echo_url}/implicit", "POST", body="x").json()

    assert event["requestContext"]["stage"] == "Prod"


def test_server_unknown_route_403(echo_url: str) -> None:
    response = http(f"{echo_url}/missing")

    assert response.status == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert response.headers["Content-Type"] == "application/json"


# -- Response to HTTP ---------------------------------------------------------


def test_server_response_headers_merged(echo_url: str) -> None:
    response = http(f"{echo_url}/shaped/headers")

    assert response.status == 201
    assert response.headers["X-Single"] == "one"
    assert response.headers.get_all("X-Multi") == ["1", "2"]
    assert response.headers.get_all("X-Both") == ["from-multi", "from-headers"]
    # API Gateway labels a response without Content-Type as JSON.
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == b""


def test_server_response_base64_decoded(echo_url: str) -> None:
    response = http(f"{echo_url}/shaped/binary")

    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.body == b"\x89PNG\x00\xff"


@pytest.mark.parametrize("kind", ["invalid", "raises"])
def test_server_function_failure_502(echo_url: str, kind: str) -> None:
    response = http(f"{echo_url}/shaped/{kind}")

    assert response.status == 502
    assert response.json() == {"message": "Internal server error"}


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ([], "not an object with statusCode"),
        ({"statusCode": 99}, "not an HTTP status code"),
        ({"statusCode": 200, "body": {"a": 1}}, "must be a string"),
        ({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, "not base64"),
        ({"statusCode": 200, "multiValueHeaders": {"X": "y"}}, "is not a list"),
    ],
)
def test_response_invalid_shapes(result: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        to_http_response(result, "request-1")


def test_server_listens_on_loopback_only(echo_template: Path) -> None:
    with running_stack("postgresql://unused@127.0.0.1/unused", template=echo_template) as stack:
        assert stack.url.startswith("http://127.0.0.1:")


def test_server_port_in_use(echo_template: Path) -> None:
    with running_stack("postgresql://unused@127.0.0.1/unused", template=echo_template) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        second = LocalStack(template_path=echo_template, database_url="postgresql://unused", port=port)

        with pytest.raises(LocalRunnerError, match=f"cannot listen on 127.0.0.1:{port}"):
            second.start()


# -- Schedules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(15 3 * * ? *)", None),
    ],
)
def test_parse_rate(expression: str, seconds: int | None) -> None:
    assert parse_rate(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(5 minute)", "must say minutes"),
        ("rate(1 minutes)", "must say minute"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 seconds)", "neither rate"),
        ("every 5 minutes", "neither rate"),
    ],
)
def test_parse_rate_invalid(expression: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        parse_rate(expression)


def test_load_schedules_project_template() -> None:
    schedules = {schedule.event_name: schedule for schedule in load_schedules(TEMPLATE)}

    assert set(schedules) == {"ProcessTick", "DailyCleanup"}
    assert schedules["ProcessTick"].function_id == "ProcessorFunction"
    assert schedules["ProcessTick"].rate_seconds == 300
    assert schedules["DailyCleanup"].rate_seconds is None
    assert json.loads(schedules["DailyCleanup"].input) == {"action": "cleanup"}


def test_load_schedules_parameter_override() -> None:
    schedules = load_schedules(TEMPLATE, {"ProcessorSchedule": "rate(1 minute)"})

    assert next(s for s in schedules if s.event_name == "ProcessTick").rate_seconds == 60


def test_load_schedules_skips_disabled(echo_template: Path) -> None:
    names = [schedule.event_name for schedule in load_schedules(echo_template)]

    assert names == ["Nightly", "Tick"]


def test_scheduled_event_shape() -> None:
    event = scheduled_event(Schedule("ProcessorFunction", "ProcessTick", "rate(5 minutes)", None), "eu-west-1")

    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["region"] == "eu-west-1"
    assert event["detail"] == {}
    assert event["time"].endswith("Z")


def test_scheduled_event_input_replaces_event() -> None:
    schedule = Schedule("ProcessorFunction", "DailyCleanup", "cron(15 3 * * ? *)", '{"action": "cleanup"}')

    assert scheduled_event(schedule, "us-east-1") == {"action": "cleanup"}


@pytest.mark.parametrize(("interval", "expected"), [(None, 60.0), (0, None), (2.5, 2.5)])
def test_stack_interval_of(echo_template: Path, interval: float | None, expected: float | None) -> None:
    stack = LocalStack(template_path=echo_template, database_url="postgresql://unused", processor_interval=interval)
    tick = next(schedule for schedule in stack.schedules if schedule.event_name == "Tick")
    nightly = next(schedule for schedule in stack.schedules if schedule.event_name == "Nightly")

    assert stack.interval_of(tick) == expected
    assert stack.interval_of(nightly) is None


@pytest.mark.parametrize(("text", "expected"), [("template", None), ("0", 0.0), ("10", 10.0), ("0.5", 0.5)])
def test_cli_processor_interval(text: str, expected: float | None) -> None:
    assert _interval(text) == expected


@pytest.mark.parametrize("text", ["-1", "often", "nan"])
def test_cli_processor_interval_invalid(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _interval(text)
