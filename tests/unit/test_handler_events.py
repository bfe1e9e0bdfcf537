"""The handlers' events and results, without services: what Step Functions will pass and get."""

from __future__ import annotations

import json

import pytest
from smokejumper import handlers
from smokejumper.plan import Plan

SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"


def big_plan(databases: int) -> Plan:
    return Plan.model_validate(
        {
            "name": "big",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [
                {"name": f"db-{index}", "engine": "postgres", "host": "10.0.0.1", "database": f"db{index}",
                 "credentials_secret_arn": SECRET}
                for index in range(databases)
            ],
        }
    )  # fmt: skip


def test_the_map_input_grows_linearly_with_the_items():
    # Step Functions caps a state's data at 256 KiB: each item's input carries the run, not the item list.
    env = handlers.Environment(big_plan(200), "bucket", None)
    started = handlers.start(handlers.WorkflowStart(), env)
    assert len(started["work"]["databases"]) == 200
    assert started["work"]["etcd"] == started["work"]["volumes"] == []
    assert "items" not in started["work"]["databases"][0]["ticket"]
    assert len(json.dumps(started)) < 100_000
    event = handlers.parse(handlers.BackupItemEvent, started["work"]["databases"][7])
    assert (event.item.name, event.ticket.ticket().run_id) == ("db-7", started["run_id"])


@pytest.mark.parametrize(
    ("caught", "recorded"),
    [
        ("SourceUnreachable", "SourceUnreachable"),
        ("States.Timeout", "States.Timeout"),
        ("Lambda.ServiceException", "Lambda.ServiceException"),
        ("Ünicode", "BackupFailed"),
        ("1Bad", "BackupFailed"),
        ("an error with spaces", "BackupFailed"),
    ],
)
def test_a_caught_error_becomes_a_failed_entry_with_a_name(caught, recorded):
    result = handlers.ItemResult.model_validate(
        {
            "item": {"component": "databases", "name": "ccdb", "engine": "postgres"},
            "error": {"Error": caught, "Cause": json.dumps({"errorMessage": "it broke", "errorType": caught})},
        }
    )
    entry = handlers._entry(result)
    assert (entry.status, entry.error_type, entry.error) == ("failed", recorded, "it broke")


def test_a_malformed_event_is_invalid_input_naming_each_problem():
    with pytest.raises(handlers.ItemFailed) as caught:
        handlers.parse(handlers.StartRunEvent, {"components": ["dbs"], "extra": 1})
    assert type(caught.value).__name__ == "InvalidInput"
    assert "components.0" in str(caught.value)
    assert "extra" in str(caught.value)


def test_a_request_for_another_plan_is_refused():
    env = handlers.Environment(big_plan(1), "bucket", None)
    with pytest.raises(handlers.ItemFailed) as caught:
        handlers.start(handlers.WorkflowStart(request=handlers.StartRunEvent(plan="cf-prod")), env)
    assert type(caught.value).__name__ == "InvalidInput"
    assert "'cf-prod'" in str(caught.value)


def test_the_parallel_branches_results_are_flattened():
    item = {"component": "databases", "name": "db-0", "engine": "postgres"}
    ticket = {"plan": "big", "run_id": "20261207T020000Z-0a1b", "started_at": "2026-12-07T02:00:00+00:00"}
    error = {"Error": "SourceUnreachable", "Cause": "{}"}
    event = handlers.parse(
        handlers.CommitRunEvent, {"ticket": ticket, "results": [[], [{"item": item, "error": error}], []]}
    )
    assert [result.item.name for result in event.results] == ["db-0"]


def test_the_failure_message_names_the_run_each_failed_item_and_its_cause():
    failed = [{"path": "databases/ccdb", "error_type": "AuthenticationFailed", "error": "password refused"}]
    skipped = [{"reason": "etcd/k8s is being backed up by run 20261207T010000Z-aaaa"}]
    text = handlers.failure_message("cf-prod", "20261207T020000Z-0a1b", failed, skipped)
    assert "20261207T020000Z-0a1b" in text.splitlines()[0]
    assert "- databases/ccdb: AuthenticationFailed: password refused" in text
    assert "run 20261207T010000Z-aaaa" in text


def test_the_workflow_backs_up_volumes_in_their_own_branch():
    data = big_plan(1).model_dump(mode="json", exclude_none=True)
    data["volumes"] = [{"name": "pvs", "tags": [{"key": "ebs.csi.aws.com/cluster", "values": ["true"]}]}]
    data["schedules"]["volumes"] = {"cron": "cron(30 1 * * ? *)"}
    env = handlers.Environment(Plan.model_validate(data), "bucket", None)
    started = handlers.start(handlers.WorkflowStart(), env)
    assert {component: [w["item"]["name"] for w in work] for component, work in started["work"].items()} == {
        "etcd": [], "databases": ["db-0"], "volumes": ["pvs"]
    }  # fmt: skip
