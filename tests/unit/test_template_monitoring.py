"""The template's alarms and dashboard read metrics that the code prints, under the names it prints them.

The dashboard body is JSON text inside ``Fn::Sub``, which neither
cfn-lint nor ``sam validate`` parses, so these tests resolve it with the
local runner's intrinsic resolver and parse it.
"""

from __future__ import annotations

import json
import re

import pytest

from jobqueue import metrics
from jobqueue_local.intrinsics import IntrinsicResolver
from jobqueue_local.template import load_template
from tests.conftest import ROOT

# Every metric name the code prints: per job type, per invocation, from the API.
EMITTED = {
    *metrics.OUTCOME_METRICS.values(),
    metrics.LEASE_LOST_METRIC,
    metrics.DURATION_METRIC,
    metrics.ENQUEUED_METRIC,
    "QueueLag",
    "PendingJobs",
    "DuePendingJobs",
    "ProcessingJobs",
    "LeasesRescued",
    "JobsReleased",
    "JobsDeleted",
    "MigrationsApplied",
}
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration"}


@pytest.fixture(scope="module")
def template():
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def resolver(template):
    return IntrinsicResolver(template, parameter_overrides={"DatabaseSecretArn": "arn:aws:secretsmanager:x"})


@pytest.fixture(scope="module")
def dashboard(template, resolver):
    body = template["Resources"]["QueueDashboard"]["Properties"]["DashboardBody"]
    return json.loads(resolver.resolve(body))


def metric_widgets(dashboard: dict) -> list[dict]:
    return [widget for widget in dashboard["widgets"] if widget["type"] == "metric"]


def test_dashboard_body_is_json(dashboard):
    assert len(dashboard["widgets"]) == 11


def test_dashboard_metrics_exist(dashboard):
    for widget in metric_widgets(dashboard):
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                (name,) = re.findall(r'MetricName="(\w+)"', line[0]["expression"])
                assert name in EMITTED, widget["properties"]["title"]
            elif line[0] == "AWS/Lambda":
                assert line[1] in LAMBDA_METRICS
            else:
                assert line[0] == "JobQueue/local"
                assert line[1] in EMITTED, widget["properties"]["title"]
                assert line[2:4] == ["service", "jobqueue"]


def test_dashboard_search_uses_type_dimension(dashboard):
    expressions = [
        line[0]["expression"]
        for widget in metric_widgets(dashboard)
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], dict)
    ]

    assert len(expressions) == 5
    for expression in expressions:
        assert expression.startswith('SEARCH(\'{"JobQueue/local",JobType,service} MetricName="')


def test_dashboard_lag_threshold_line(dashboard):
    (widget,) = [w for w in metric_widgets(dashboard) if w["properties"]["title"].startswith("Queue lag")]

    assert widget["properties"]["annotations"]["horizontal"][0]["value"] == 600


def test_dashboard_widgets_fit_grid(dashboard):
    for widget in dashboard["widgets"]:
        assert widget["x"] + widget["width"] <= 24


@pytest.mark.parametrize(
    ("alarm", "namespace", "metric", "statistic"),
    [
        ("ProcessorErrorsAlarm", "AWS/Lambda", "Errors", "Sum"),
        ("FailedJobsAlarm", "JobQueue/local", "JobsFailed", "Sum"),
        ("QueueLagAlarm", "JobQueue/local", "QueueLag", "Maximum"),
    ],
)
def test_alarm_watches_emitted_metric(template, resolver, alarm, namespace, metric, statistic):
    properties = resolver.resolve(template["Resources"][alarm]["Properties"])

    assert properties["Namespace"] == namespace
    assert properties["MetricName"] == metric
    assert properties["Statistic"] == statistic
    if namespace != "AWS/Lambda":
        assert metric in EMITTED
        # The per-type objects also carry a (service) dimension set, so this series sums every type.
        assert properties["Dimensions"] == [{"Name": "service", "Value": "jobqueue"}]


def test_alarm_actions_only_with_topic(template):
    topic = "arn:aws:sns:us-east-1:123456789012:oncall"
    without = IntrinsicResolver(template, parameter_overrides={"DatabaseSecretArn": "x"})
    with_topic = IntrinsicResolver(template, parameter_overrides={"DatabaseSecretArn": "x", "AlarmTopicArn": topic})
    properties = template["Resources"]["FailedJobsAlarm"]["Properties"]

    assert "AlarmActions" not in without.resolve(properties)
    assert with_topic.resolve(properties)["AlarmActions"] == [topic]
    assert with_topic.resolve(properties)["OKActions"] == [topic]


def test_namespace_matches_function_environment(template, resolver):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert resolver.resolve(variables["POWERTOOLS_METRICS_NAMESPACE"]) == "JobQueue/local"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "jobqueue"


@pytest.mark.parametrize(("mode", "disabled"), [("Active", "false"), ("PassThrough", "true")])
def test_trace_disabled_follows_tracing_mode(template, mode, disabled):
    resolver = IntrinsicResolver(template, parameter_overrides={"DatabaseSecretArn": "x", "TracingMode": mode})
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert resolver.resolve(variables["POWERTOOLS_TRACE_DISABLED"]) == disabled
