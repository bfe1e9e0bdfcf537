"""The plan's alarms, dashboard and topic as CloudFormation sees them (infra/monitoring.py, infra/notifications.py)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest
from aws_cdk.assertions import Template
from smokejumper.cron import longest_gap
from smokejumper.plan import Plan, Schedule
from smokejumper.runs import plan_items

from infra.monitoring import MAX_WINDOW, SLACK, StalenessWindow

EXECUTION_METRICS = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
# CloudWatch's limit on period x evaluation periods for periods of an hour or more (PutMetricAlarm).
SEVEN_DAYS = 7 * 24 * 3600
EXISTING_TOPIC = "arn:aws:sns:eu-west-1:111111111111:platform-alerts"
# What an ARN token renders as, long enough for any real state machine ARN.
ARN_PLACEHOLDER = "arn:aws:states:eu-west-1:111111111111:stateMachine:" + "x" * 80


def render(value: Any, placeholder: str = "<ref>") -> str:
    """A template string with every Ref/GetAtt written as `placeholder`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part, placeholder) for part in parts)
    return placeholder


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def staleness_alarms(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(component, item) -> the alarm's properties, read from its dimensions."""
    found = {}
    for properties in alarms(template).values():
        if properties.get("MetricName") == "BackupSucceeded":
            dimensions = {d["Name"]: d["Value"] for d in properties["Dimensions"]}
            key = (dimensions["component"], dimensions["item"])
            assert key not in found, f"two staleness alarms on {key}"
            found[key] = properties
    return found


def topic_id(built) -> str:
    return built.logical_id(built.stack.notifications.topic)


def expected_actions(built) -> list[Any]:
    """Every topic of the plan: its own, and its existing one when it names one."""
    plan: Plan = built.stack.plan
    return [{"Ref": topic_id(built)}] + ([plan.notifications.topic_arn] if plan.notifications.topic_arn else [])


def time_limit_of(template: dict[str, Any]) -> timedelta:
    """The state machine's own TimeoutSeconds, read from its definition in the template."""
    (machine,) = (
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and r["Properties"]["StateMachineName"].endswith("-backup")
    )
    # Every token sits inside a JSON string of the definition, so the rendered text is JSON.
    definition = json.loads(render(machine["Properties"]["DefinitionString"]))
    return timedelta(seconds=definition["TimeoutSeconds"])


def commit_service_name(built) -> str:
    commit = built.stack.functions.functions["commit-run"]
    environment = built.resource(built.logical_id(commit))["Properties"]["Environment"]["Variables"]
    return environment["POWERTOOLS_SERVICE_NAME"]


@pytest.fixture(params=["example", "plain"])
def built(request):
    return request.getfixturevalue(request.param)


# --- a run that did not succeed ----------------------------------------------------------------


def test_three_execution_alarms_on_the_state_machine_notify_every_topic(built):
    template = built.template.to_json()
    machine = {"Ref": built.logical_id(built.stack.workflow.state_machine)}
    execution = {p["MetricName"]: p for p in alarms(template).values() if p.get("MetricName") in EXECUTION_METRICS}
    assert set(execution) == EXECUTION_METRICS
    plan = built.stack.plan.name
    assert {p["AlarmName"] for p in execution.values()} == {
        f"smokejumper-{plan}-run-failed",
        f"smokejumper-{plan}-run-timed-out",
        f"smokejumper-{plan}-run-aborted",
    }
    for properties in execution.values():
        assert properties["Namespace"] == "AWS/States"
        assert properties["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine}]
        assert properties["Statistic"] == "Sum"
        assert properties["Period"] == 300
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["Threshold"] == 1
        assert properties["EvaluationPeriods"] == 1
        assert properties["TreatMissingData"] == "notBreaching"
        assert properties["AlarmActions"] == expected_actions(built)


def test_every_alarm_notifies_an_existing_topic_too(fresh_app, stack_builder, example_plan):
    # Neither session stack names an existing topic, so this one does.
    data = example_plan.model_dump()
    data["notifications"]["topic_arn"] = EXISTING_TOPIC
    stack = stack_builder(fresh_app, Plan.model_validate(data))
    template = Template.from_stack(stack).to_json()
    topic = {"Ref": stack.get_logical_id(stack.notifications.topic.node.default_child)}
    found = alarms(template)
    replication = 2 if example_plan.storage.replica else 0  # failed, late
    # runs; staleness; restore test failed, untested; replication
    assert len(found) == 3 + len(plan_items(example_plan)) + 2 + replication
    assert replication, "the example plan has a replica"
    for properties in found.values():
        assert properties["AlarmActions"] == [topic, EXISTING_TOPIC]


# --- an item with no recent good backup --------------------------------------------------------


def test_one_staleness_alarm_per_backed_up_item(built):
    plan: Plan = built.stack.plan
    found = staleness_alarms(built.template.to_json())
    # Every etcd cluster, database and volume selector.
    assert set(found) == {(item.component, item.name) for item in plan_items(plan)}
    assert plan.volumes, "the example plan lists volumes, which get their alarm too"
    service = commit_service_name(built)
    for (component, item), properties in found.items():
        assert properties["AlarmName"] == f"smokejumper-{plan.name}-stale-{component}-{item}"
        assert properties["Namespace"] == "Smokejumper"
        # The dimensions the commit function's metrics carry: Powertools adds its service name.
        assert {d["Name"]: d["Value"] for d in properties["Dimensions"]} == {
            "plan": plan.name,
            "component": component,
            "item": item,
            "service": service,
        }
        assert properties["Statistic"] == "Sum"
        assert properties["Period"] == 3600
        assert properties["ComparisonOperator"] == "LessThanThreshold"
        assert properties["Threshold"] == 1
        assert properties["TreatMissingData"] == "breaching"
        assert properties["DatapointsToAlarm"] == properties["EvaluationPeriods"]
        assert properties["EvaluationPeriods"] * properties["Period"] <= SEVEN_DAYS
        assert properties["AlarmActions"] == expected_actions(built)


def test_staleness_window_is_the_schedules_longest_gap_plus_the_runs_time_limit(built):
    plan: Plan = built.stack.plan
    template = built.template.to_json()
    limit = time_limit_of(template)
    assert limit == built.stack.workflow.time_limit
    expected = {}
    for component in ("etcd", "databases", "volumes"):
        schedule = getattr(plan.schedules, component)
        gap = longest_gap(schedule.cron, schedule.time_zone)
        assert gap is not None
        expected[component] = math.ceil((gap + limit + SLACK) / timedelta(hours=1))
    periods = {key: p["EvaluationPeriods"] for key, p in staleness_alarms(template).items()}
    assert periods == {key: expected[key[0]] for key in periods}
    # The example's etcd is hourly and its databases nightly at 01:00 Berlin time (25 h across the
    # autumn change): their windows differ by far more than the time limit.
    assert expected["etcd"] == 4
    assert expected["databases"] == 28
    assert expected["volumes"] == 28


def test_staleness_descriptions_say_what_to_do_and_fit(built):
    for (component, item), properties in staleness_alarms(built.template.to_json()).items():
        description = render(properties["AlarmDescription"], ARN_PLACEHOLDER)
        assert f"{component}/{item}" in description
        assert f"in the last {properties['EvaluationPeriods']} hours" in description
        assert f"start-execution --state-machine-arn {ARN_PLACEHOLDER} --input" in description
        assert json.dumps({"items": [item], "reason": "stale backup"}) in description
        assert len(description) <= 1024, "CloudWatch's limit on AlarmDescription"
    for properties in alarms(built.template.to_json()).values():
        assert len(render(properties["AlarmDescription"], ARN_PLACEHOLDER)) <= 1024


def test_a_schedule_rarer_than_weekly_is_capped_and_an_unreadable_one_gets_the_widest_window():
    monthly = StalenessWindow.of(Schedule(cron="cron(0 2 1 * ? *)"), timedelta(hours=2))
    assert monthly.capped
    assert monthly.window == MAX_WINDOW
    assert monthly.periods == 168
    last_friday = StalenessWindow.of(Schedule(cron="cron(0 2 ? * 6L *)"), timedelta(hours=2))
    assert last_friday.longest_gap is None
    assert last_friday.periods == 168
    daily = StalenessWindow.of(Schedule(cron="cron(0 3 * * ? *)", time_zone="Europe/Berlin"), timedelta(hours=1))
    assert (daily.longest_gap, daily.capped, daily.periods) == (timedelta(hours=25), False, 27)


# --- the dashboard -----------------------------------------------------------------------------


def test_dashboard_shows_every_item_and_every_alarm(built):
    plan: Plan = built.stack.plan
    template = built.template.to_json()
    (dashboard,) = (
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    )
    assert dashboard["DashboardName"] == f"smokejumper-{plan.name}"
    parts = dashboard["DashboardBody"]["Fn::Join"][1]
    body = render(dashboard["DashboardBody"], '"<ref>"')
    service = commit_service_name(built)
    for item in plan_items(plan):
        for metric in ("LastSuccessTimestamp", "BackupBytes", "BackupSeconds", "BackupSucceeded"):
            dimensions = f'"component","{item.component}","item","{item.name}","plan","{plan.name}"'
            assert f'"Smokejumper","{metric}",{dimensions},"service","{service}"' in body
    assert f'"Smokejumper","RunSucceeded","service","{service}"' in body
    assert '"AWS/States","ExecutionsFailed","StateMachineArn"' in body
    # The alarm status widget lists every alarm, by its ARN.
    alarm_arns = [{"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in alarms(template)]
    assert all(arn in parts for arn in alarm_arns)


# --- the topic ---------------------------------------------------------------------------------


def test_topic_is_encrypted_with_the_plans_key(built, imported_key_arn):
    (properties,) = (
        r["Properties"] for r in built.template.to_json()["Resources"].values() if r["Type"] == "AWS::SNS::Topic"
    )
    if built.stack.plan.storage.creates_key:
        (key_id,) = built.template.find_resources("AWS::KMS::Key")
        assert properties["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    else:
        assert properties["KmsMasterKeyId"] == imported_key_arn == built.stack.plan.storage.kms_key


def test_one_email_subscription_per_plan_email(built):
    subscriptions = built.template.find_resources("AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == sorted(
        built.stack.plan.notifications.emails
    )
    for subscription in subscriptions.values():
        assert subscription["Properties"]["Protocol"] == "email"
        assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id(built)}


def test_a_created_key_lets_cloudwatch_publish_to_the_topic(example):
    # Without it an alarm's publish to the encrypted topic fails, and nobody hears of the alarm.
    (key,) = example.template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_a_failed_restore_test_and_none_passed_in_the_window_each_alarm(example):
    plan = example.stack.plan
    assert plan.restore_tests is not None
    found = {p["AlarmName"]: p for p in alarms(example.template.to_json()).values()}
    failed = found[f"smokejumper-{plan.name}-restore-test-failed"]
    untested = found[f"smokejumper-{plan.name}-restore-untested"]
    for alarm in (failed, untested):
        assert (alarm["Namespace"], alarm["MetricName"]) == ("Smokejumper", "RestoreTestPassed")
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "plan": plan.name, "service": f"smokejumper-{plan.name}"
        }  # fmt: skip
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    # One failed test is enough; silence is not a failure.
    assert (failed["Statistic"], failed["EvaluationPeriods"], failed["TreatMissingData"]) == (
        "Minimum",
        1,
        "notBreaching",
    )
    # No passed test in any of the window's hours, silence included: the tests stopped, or always fail.
    hours = plan.restore_tests.within_hours
    assert (untested["Statistic"], untested["Period"]) == ("Maximum", 3600)
    assert untested["EvaluationPeriods"] == untested["DatapointsToAlarm"] == hours
    assert untested["TreatMissingData"] == "breaching"
