"""Tests for the local runner in local/jobqueue_local, against a small template written per test."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from jobqueue_local import embedded
from jobqueue_local.__main__ import main
from jobqueue_local.context import LambdaContext
from jobqueue_local.errors import EnvVarsFileError, FunctionNotFound, HandlerNotFound, TemplateError
from jobqueue_local.intrinsics import placeholder
from jobqueue_local.invoke import invoke
from jobqueue_local.template import load_template, resolve_function

LAYER_MODULE = "local_runner_fixture_layer"

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  BatchSize:
    Type: Number
    Default: 25
  Subnets:
    Type: CommaDelimitedList
    Default: "subnet-a,subnet-b"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsNotProd: !Not [!Condition IsProd]
  IsDevInUsEast: !And [!Condition IsNotProd, !Equals [!Ref "AWS::Region", us-east-1]]
Mappings:
  StageSettings:
    dev:
      LogLevel: DEBUG
    prod:
      LogLevel: INFO
Globals:
  Function:
    Runtime: python3.13
    Timeout: 30
    MemorySize: 256
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        ONLY_GLOBALS: globals
        FROM_FUNCTION: globals
        FROM_PARAMETERS: globals
        FROM_FUNCTION_SECTION: globals
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared
    Metadata:
      BuildMethod: makefile
  JobsQueue:
    Type: AWS::SQS::Queue
  FirstFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/first
      Handler: app.lambda_handler
      Timeout: 5
      Environment:
        Variables:
          FROM_FUNCTION: function
          FROM_PARAMETERS: function
          FROM_FUNCTION_SECTION: function
          STAGE: !Ref Stage
          BATCH_SIZE: !Ref BatchSize
          MODE: !If [IsProd, production, development]
          DEV_IN_US_EAST: !If [IsDevInUsEast, "yes", "no"]
          OPTIONAL: !If [IsProd, set-in-prod, !Ref "AWS::NoValue"]
          SCOPE: !Sub "${AWS::StackName}-${Stage}-${AWS::Region}-${AWS::AccountId}"
          LITERAL: !Sub "${!NotAVariable}"
          QUEUE_NAME: !Ref JobsQueue
          QUEUE_ARN: !GetAtt JobsQueue.Arn
          LOG_LEVEL: !FindInMap [StageSettings, !Ref Stage, LogLevel]
          SECOND_SUBNET: !Select [1, !Ref Subnets]
          JOINED: !Join ["+", [a, !Ref Stage]]
          ENABLED: true
  SecondFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-second"
      CodeUri: functions/second
      Handler: app.lambda_handler
"""

HANDLER = """\
import os
import time

import helper
import {layer}

invocations = 0


def lambda_handler(event, context):
    global invocations
    invocations += 1
    first_remaining_ms = context.get_remaining_time_in_millis()
    time.sleep(event.get("sleep_seconds", 0))
    return {{
        "function": "{name}",
        "helper": helper.NAME,
        "layer": {layer}.NAME,
        "invocations": invocations,
        "remaining_ms": [first_remaining_ms, context.get_remaining_time_in_millis()],
        "environment": {{name: os.environ.get(name) for name in event.get("variables", [])}},
        "context": {{
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
        }},
    }}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Write a project with two functions that both have app.py and helper.py, and one layer."""
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for name in ("first", "second"):
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(HANDLER.format(name=name, layer=LAYER_MODULE))
        (folder / "helper.py").write_text(f"NAME = 'helper of {name}'\n")
    layer = tmp_path / "layers" / "shared"
    layer.mkdir(parents=True)
    (layer / f"{LAYER_MODULE}.py").write_text("NAME = 'shared layer'\n")

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # Layer modules stay imported for the whole process, so drop the one this fixture wrote.
    monkeypatch.delitem(sys.modules, LAYER_MODULE, raising=False)
    yield tmp_path
    sys.modules.pop(LAYER_MODULE, None)


def write_template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    (tmp_path / "functions" / "first").mkdir(parents=True, exist_ok=True)
    return path


