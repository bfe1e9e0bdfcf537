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
    started = handlers.start(handlers.StartRunEvent(), env)
    assert len(started["work"]) == 200
    assert "items" not in started["work"][0]["ticket"]
    assert len(json.dumps(started)) < 100_000
    event = handlers.parse(handlers.BackupItemEvent, started["work"][7])
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
