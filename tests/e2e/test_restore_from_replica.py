"""The restore state machine reading from the replica ("store": "replica"), executed by moto against real PostgreSQL.

moto stores a replication configuration but never replicates: a real backup run's objects are copied to a
second bucket in the replica's region as S3 replication would (same keys, the replica's own KMS key), then
the run is removed from the primary (delete markers, which replication does not carry). The synthesized
restore state machine, started with `"store": "replica"`, restores the run into a new database, judged by
PostgreSQL's own tools, and writes restore.json to the primary bucket, never to the replica. The refusals
(no replica; a replica in another account) fail the check step with InvalidRestoreInput; the command the
second one names is then run as it says, and restores the run from that replica.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner
from smokejumper.cli.app import cli
from smokejumper.errors import UsageError
from smokejumper.handlers import REPLICA_BUCKET_VARIABLE, REPLICA_REGION_VARIABLE
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan
from smokejumper.restores import NO_REPLICA, RestoreInputError

from tests.support import pg_oracle, pg_schemas
from tests.support.services import HOST, PG_PORT, PostgresDatabase, _pg_admin, fresh_postgres_database, unique_name

pytestmark = pytest.mark.integration

PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf-replica/ccdb-Ab12Cd"
SECRETS = {PG_SECRET: {"username": "postgres", "password": "unused-with-trust"}}
REPLICA_REGION = "eu-central-1"
VAULT = "210987654321"
VAULT_KEY = f"arn:aws:kms:{REPLICA_REGION}:{VAULT}:key/9e8d7c6b-5a49-4382-9170-f1e2d3c4b5a6"


def plan_for(name: str, source: PostgresDatabase, replica: dict[str, Any] | None) -> Plan:
    return Plan.model_validate(
        {
            "name": name,
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [source.plan_entry("ccdb", PG_SECRET)],
            **({"storage": {"replica": {"region": REPLICA_REGION, **replica}}} if replica is not None else {}),
        }
    )


@pytest.fixture(scope="module")
def source() -> Iterator[PostgresDatabase]:
    with fresh_postgres_database() as pg:
        pg_schemas.load_cf_like(pg, rows=200)
        yield pg


@pytest.fixture
def new_database() -> Iterator[str]:
    name = unique_name("sj_replica")
    yield name
    admin = _pg_admin()
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def restore_input(run: str, database: str, **extra: Any) -> dict[str, Any]:
    return {
        "run": run,
        "databases": [{"name": "ccdb", "target": {"host": HOST, "port": PG_PORT, "database": database}}],
        **extra,
    }


def back_up(workflow: OfflineWorkflow) -> str:
    backup = workflow.wait(workflow.start({"reason": "before the primary loses it"}))
    assert backup.status == "SUCCEEDED", backup.cause
    return str(backup.output["summary"]["run_id"])  # type: ignore[index]


def replicate_then_lose(workflow: OfflineWorkflow, replica_bucket: str, run_id: str) -> set[str]:
    """What S3 replication does with the run (the replica's bucket and key), then the primary's copy swept away.

    Returns the replica's keys.
    """
    session: boto3.Session = workflow.session
    replica_s3 = session.client("s3", region_name=REPLICA_REGION)
    if replica_bucket not in {bucket["Name"] for bucket in replica_s3.list_buckets()["Buckets"]}:
        # Not made by the runner (it deploys the replica's stack when it can): made here, as that stack would.
        replica_s3.create_bucket(
            Bucket=replica_bucket, CreateBucketConfiguration={"LocationConstraint": REPLICA_REGION}
        )
        replica_s3.put_bucket_versioning(Bucket=replica_bucket, VersioningConfiguration={"Status": "Enabled"})
    assert not replica_keys(workflow, replica_bucket), "moto never replicates: the replica starts empty"
    key = session.client("kms", region_name=REPLICA_REGION).create_key()["KeyMetadata"]["Arn"]
    primary = workflow.store()
    source = session.client("s3")
    prefix = f"{workflow.plan.name}/runs/{run_id}/"
    keys = [entry["Key"] for entry in source.list_objects_v2(Bucket=workflow.bucket, Prefix=prefix)["Contents"]]
    for object_key in keys:
        body = source.get_object(Bucket=workflow.bucket, Key=object_key)["Body"].read()
        replica_s3.put_object(
            Bucket=replica_bucket, Key=object_key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key
        )
    assert len(keys) >= 3, keys  # the manifest, artifact.json and the dump
    for stored in list(primary.list_keys(f"runs/{run_id}")):
        primary.delete(stored)  # a delete marker, as a retention sweep leaves
    assert not list(primary.list_keys(f"runs/{run_id}")), "only the replica holds the run now"
    return replica_keys(workflow, replica_bucket)


def replica_keys(workflow: OfflineWorkflow, bucket: str) -> set[str]:
    listed = workflow.session.client("s3", region_name=REPLICA_REGION).list_objects_v2(Bucket=bucket)
    return {entry["Key"] for entry in listed.get("Contents", [])}


def refusal(execution: Any) -> str:
    """The message of the check's refusal (Lambda's error JSON is the execution's cause)."""
    assert (execution.status, execution.error) == ("FAILED", "InvalidRestoreInput"), execution.cause
    return str(json.loads(execution.cause or "{}")["errorMessage"])


def restore_function_variables(workflow: OfflineWorkflow) -> dict[str, str]:
    """The synthesized restore function's environment, as the template gives it."""
    [function] = [
        workflow.stack.properties(i)
        for i in workflow.stack.ids_of("AWS::Lambda::Function")
        if workflow.stack.properties(i)["FunctionName"].endswith("-restore")
    ]
    return dict(function["Environment"]["Variables"])


def test_a_run_only_the_replica_holds_is_restored_from_it_and_reported_in_the_primary(
    source: PostgresDatabase, new_database: str, tmp_path: Path
) -> None:
    invoked: list[Mapping[str, Any]] = []
    with OfflineWorkflow(
        plan_for("cf-replica", source, {}),
        SECRETS,
        tmp_path / "out",
        on_invocation=lambda invocation: invoked.append(invocation.event),
    ) as workflow:
        told = restore_function_variables(workflow)
        replica_bucket = told[REPLICA_BUCKET_VARIABLE]
        assert (replica_bucket, told[REPLICA_REGION_VARIABLE]) == (
            "smokejumper-cf-replica-replica-123456789012",
            REPLICA_REGION,
        )
        run_id = back_up(workflow)
        before = replicate_then_lose(workflow, replica_bucket, run_id)

        # The primary's copy is gone: read from the primary, the same input is refused at the check.
        refused = workflow.wait(workflow.restore(restore_input(run_id, new_database)), timeout=120)
        assert f"there is no run '{run_id}' in {workflow.store().url}" in refusal(refused)

        execution = workflow.wait(workflow.restore(restore_input(run_id, new_database, store="replica")), timeout=300)
        assert execution.status == "SUCCEEDED", execution.cause
        report = execution.output["report"]  # type: ignore[index]
        replica_url = f"s3://{replica_bucket}/cf-replica"
        assert (report["status"], report["run_id"], report["read_from"]) == ("restored", run_id, replica_url)
        pg_oracle.assert_same_database(source, PostgresDatabase(HOST, PG_PORT, "postgres", new_database))
        # restore.json in the workflow's own bucket, beside where the run was; nothing written to the replica.
        primary = workflow.store()
        assert report["report"].startswith(f"{primary.url}/runs/{run_id}/restores/{report['restore_id']}/")
        written = json.loads(primary.get_bytes(report["report"].removeprefix(f"{primary.url}/")))
        assert (written["status"], written["read_from"]) == ("restored", replica_url)
        assert replica_keys(workflow, replica_bucket) == before
        # Each step read the replica: the checked input carried "store" to the verify and restore steps.
        steps = {event["phase"]: event for event in invoked if event.get("phase") in ("verify", "restore")}
        assert steps["verify"]["input"]["store"] == steps["restore"]["input"]["store"] == "replica"


def test_store_replica_without_a_replica_fails_the_check_with_every_problem(
    source: PostgresDatabase, new_database: str, tmp_path: Path
) -> None:
    with OfflineWorkflow(plan_for("cf-no-replica", source, None), SECRETS, tmp_path / "out") as workflow:
        assert not {REPLICA_BUCKET_VARIABLE, REPLICA_REGION_VARIABLE} & set(restore_function_variables(workflow))
        bad = restore_input("latest", new_database, store="replica")
        bad["databases"].append({"name": "uaadb", "target": {"host": HOST, "database": new_database}})
        execution = workflow.wait(workflow.restore(bad), timeout=120)
    cause = refusal(execution)
    assert NO_REPLICA in cause, cause
    assert "databases[1].name: the plan has no database 'uaadb'" in cause, "every problem at once"
    assert "the restore input has 2 problems" in cause


def test_a_replica_in_another_account_is_refused_and_the_command_named_restores_from_it(
    source: PostgresDatabase, new_database: str, tmp_path: Path
) -> None:
    plan = plan_for("cf-vault", source, {"account": VAULT, "kms_key": VAULT_KEY})
    with OfflineWorkflow(plan, SECRETS, tmp_path / "out") as workflow:
        assert not {REPLICA_BUCKET_VARIABLE, REPLICA_REGION_VARIABLE} & set(restore_function_variables(workflow))
        run_id = back_up(workflow)
        refused = workflow.wait(workflow.restore(restore_input(run_id, new_database, store="replica")), timeout=120)
        cause = refusal(refused)
        assert f"the plan's replica is in account {VAULT}" in cause, cause
        assert "the air gap" in cause
        replica_url = f"s3://smokejumper-cf-vault-replica-{VAULT}/cf-vault"
        [command] = re.findall(r"smokejumper restore run (--input INPUT\.json .*?) \(this input as it is", cause)
        assert command == (
            f"--input INPUT.json --plan PLAN.yaml --replica-store {replica_url} --store file:///tmp/cf-vault-restore"
        )

        # With that account's credentials (one moto account here), the command restores the run as it says.
        before = replicate_then_lose(workflow, f"smokejumper-cf-vault-replica-{VAULT}", run_id)
        (tmp_path / "restore.json").write_text(json.dumps(restore_input(run_id, new_database, store="replica")))
        (tmp_path / "plan.yaml").write_text(yaml.safe_dump(workflow.plan.model_dump(mode="json", exclude_none=True)))
        (tmp_path / "secrets.json").write_text(json.dumps(SECRETS))
        output = tmp_path / "restore-output"
        arguments = (
            command.replace("INPUT.json", str(tmp_path / "restore.json"))
            .replace("PLAN.yaml", str(tmp_path / "plan.yaml"))
            .replace("file:///tmp/cf-vault-restore", output.as_uri())
            .split()
        )
        runner = CliRunner()
        done = runner.invoke(cli, ["restore", "run", *arguments, "--secrets", str(tmp_path / "secrets.json"), "--json"])
        assert done.exit_code == 0, done.output
        report = json.loads(done.stdout)
        assert (report["status"], report["run_id"], report["read_from"]) == ("restored", run_id, replica_url)
        pg_oracle.assert_same_database(source, PostgresDatabase(HOST, PG_PORT, "postgres", new_database))
        assert (output / "runs" / run_id / "restores" / report["restore_id"] / "restore.json").is_file()
        assert replica_keys(workflow, f"smokejumper-cf-vault-replica-{VAULT}") == before, "the replica is not written"

        # The command refuses what it cannot honour rather than choose silently (the CLI exits with 2 for both).
        base = ["restore", "run", "--plan", str(tmp_path / "plan.yaml"), "--store", output.as_uri()]
        (tmp_path / "primary.json").write_text(json.dumps(restore_input(run_id, new_database)))
        mixed = runner.invoke(cli, [*base, "--input", str(tmp_path / "primary.json"), "--replica-store", replica_url])
        assert isinstance(mixed.exception, UsageError), mixed.output
        assert mixed.exception.exit_code == 2
        assert '--replica-store is read only for an input with "store": "replica"' in mixed.exception.message
        unsaid = runner.invoke(cli, [*base, "--input", str(tmp_path / "restore.json")])
        assert isinstance(unsaid.exception, RestoreInputError), unsaid.output
        assert unsaid.exception.exit_code == 2
        [problem] = unsaid.exception.problems
        assert problem.startswith(
            f"store: the replica is read at the URL --replica-store gives: add --replica-store {replica_url} "
        )
