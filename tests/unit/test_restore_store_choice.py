"""The restore input's `store` ("primary" or "replica"): its schema, which store is read, and each refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from smokejumper import handlers
from smokejumper.plan import Plan
from smokejumper.restores import NO_REPLICA, RestoreInput, RestoreInputError, Stores, input_schema, prepare
from smokejumper.store import open_store

SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"
VAULT = "210987654321"
VAULT_KEY = f"arn:aws:kms:eu-central-1:{VAULT}:key/9e8d7c6b-5a49-4382-9170-f1e2d3c4b5a6"


def plan_with(replica: dict[str, Any] | None) -> Plan:
    return Plan.model_validate(
        {
            "name": "cf-prod",
            "deployment": {"account": "111111111111", "region": "eu-west-1"},
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [
                {"name": "ccdb", "engine": "postgres", "host": "10.0.0.1", "database": "ccdb",
                 "credentials_secret_arn": SECRET}
            ],
            **({"storage": {"replica": {"region": "eu-central-1", **replica}}} if replica is not None else {}),
        }
    )  # fmt: skip


def restore_input(**extra: Any) -> dict[str, Any]:
    return {"databases": [{"name": "ccdb", "target": {"host": "10.0.0.1", "database": "ccdb_restore"}}], **extra}


def test_the_schema_offers_the_primary_by_default_and_the_replica_and_says_where_output_goes() -> None:
    schema = input_schema()
    store = schema["properties"]["store"]
    assert (store["enum"], store["default"]) == (["primary", "replica"], "primary")
    for taught in ("storage.replica", "--replica-store", "runs/RUN/restores/RESTORE_ID/", "air gap"):
        assert taught in store["description"], taught
    jsonschema.validate(restore_input(store="replica"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(restore_input(store="both"), schema)
    assert RestoreInput.model_validate(restore_input()).store == "primary"


def test_a_replica_store_is_where_the_run_is_looked_for_and_the_primary_where_output_goes(tmp_path: Path) -> None:
    primary, replica = open_store(str(tmp_path / "primary")), open_store(str(tmp_path / "replica"))
    stores = Stores(primary, replica)
    plan = plan_with({})
    with pytest.raises(RestoreInputError) as refused:
        prepare(plan, stores, restore_input(run="20261201T020000Z-ab12", store="replica"))
    assert refused.value.problems == [f"run: there is no run '20261201T020000Z-ab12' in {replica.url}"]
    with pytest.raises(RestoreInputError) as refused:
        prepare(plan, stores, restore_input(run="20261201T020000Z-ab12"))
    assert refused.value.problems == [f"run: there is no run '20261201T020000Z-ab12' in {primary.url}"]


def test_the_replica_of_a_plan_without_one_is_refused_with_every_other_problem(tmp_path: Path) -> None:
    data = restore_input(store="replica")
    data["databases"].append({"name": "uaadb", "target": {"host": "10.0.0.1", "database": "uaa"}})
    with pytest.raises(RestoreInputError) as refused:
        prepare(plan_with(None), open_store(str(tmp_path)), data)
    assert refused.value.problems == [
        "databases[1].name: the plan has no database 'uaadb' (it has: ccdb)",
        NO_REPLICA,
    ]


@pytest.fixture
def fake_aws(aws: boto3.Session) -> Any:
    """Emulated AWS for the clients the handler makes; their caches emptied before and after."""
    handlers.s3_client.cache_clear()
    yield aws
    handlers.s3_client.cache_clear()


def check(env: handlers.Environment, data: dict[str, Any]) -> str:
    """The check step's refusal, as the state machine sees it (InvalidRestoreInput)."""
    with pytest.raises(handlers.ERRORS["InvalidRestoreInput"]) as refused:
        handlers.restore_step(handlers.RestoreStepEvent(phase="check", input=data), env)
    return str(refused.value)


def test_the_workflow_refuses_a_replica_in_another_account_naming_the_command_that_reads_it(fake_aws: Any) -> None:
    plan = plan_with({"account": VAULT, "kms_key": VAULT_KEY})
    said = check(handlers.Environment(plan, "primary-bucket", None), restore_input(store="replica"))
    assert f"store: the plan's replica is in account {VAULT}, not the plan's own" in said
    assert "by design (the air gap)" in said
    assert f"with credentials of account {VAULT}: smokejumper restore run --input INPUT.json --plan PLAN.yaml" in said
    assert f"--replica-store s3://smokejumper-cf-prod-replica-{VAULT}/cf-prod --store file:///tmp/" in said


def test_a_function_deployed_without_the_replicas_settings_says_to_deploy_again(fake_aws: Any) -> None:
    said = check(handlers.Environment(plan_with({}), "primary-bucket", None), restore_input(store="replica"))
    assert handlers.REPLICA_BUCKET_VARIABLE in said
    assert "deploy the plan's stack again" in said


def test_the_replica_is_read_in_its_own_region_with_standard_retries_and_never_given_a_key(fake_aws: Any) -> None:
    env = handlers.Environment(
        plan_with({}),
        "primary-bucket",
        "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-1111-2222-3333-444455556666",
        replica_bucket="smokejumper-cf-prod-replica-111111111111",
        replica_region="eu-central-1",
    )
    stores = env.restore_stores()
    replica, primary = stores.replica, stores.primary
    assert replica is not None
    assert replica.url == "s3://smokejumper-cf-prod-replica-111111111111/cf-prod"
    client: Any = replica.client  # type: ignore[attr-defined]
    assert client.meta.region_name == "eu-central-1"
    # Standard retries, max_attempts=6 (which botocore keeps as 7 attempts in all), as handlers.s3_client() makes.
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 7}
    assert replica.kms_key_id is None  # type: ignore[attr-defined]
    assert primary.url == "s3://primary-bucket/cf-prod"
    assert primary.client.meta.region_name == "eu-west-1"  # type: ignore[attr-defined]
    assert primary.client.meta.config.retries == client.meta.config.retries  # type: ignore[attr-defined]