def test_load_template_short_form_tags(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """\
        Resources:
          Example:
            Type: AWS::Serverless::Function
            Properties:
              Ref: !Ref Stage
              Sub: !Sub "${AWS::Region}-x"
              SubWithVariables: !Sub ["${Name}", {Name: !Ref Stage}]
              GetAttShort: !GetAtt Database.Endpoint.Address
              GetAttList: !GetAtt [Queue, Arn]
              If: !If [IsProd, a, b]
              Equals: !Equals [!Ref Stage, prod]
              Not: !Not [!Condition IsProd]
              And: !And [!Condition IsProd, !Condition IsBig]
              Or: !Or [!Condition IsProd, !Condition IsBig]
              Join: !Join [",", [a, b]]
              Select: !Select [0, [a, b]]
              Split: !Split [",", "a,b"]
              FindInMap: !FindInMap [Map, Top, Second]
              ImportValue: !ImportValue shared-vpc
              Base64: !Base64 text
              GetAZs: !GetAZs ""
        """,
    )

    properties = load_template(path)["Resources"]["Example"]["Properties"]

    assert properties["Ref"] == {"Ref": "Stage"}
    assert properties["Sub"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert properties["SubWithVariables"] == {"Fn::Sub": ["${Name}", {"Name": {"Ref": "Stage"}}]}
    assert properties["GetAttShort"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
    assert properties["GetAttList"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert properties["If"] == {"Fn::If": ["IsProd", "a", "b"]}
    assert properties["Equals"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert properties["Not"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert properties["And"] == {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsBig"}]}
    assert properties["Or"] == {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsBig"}]}
    assert properties["Join"] == {"Fn::Join": [",", ["a", "b"]]}
    assert properties["Select"] == {"Fn::Select": [0, ["a", "b"]]}
    assert properties["Split"] == {"Fn::Split": [",", "a,b"]}
    assert properties["FindInMap"] == {"Fn::FindInMap": ["Map", "Top", "Second"]}
    assert properties["ImportValue"] == {"Fn::ImportValue": "shared-vpc"}
    assert properties["Base64"] == {"Fn::Base64": "text"}
    assert properties["GetAZs"] == {"Fn::GetAZs": ""}


def test_load_template_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found"):
        load_template(tmp_path / "missing.yaml")


def test_resolve_function_env_precedence(project: Path) -> None:
    env_vars = project / "env.json"
    env_vars.write_text(
        json.dumps(
            {
                "Parameters": {"FROM_PARAMETERS": "parameters", "FROM_FUNCTION_SECTION": "parameters"},
                "FirstFunction": {"FROM_FUNCTION_SECTION": "function section", "UNDECLARED": "x"},
                "SecondFunction": {"FROM_FUNCTION_SECTION": "other function"},
            }
        )
    )

    config = resolve_function(project / "template.yaml", "FirstFunction", env_vars_file=env_vars)

    assert config.environment["ONLY_GLOBALS"] == "globals"
    assert config.environment["FROM_FUNCTION"] == "function"
    assert config.environment["FROM_PARAMETERS"] == "parameters"
    assert config.environment["FROM_FUNCTION_SECTION"] == "function section"
    # Like sam local invoke, the file only sets variables the template declares.
    assert "UNDECLARED" not in config.environment
    assert config.ignored_overrides == ("UNDECLARED",)


def test_resolve_function_section_by_name(project: Path) -> None:
    env_vars = project / "env.json"
    env_vars.write_text(json.dumps({"local-second": {"FROM_FUNCTION_SECTION": "by name"}}))

    config = resolve_function(project / "template.yaml", "SecondFunction", env_vars_file=env_vars)

    assert config.function_name == "local-second"
    assert config.environment["FROM_FUNCTION_SECTION"] == "by name"


def test_resolve_function_shell_env_precedence(project: Path) -> None:
    env_vars = project / "env.json"
    env_vars.write_text(json.dumps({"Parameters": {"FROM_PARAMETERS": "parameters"}}))
    shell = {"FROM_FUNCTION": "shell", "FROM_PARAMETERS": "shell", "NOT_DECLARED": "shell"}

    config = resolve_function(project / "template.yaml", "FirstFunction", env_vars_file=env_vars, shell_env=shell)

    assert config.environment["FROM_FUNCTION"] == "shell"
    assert config.environment["FROM_PARAMETERS"] == "parameters"
    assert "NOT_DECLARED" not in config.environment


def test_resolve_function_ref_parameter_default(project: Path) -> None:
    environment = resolve_function(project / "template.yaml", "FirstFunction").environment

    assert environment["STAGE"] == "dev"
    assert environment["BATCH_SIZE"] == "25"
    assert environment["LOG_LEVEL"] == "DEBUG"
    assert environment["SECOND_SUBNET"] == "subnet-b"
    assert environment["JOINED"] == "a+dev"
    assert environment["ENABLED"] == "true"


def test_resolve_function_parameter_override(project: Path) -> None:
    config = resolve_function(project / "template.yaml", "FirstFunction", parameter_overrides={"BatchSize": "7"})

    assert config.environment["BATCH_SIZE"] == "7"


@pytest.mark.parametrize(
    ("stage", "mode", "dev_in_us_east", "optional"),
    [
        ("dev", "development", "yes", None),
        ("prod", "production", "no", "set-in-prod"),
    ],
)
def test_resolve_function_if_condition(
    project: Path, stage: str, mode: str, dev_in_us_east: str, optional: str | None
) -> None:
    environment = resolve_function(
        project / "template.yaml", "FirstFunction", parameter_overrides={"Stage": stage}
    ).environment

    assert environment["MODE"] == mode
    assert environment["DEV_IN_US_EAST"] == dev_in_us_east
    # Fn::If giving AWS::NoValue removes the variable.
    assert environment.get("OPTIONAL") == optional


def test_resolve_function_pseudo_parameters(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    config = resolve_function(project / "template.yaml", "FirstFunction")

    assert config.region == "eu-west-1"
    assert config.environment["SCOPE"] == "local-dev-eu-west-1-123456789012"
    assert config.environment["LITERAL"] == "${NotAVariable}"
    # The condition compares AWS::Region with us-east-1.
    assert config.environment["DEV_IN_US_EAST"] == "no"


def test_resolve_function_resource_references(project: Path) -> None:
    config = resolve_function(project / "template.yaml", "FirstFunction")

    assert config.environment["QUEUE_NAME"] == "JobsQueue"
    assert config.environment["QUEUE_ARN"] == placeholder("Fn::GetAtt JobsQueue.Arn")
    assert config.unresolved_variables == ("QUEUE_ARN",)


def test_resolve_function_paths_and_sizes(project: Path) -> None:
    config = resolve_function(project / "template.yaml", "FirstFunction")

    assert config.code_uri == (project / "functions" / "first").resolve()
    assert config.handler == "app.lambda_handler"
    assert config.memory_mb == 256
    assert config.layer_paths == ((project / "layers" / "shared").resolve(),)


@pytest.mark.parametrize(
    ("globals_timeout", "function_timeout", "expected"),
    [
        ("Timeout: 40", "Timeout: 12", 12),
        ("Timeout: 40", "", 40),
        ("", "", 3),
    ],
)
def test_resolve_function_timeout_fallback(
    tmp_path: Path, globals_timeout: str, function_timeout: str, expected: int
) -> None:
    path = write_template(
        tmp_path,
        f"""\
        Globals:
          Function:
            MemorySize: 512
            {globals_timeout}
        Resources:
          FirstFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/first
              Handler: app.lambda_handler
              {function_timeout}
        """,
    )

    assert resolve_function(path, "FirstFunction").timeout_seconds == expected


def test_resolve_function_unknown_function_id(project: Path) -> None:
    with pytest.raises(FunctionNotFound) as raised:
        resolve_function(project / "template.yaml", "SharedLayer")

    assert raised.value.known_ids == ["FirstFunction", "SecondFunction"]
    assert "FirstFunction, SecondFunction" in str(raised.value)


def test_resolve_function_undefined_condition(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """\
        Resources:
          FirstFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/first
              Handler: app.lambda_handler
              Timeout: !If [Missing, 1, 2]
        """,
    )

    with pytest.raises(TemplateError, match="condition 'Missing' is not defined"):
        resolve_function(path, "FirstFunction")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["Parameters"]', "must contain a JSON object"),
        ('{"Parameters": "LEVEL=debug"}', "must map variable names to values"),
    ],
)
def test_resolve_function_invalid_env_vars_file(project: Path, content: str, message: str) -> None:
    env_vars = project / "env.json"
    env_vars.write_text(content)

    with pytest.raises(EnvVarsFileError, match=message):
        resolve_function(project / "template.yaml", "FirstFunction", env_vars_file=env_vars)


def test_lambda_context_remaining_time_counts_down() -> None:
    now = [100.0]
    context = LambdaContext(
        function_name="fn",
        memory_mb=128,
        timeout_seconds=3,
        region="us-east-1",
        log_stream_name="stream",
        clock=lambda: now[0],
    )

    assert context.get_remaining_time_in_millis() == 3000
    now[0] += 1.25
    assert context.get_remaining_time_in_millis() == 1750
    now[0] += 5
    assert context.get_remaining_time_in_millis() == 0


def test_invoke_context_attributes(project: Path) -> None:
    first = invoke("FirstFunction", {"sleep_seconds": 0.05}, template_path=project / "template.yaml")
    second = invoke("FirstFunction", {}, template_path=project / "template.yaml")

    context = first["context"]
    assert context["function_name"] == "FirstFunction"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:FirstFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == "/aws/lambda/FirstFunction"
    assert context["aws_request_id"] != second["context"]["aws_request_id"]
    # One log stream per execution environment, so a warm start keeps it.
    assert context["log_stream_name"] == second["context"]["log_stream_name"]

    before_ms, after_ms = first["remaining_ms"]
    assert 4000 < before_ms <= 5000
    assert after_ms <= before_ms - 40


def test_invoke_two_app_modules_in_one_process(project: Path) -> None:
    template = project / "template.yaml"

    first = invoke("FirstFunction", {}, template_path=template)
    second = invoke("SecondFunction", {}, template_path=template)

    assert first["function"] == "first"
    assert first["helper"] == "helper of first"
    assert second["function"] == "second"
    assert second["helper"] == "helper of second"
    assert first["layer"] == second["layer"] == "shared layer"
    # Each function's own modules leave sys.modules between invocations.
    assert "helper" not in sys.modules
    assert "app" not in sys.modules


def test_invoke_warm_start_reuses_module(project: Path) -> None:
    template = project / "template.yaml"

    counts = [invoke("FirstFunction", {}, template_path=template)["invocations"] for _ in range(3)]
    other = invoke("SecondFunction", {}, template_path=template)["invocations"]
    again = invoke("FirstFunction", {}, template_path=template)

    assert counts == [1, 2, 3]
    assert other == 1
    assert again["invocations"] == 4
    assert again["helper"] == "helper of first"


def test_invoke_sets_and_restores_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_FUNCTION", "shell")
    monkeypatch.delenv("STAGE", raising=False)
    names = ["STAGE", "FROM_FUNCTION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_REGION", "EXTRA"]

    result = invoke(
        "SecondFunction",
        {"variables": names},
        template_path=project / "template.yaml",
        env_overrides={"EXTRA": "override", "FROM_FUNCTION": "override"},
    )

    assert result["environment"] == {
        "STAGE": None,
        "FROM_FUNCTION": "override",
        "AWS_LAMBDA_FUNCTION_NAME": "local-second",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
        "AWS_REGION": "us-east-1",
        "EXTRA": "override",
    }
    assert os.environ["FROM_FUNCTION"] == "shell"
    assert "EXTRA" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_invoke_warns_once_about_unresolved(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    env_vars = project / "env.json"
    env_vars.write_text(json.dumps({"Parameters": {"UNDECLARED": "x"}}))
    template = project / "template.yaml"

    with caplog.at_level("WARNING", logger="jobqueue_local"):
        invoke("FirstFunction", {}, template_path=template, env_vars_file=env_vars)
        invoke("FirstFunction", {}, template_path=template, env_vars_file=env_vars)
        invoke("SecondFunction", {}, template_path=template, env_vars_file=env_vars)

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("FirstFunction: env-vars entries UNDECLARED are ignored")
    assert messages[1].startswith("FirstFunction: QUEUE_ARN has no local value")
    assert messages[2].startswith("SecondFunction: env-vars entries UNDECLARED are ignored")


def test_invoke_overridden_placeholder_not_warned(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="jobqueue_local"):
        result = invoke(
            "FirstFunction",
            {"variables": ["QUEUE_ARN"]},
            template_path=project / "template.yaml",
            env_overrides={"QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:jobs"},
        )

    assert result["environment"] == {"QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:jobs"}
    assert caplog.records == []


def test_invoke_unknown_function_id(project: Path) -> None:
    with pytest.raises(FunctionNotFound, match="use one of .*FirstFunction, SecondFunction"):
        invoke("ThirdFunction", {}, template_path=project / "template.yaml")


def test_invoke_missing_handler_attribute(project: Path) -> None:
    app = project / "functions" / "first" / "app.py"
    app.write_text("def other(event, context):\n    return None\n")

    with pytest.raises(HandlerNotFound, match="has no function 'lambda_handler'"):
        invoke("FirstFunction", {}, template_path=project / "template.yaml")


def test_cli_invoke_prints_result(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/unused")
    event = project / "event.json"
    event.write_text(json.dumps({"variables": ["DATABASE_URL"]}))

    status = main(["invoke", "FirstFunction", "-e", str(event), "--template", str(project / "template.yaml")])

    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["function"] == "first"
    assert result["environment"] == {"DATABASE_URL": "postgresql://localhost/unused"}


def test_cli_invoke_starts_database_without_url(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated: list[str] = []
    migrations = types.ModuleType("jobqueue.migrations")
    migrations.migrate = lambda url: migrated.append(url) or ["0001_stub"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jobqueue.migrations", migrations)
    monkeypatch.setattr(embedded, "ensure_database", lambda: "postgresql://postgres:@/jobqueue?host=/tmp/stub")
    event = project / "event.json"
    event.write_text(json.dumps({"variables": ["DATABASE_URL"]}))

    status = main(["invoke", "FirstFunction", "-e", str(event), "-t", str(project / "template.yaml")])

    assert status == 0
    assert migrated == ["postgresql://postgres:@/jobqueue?host=/tmp/stub"]
    result = json.loads(capsys.readouterr().out)
    assert result["environment"] == {"DATABASE_URL": "postgresql://postgres:@/jobqueue?host=/tmp/stub"}
    assert "DATABASE_URL" not in os.environ


def test_cli_invoke_unknown_function_id(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["invoke", "ThirdFunction", "--template", str(project / "template.yaml")])

    assert status == 1
    assert "FirstFunction, SecondFunction" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{broken", "is not valid JSON"),
    ],
)
def test_cli_invoke_bad_event_file(
    project: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    event = project / "event.json"
    if content is not None:
        event.write_text(content)

    status = main(["invoke", "FirstFunction", "-e", str(event), "--template", str(project / "template.yaml")])

    assert status == 1
    assert message in capsys.readouterr().err


def test_cli_invoke_handler_error(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/unused")
    event = project / "event.json"
    event.write_text(json.dumps({"sleep_seconds": "not a number"}))

    status = main(["invoke", "FirstFunction", "-e", str(event), "--template", str(project / "template.yaml")])

    assert status == 1
    output = capsys.readouterr()
    assert json.loads(output.out)["errorType"] == "TypeError"
    assert "Traceback" in output.err


def server_has_exited(pid: int) -> bool:
    # pg_ctl stop returns once the server removed postmaster.pid, moments before the process ends,
    # and the ended process may stay a zombie until init reaps it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_embedded_database_url_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@127.0.0.1/app")

    assert embedded.ensure_database(tmp_path / "pgdata") == "postgresql://app@127.0.0.1/app"
    assert not (tmp_path / "pgdata").exists()


def test_embedded_database_select_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    pgdata = tmp_path / "pgdata"
    try:
        url = embedded.ensure_database(pgdata)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SELECT current_database()").fetchone() == ("jobqueue",)
        server_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        assert embedded.ensure_database(pgdata) == url

        assert embedded.stop(pgdata) is True
        assert server_has_exited(server_pid)
        assert embedded.stop(pgdata) is False

        # A stopped server starts again on the next call, keeping its database.
        restarted_url = embedded.ensure_database(pgdata)
        with psycopg.connect(restarted_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded.stop(pgdata)
    assert not (pgdata / "postmaster.pid").exists()
