"""What starts a backup run, as CloudFormation sees it: the schedules, the Backup Requested rule, their DLQ."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template
from smokejumper.handlers import StartRunEvent
from smokejumper.plan import Plan

from infra.triggers import REQUESTED_DETAIL_TYPE, RESTORE_TEST, SCHEDULED_COMPONENTS, schedule_name
from infra.workflow import EVENT_SOURCE

# At most 3 more tries within an hour (the reasons are in infra/triggers.py); not the defaults of 185 and a day.
RETRY_POLICY = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}


def machine_ref(built) -> dict[str, str]:
    return {"Ref": built.logical_id(built.stack.workflow.state_machine)}


def dlq_arn(built) -> dict[str, Any]:
    return {"Fn::GetAtt": [built.logical_id(built.stack.triggers.dead_letter_queue), "Arn"]}


def schedules_by_name(template: Template) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in template.find_resources("AWS::Scheduler::Schedule").values()
    }


def statements_of_role(built, role_arn: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role behind `role_arn` (a GetAtt of its Arn)."""
    role_id, attribute = role_arn["Fn::GetAtt"]
    assert attribute == "Arn"
    role = built.resource(role_id)
    assert role["Type"] == "AWS::IAM::Role"
    assert not role["Properties"].get("ManagedPolicyArns"), "no managed policies"
    assert not role["Properties"].get("Policies"), "no inline policies beside the attached ones"
    found = []
    for policy in built.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource as JSON) for each Allow; a Deny or a condition would need a test of its own."""
    table = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert not {"Condition", "NotAction", "NotResource"} & set(statement)
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        table |= {(action, json.dumps(resource, sort_keys=True)) for action in actions for resource in resources}
    return table


def trust(built, role_arn: dict[str, Any]) -> list[dict[str, Any]]:
    return built.resource(role_arn["Fn::GetAtt"][0])["Properties"]["AssumeRolePolicyDocument"]["Statement"]


def scheduled_components(plan: Plan) -> list[str]:
    return [c for c in SCHEDULED_COMPONENTS if getattr(plan, c) and getattr(plan.schedules, c) is not None]


# --- schedules ---------------------------------------------------------------------------------------


def test_one_schedule_per_scheduled_component(example, plain):
    for built in (example, plain):
        plan = built.stack.plan
        # Otherwise the test below proves nothing: the example has every component, each with a schedule.
        assert all((plan.etcd, plan.databases, plan.volumes, plan.schedules.volumes))
        schedules = schedules_by_name(built.template)
        # The components' schedules, and the restore test's (the example schedules its restore tests).
        assert set(schedules) == {
            schedule_name(plan, component) for component in ("etcd", "databases", "volumes", RESTORE_TEST)
        }
        for component in ("etcd", "databases", "volumes"):
            properties = schedules[schedule_name(plan, component)]
            expected = getattr(plan.schedules, component)
            assert properties["ScheduleExpression"] == expected.cron
            assert properties["ScheduleExpressionTimezone"] == expected.time_zone
            assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert properties["State"] == "ENABLED"
            assert properties["Description"]
            target = properties["Target"]
            assert target["Arn"] == machine_ref(built)
            assert target["DeadLetterConfig"] == {"Arn": dlq_arn(built)}
            assert target["RetryPolicy"] == RETRY_POLICY


def test_the_example_schedules_differ_in_cron_and_time_zone(example):
    # A mix-up of two components' settings would pass the test above only if they were the same.
    etcd, databases = example.stack.plan.schedules.etcd, example.stack.plan.schedules.databases
    assert (etcd.cron, etcd.time_zone) != (databases.cron, databases.time_zone)
    assert etcd.time_zone != databases.time_zone


def test_each_schedule_starts_a_run_of_its_component_only(example, plain):
    for built in (example, plain):
        for component in scheduled_components(built.stack.plan):
            text = schedules_by_name(built.template)[schedule_name(built.stack.plan, component)]["Target"]["Input"]
            # The state machine's input is a StartRunEvent; one that does not parse would fail every run.
            request = StartRunEvent.model_validate_json(text)
            assert request.components == [component]
            assert request.trigger == "schedule"
            assert request.items == []
            assert component in request.reason
            assert set(json.loads(text)) == {"components", "trigger", "reason"}


def test_a_component_without_items_gets_no_schedule(fresh_app, stack_builder, example_plan: Plan):
    data = example_plan.model_dump()
    data["etcd"] = []  # its schedule stays in the plan, but there is nothing to back up
    plan = Plan.model_validate(data)
    assert plan.schedules.etcd is not None
    stack = stack_builder(fresh_app, plan)
    assert set(schedules_by_name(Template.from_stack(stack))) == {
        schedule_name(plan, component) for component in ("databases", "volumes", RESTORE_TEST)
    }


def test_the_schedules_role_may_start_this_state_machine_and_write_the_dlq_only(example, plain):
    for built in (example, plain):
        roles = {
            json.dumps(properties["Target"]["RoleArn"], sort_keys=True)
            for properties in schedules_by_name(built.template).values()
        }
        assert len(roles) == 1, "one role for the plan's schedules"
        role_arn = json.loads(roles.pop())
        test_machine = {"Ref": built.logical_id(built.stack.restores.test_machine)}
        assert grants(statements_of_role(built, role_arn)) == {
            ("states:StartExecution", json.dumps(machine_ref(built), sort_keys=True)),
            ("states:StartExecution", json.dumps(test_machine, sort_keys=True)),
            # Scheduler writes a failed start to the DLQ with the schedule's role.
            ("sqs:SendMessage", json.dumps(dlq_arn(built), sort_keys=True)),
        }
        [statement] = trust(built, role_arn)
        assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == built.stack.account


# --- the Backup Requested rule -----------------------------------------------------------------------


def requested_rule(built) -> dict[str, Any]:
    return built.resource(built.logical_id(built.stack.triggers.rule))["Properties"]


def test_the_rule_matches_backup_requested_events_for_this_plan_only(example, plain):
    for built in (example, plain):
        assert requested_rule(built)["EventPattern"] == {
            "source": [EVENT_SOURCE],
            "detail-type": [REQUESTED_DETAIL_TYPE],
            "detail": {"plan": [built.stack.plan.name]},
        }
        assert requested_rule(built)["State"] == "ENABLED"
        # The default bus: no EventBusName means it.
        assert "EventBusName" not in requested_rule(built)
    assert requested_rule(example)["EventPattern"] != requested_rule(plain)["EventPattern"]


def test_the_rule_starts_the_state_machine_with_the_detail(example, plain):
    for built in (example, plain):
        [target] = requested_rule(built)["Targets"]
        assert target["Arn"] == machine_ref(built)
        assert target["InputPath"] == "$.detail"
        assert not {"Input", "InputTransformer"} & set(target)
        assert target["DeadLetterConfig"] == {"Arn": dlq_arn(built)}
        assert target["RetryPolicy"] == RETRY_POLICY


def test_a_requested_detail_is_a_start_run_event(example):
    # What the README tells people to send; the rule hands its detail over unchanged.
    detail = {"plan": example.stack.plan.name, "components": ["databases"], "reason": "before CF upgrade"}
    request = StartRunEvent.model_validate(detail)
    assert (request.plan, request.components) == (example.stack.plan.name, ["databases"])


def test_the_rules_role_may_start_this_state_machine_only(example, plain):
    for built in (example, plain):
        [target] = requested_rule(built)["Targets"]
        assert grants(statements_of_role(built, target["RoleArn"])) == {
            ("states:StartExecution", json.dumps(machine_ref(built), sort_keys=True)),
        }
        [statement] = trust(built, target["RoleArn"])
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        name = requested_rule(built)["Name"]
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": built.stack.account,
            "aws:SourceArn": f"arn:aws:events:{built.stack.region}:{built.stack.account}:rule/{name}",
        }


# --- the dead-letter queue ---------------------------------------------------------------------------


def queue_policy(built) -> list[dict[str, Any]]:
    queue_id = built.logical_id(built.stack.triggers.dead_letter_queue)
    [policy] = [
        resource["Properties"]
        for resource in built.template.find_resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in resource["Properties"]["Queues"]
    ]
    return policy["PolicyDocument"]["Statement"]


def test_the_dlq_is_encrypted_and_refuses_requests_without_tls(example, plain):
    for built in (example, plain):
        queue = built.resource(built.logical_id(built.stack.triggers.dead_letter_queue))["Properties"]
        assert queue["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in queue
        assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
        denials = [statement for statement in queue_policy(built) if statement["Effect"] == "Deny"]
        assert denials == [
            {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": dlq_arn(built),
            }
        ]


def test_only_the_rule_may_send_to_the_dlq_as_eventbridge(example, plain):
    for built in (example, plain):
        allows = [statement for statement in queue_policy(built) if statement["Effect"] == "Allow"]
        rule_arn = {"Fn::GetAtt": [built.logical_id(built.stack.triggers.rule), "Arn"]}
        assert [(s["Principal"], s["Action"], s["Resource"], s["Condition"]) for s in allows] == [
            (
                {"Service": "events.amazonaws.com"},
                "sqs:SendMessage",
                dlq_arn(built),
                {"ArnEquals": {"aws:SourceArn": rule_arn}},
            )
        ]


def test_the_restore_test_schedule_tests_the_latest_good_run_at_the_plans_time(example):
    plan = example.stack.plan
    assert plan.restore_tests is not None
    assert plan.restore_tests.schedule is not None
    properties = schedules_by_name(example.template)[schedule_name(plan, RESTORE_TEST)]
    assert properties["ScheduleExpression"] == plan.restore_tests.schedule.cron
    assert properties["ScheduleExpressionTimezone"] == plan.restore_tests.schedule.time_zone
    target = properties["Target"]
    assert target["Arn"] == {"Ref": example.logical_id(example.stack.restores.test_machine)}
    assert json.loads(target["Input"]) == {}, "no run named: the latest good run"
    assert target["DeadLetterConfig"] == {"Arn": dlq_arn(example)}
