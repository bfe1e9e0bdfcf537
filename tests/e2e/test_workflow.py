"""The synthesized backup state machine, executed by moto, against real PostgreSQL, MySQL and etcd.

Nothing here is a copy of the workflow: the state machine is the one `cdk
synth` writes for the plan, created on moto with every other resource of the
template (smokejumper.offline), and each Lambda step calls the real handler.
The plan is built once per module (synthesis costs seconds); each test gets
its own emulated AWS, so buckets, leases and topics start empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from smokejumper.catalog import read_artifact_record, read_manifest, scan_runs
from smokejumper.locks import KEY, TTL_ATTRIBUTE
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan
from smokejumper.verify import verify_location

from tests.support import mysql_schemas, pg_schemas
from tests.support.flaky_proxy import FlakyProxy, flaky_proxy
from tests.support.services import (
    MYSQL_USER_PASSWORD,
    free_port,
    fresh_mysql_database,
    fresh_postgres_database,
    mysql_user_for,
    running_etcd,
)

pytestmark = pytest.mark.integration

PLAN = "cf-offline"
PG_PASSWORD = "pg-offline-Secret-5e1"  # trust auth accepts it; the test checks it never reaches a log
PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf-offline/ccdb-Ab12Cd"
MYSQL_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf-offline/credhub-Ef34Gh"


@dataclass
class Estate:
    plan: Plan
    secrets: dict[str, Any]
    proxy: FlakyProxy  # between the flaky item and PostgreSQL


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with (
        fresh_postgres_database() as pg,
        fresh_mysql_database() as my,
        mysql_user_for(my) as my_user,
        running_etcd(tmp_path_factory.mktemp("etcd")) as etcd,
        flaky_proxy(pg.host, pg.port) as proxy,
    ):
        pg_schemas.load_cf_like(pg, rows=200)
        mysql_schemas.load_cf_like(my, rows=200)
        etcd.etcdctl("put", "/registry/namespaces/default", "ns")
        postgres = {"engine": "postgres", "host": pg.host, "database": pg.dbname, "tls": {"mode": "prefer"}}
        plan = Plan.model_validate(
            {
                "name": PLAN,
                "schedules": {
                    "etcd": {"cron": "cron(15 * * * ? *)"},
                    "databases": {"cron": "cron(0 2 * * ? *)"},
                    "volumes": {"cron": "cron(30 1 * * ? *)"},
                },
                "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
                # Two good runs kept, whatever their age: the fifth run of a day deletes the oldest.
                "retention": {"daily": 1, "weekly": 0, "monthly": 0, "min_keep": 2},
                "etcd": [{"name": "k8s", "endpoints": [etcd.endpoint]}],
                "volumes": [
                    {
                        "name": "pvs",
                        "tags": [{"key": "kubernetes.io/cluster/cf-offline", "values": ["owned"]}],
                        "poll_seconds": 5,
                        "copy_to": {"region": COPY_REGION, "kms_key": COPY_KEY},
                    }
                ],
                "databases": [
                    {**postgres, "name": "ccdb", "port": pg.port, "credentials_secret_arn": PG_SECRET},
                    my.plan_entry("credhub", MYSQL_SECRET),
                    {**postgres, "name": "flaky", "port": proxy.port, "credentials_secret_arn": PG_SECRET},
                    {**postgres, "name": "gone", "port": free_port(), "credentials_secret_arn": PG_SECRET},
                ],
            }
        )
        secrets = {
            PG_SECRET: {"username": "postgres", "password": PG_PASSWORD},
            MYSQL_SECRET: {"username": my_user, "password": MYSQL_USER_PASSWORD},
        }
        yield Estate(plan, secrets, proxy)


@pytest.fixture
def workflow(estate: Estate, tmp_path: Path) -> Iterator[OfflineWorkflow]:
    with OfflineWorkflow(estate.plan, estate.secrets, tmp_path / "out") as offline:
        yield offline


def item_failures(history: list[dict[str, Any]]) -> list[str]:
    """The error of every failed Lambda invocation of the execution, in order."""
    return [
        event["lambdaFunctionFailedEventDetails"]["error"]
        for event in history
        if event["type"] == "LambdaFunctionFailed"
    ]


def test_a_full_run_with_one_database_unreachable(workflow: OfflineWorkflow, tmp_path: Path) -> None:
    [arn] = workflow.send_event({"plan": PLAN, "reason": "before the upgrade"})
    execution = workflow.wait(arn)

    # The execution fails, naming the run and the item; the manifest is failed; the rest is kept.
    assert execution.status == "FAILED"
    assert execution.error == "BackupRunFailed"
    assert "- databases/gone: SourceUnreachable:" in (execution.cause or "")
    store = workflow.store()
    [run] = scan_runs(store, plan=PLAN).runs
    manifest = read_manifest(store, run.run_id)
    assert manifest.status == "failed"
    statuses = {ref.path: (ref.status, ref.error_type) for ref in manifest.artifacts}
    assert statuses == {
        "etcd/k8s": ("succeeded", None),
        "databases/ccdb": ("succeeded", None),
        "databases/credhub": ("succeeded", None),
        "databases/flaky": ("succeeded", None),
        "databases/gone": ("failed", "SourceUnreachable"),
        "volumes/pvs": ("succeeded", None),  # no volume carries its tags here: an empty, recorded selection
    }
    for ref in manifest.artifacts:
        if ref.status == "succeeded":
            assert verify_location(store.child(f"runs/{run.run_id}/{ref.path}")).ok
    # A transient error type is retried: three attempts of the unreachable database, then its Catch.
    history = workflow.history(arn)
    assert item_failures(history) == ["SourceUnreachable"] * 3

    # The completion event and the SNS message name the item and its cause.
    [event] = workflow.completed_events()
    assert (event["source"], event["detail-type"]) == ("smokejumper", "Backup Run Completed")
    detail = event["detail"]
    assert (detail["plan"], detail["run_id"], detail["status"]) == (PLAN, run.run_id, "failed")
    assert detail["failed"] == ["databases/gone"]
    [gone] = [item for item in detail["items"] if item["path"] == "databases/gone"]
    assert gone["error_type"] == "SourceUnreachable"
    assert "refused" in gone["error"]
    [message] = workflow.notifications()
    assert run.run_id in message["subject"]
    assert "failed" in message["subject"]
    assert f"Backup run {run.run_id} of plan {PLAN} failed" in message["message"]
    assert "- databases/gone: SourceUnreachable:" in message["message"]

    # Every line the handlers logged, every event and the execution's history: no secret anywhere.
    logged = workflow.log_file.read_text()
    assert '"backup done"' in logged
    assert '"run committed"' in logged
    everything = logged + json.dumps(history, default=str) + json.dumps(detail) + json.dumps(message)
    for secret in (PG_PASSWORD, MYSQL_USER_PASSWORD):
        assert secret not in everything


def test_a_schedule_starts_a_run_of_its_component(workflow: OfflineWorkflow) -> None:
    schedules = workflow.schedules()
    assert sorted(schedules) == [f"smokejumper-{PLAN}-{c}" for c in ("databases", "etcd", "volumes")]
    execution = workflow.wait(workflow.fire_schedule(f"smokejumper-{PLAN}-etcd"))
    assert execution.status == "SUCCEEDED", execution.cause
    summary = execution.output["summary"]  # type: ignore[index]
    assert (summary["status"], summary["trigger"]) == ("succeeded", "schedule")
    assert [item["path"] for item in summary["items"]] == ["etcd/k8s"]
    assert workflow.notifications() == []
    [event] = workflow.completed_events()
    assert event["detail"]["status"] == "succeeded"


def test_a_transient_error_is_retried_then_succeeds(estate: Estate, workflow: OfflineWorkflow) -> None:
    before = estate.proxy.dropped
    estate.proxy.drop_next(1)
    execution = workflow.wait(workflow.start({"items": ["flaky"], "reason": "restart during the dump"}))
    assert estate.proxy.dropped == before + 1
    assert execution.status == "SUCCEEDED"
    assert item_failures(workflow.history(execution.arn)) == ["SourceUnreachable"]


def lease(workflow: OfflineWorkflow, path: str, *, run_id: str, expires: datetime) -> None:
    [table] = workflow.stack.ids_of("AWS::DynamoDB::Table")
    workflow.session.client("dynamodb").put_item(
        TableName=workflow.stack.ref(table),
        Item={
            KEY: {"S": f"{PLAN}/{path}"},
            "owner": {"S": "arn:aws:states:eu-west-1:123456789012:execution:another"},
            "run_id": {"S": run_id},
            "since": {"N": str(int((expires - timedelta(hours=1)).timestamp()))},
            TTL_ATTRIBUTE: {"N": str(int(expires.timestamp()))},
        },
    )


def leases(workflow: OfflineWorkflow) -> list[str]:
    [table] = workflow.stack.ids_of("AWS::DynamoDB::Table")
    items = workflow.session.client("dynamodb").scan(TableName=workflow.stack.ref(table))["Items"]
    return sorted(item[KEY]["S"] for item in items)


def test_an_item_another_run_is_backing_up_is_left_out_and_named(workflow: OfflineWorkflow) -> None:
    lease(workflow, "etcd/k8s", run_id="20261207T010000Z-aaaa", expires=datetime.now(UTC) + timedelta(hours=1))

    # The other items go on; the held one is named with the run that holds it.
    execution = workflow.wait(workflow.start({"items": ["k8s", "ccdb"]}))
    assert execution.status == "SUCCEEDED"
    summary = execution.output["summary"]  # type: ignore[index]
    assert [item["path"] for item in summary["items"]] == ["databases/ccdb"]
    [skipped] = summary["skipped"]
    assert skipped["path"] == "etcd/k8s"
    assert skipped["run_id"] == "20261207T010000Z-aaaa"
    assert leases(workflow) == [f"{PLAN}/etcd/k8s"]  # its own lease given back, the other run's kept

    # A start for nothing but held items is refused, naming the run in progress.
    refused = workflow.wait(workflow.start({"components": ["etcd"]}))
    assert refused.status == "FAILED"
    assert refused.error == "BackupInProgress"
    assert "etcd/k8s is being backed up by run 20261207T010000Z-aaaa" in (refused.cause or "")
    # ...and announced, so that whoever asked for it is not left waiting.
    events = [event["detail"] for event in workflow.completed_events()]
    assert [event["status"] for event in events] == ["succeeded", "not-started"]
    assert events[1]["error"] == "BackupInProgress"
    assert (events[1]["execution"], events[1]["request"]) == (refused.arn, {"components": ["etcd"]})
    assert "20261207T010000Z-aaaa" in events[1]["cause"]


def test_the_lease_of_a_crashed_execution_ends_at_its_time_limit(workflow: OfflineWorkflow) -> None:
    lease(workflow, "etcd/k8s", run_id="20261206T010000Z-dead", expires=datetime.now(UTC) - timedelta(seconds=1))
    execution = workflow.wait(workflow.start({"components": ["etcd"]}))
    assert execution.status == "SUCCEEDED"
    assert execution.output["summary"]["skipped"] == []  # type: ignore[index]
    assert leases(workflow) == []


def test_the_rule_starts_runs_of_its_plan_only(workflow: OfflineWorkflow) -> None:
    [arn] = workflow.send_event({"plan": PLAN, "components": ["etcd"], "reason": "CI: before upgrade"})
    summary = workflow.wait(arn).output["summary"]  # type: ignore[index]
    assert [item["path"] for item in summary["items"]] == ["etcd/k8s"]
    assert summary["reason"] == "CI: before upgrade"
    assert workflow.send_event({"plan": "another-plan", "components": ["etcd"]}) == []
    assert workflow.send_event({"plan": PLAN}, detail_type="Backup Run Completed") == []


def test_retention_is_applied_after_each_run(workflow: OfflineWorkflow) -> None:
    deleted = []
    for _ in range(4):
        execution = workflow.wait(workflow.start({"components": ["etcd"]}))
        assert execution.status == "SUCCEEDED"
        deleted.append(execution.output["summary"]["retention"]["deleted"])  # type: ignore[index]
    assert deleted == [0, 0, 1, 1]  # min_keep 2, one a day: the third run deletes the first
    assert len(scan_runs(workflow.store(), plan=PLAN).runs) == 2


COPY_REGION = "eu-central-1"
COPY_KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"


def csi_volume(ec2: Any, namespace: str, name: str) -> str:
    tags = {
        "kubernetes.io/cluster/cf-offline": "owned",
        "kubernetes.io/created-for/pvc/namespace": namespace,
        "kubernetes.io/created-for/pvc/name": name,
        "kubernetes.io/created-for/pv/name": f"pvc-{name}",
    }
    return ec2.create_volume(
        AvailabilityZone="eu-west-1a",
        Size=8,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["VolumeId"]


def hold(snapshot_ids: list[str], state: str) -> None:
    """moto's snapshots are born completed: report them as EC2 would while they are being made."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    for snapshot_id in snapshot_ids:
        ec2_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].snapshots[snapshot_id].status = state


def test_volume_snapshots_are_waited_for_by_the_state_machine_and_recorded_per_pvc(
    estate: Estate, tmp_path: Path
) -> None:
    looks: list[int] = []

    def snapshots_take_two_looks(invocation: Any) -> None:
        phase = invocation.event.get("phase")
        if phase == "start" and invocation.result:
            hold(invocation.result["snapshots"], "pending")
        elif phase == "look" and invocation.result:
            looks.append(invocation.result.get("pending", 0))
            if len(looks) == 2:
                hold(invocation.event["snapshots"], "completed")

    with OfflineWorkflow(estate.plan, estate.secrets, tmp_path / "out", on_invocation=snapshots_take_two_looks) as wf:
        ec2 = wf.session.client("ec2")
        volumes = {csi_volume(ec2, "cf-db", "data-0"), csi_volume(ec2, "cf-apps", "cache")}
        execution = wf.wait(wf.start({"components": ["volumes"]}))
        assert execution.status == "SUCCEEDED", execution.cause
        # Pending twice, then completed, then their copies pending once (a copy starts from a completed
        # snapshot): the state machine waited and looked again until the copies completed too.
        assert looks == [2, 2, 2, 0]
        history = wf.history(execution.arn)
        assert sum(event["type"] == "WaitStateEntered" for event in history) == 4
        run_id = execution.output["summary"]["run_id"]  # type: ignore[index]
        store = wf.store()
        [ref] = read_manifest(store, run_id).artifacts
        assert (ref.path, ref.status, ref.engine) == ("volumes/pvs", "succeeded", "ebs")
        assert verify_location(store.child(f"runs/{run_id}/volumes/pvs")).ok
        record, _ = read_artifact_record(store.child(f"runs/{run_id}/volumes/pvs"))
        by_pvc = {(r["pvc_namespace"], r["pvc_name"]): r for r in record.snapshot_point["snapshots"]}
        assert set(by_pvc) == {("cf-db", "data-0"), ("cf-apps", "cache")}
        assert {r["volume_id"] for r in by_pvc.values()} == volumes
        run_tag = [{"Name": "tag:smokejumper:run-id", "Values": [run_id]}]
        tagged = ec2.describe_snapshots(Filters=run_tag)
        assert {s["SnapshotId"] for s in tagged["Snapshots"]} == {r["snapshot_id"] for r in by_pvc.values()}
        copies = wf.session.client("ec2", region_name=COPY_REGION).describe_snapshots(Filters=run_tag)["Snapshots"]
        assert {s["SnapshotId"]: s["KmsKeyId"] for s in copies} == {
            r["copy"]["snapshot_id"]: COPY_KEY for r in by_pvc.values()
        }


def test_a_snapshot_in_error_fails_its_item_at_once_and_the_others_go_on(estate: Estate, tmp_path: Path) -> None:
    def one_fails(invocation: Any) -> None:
        if invocation.event.get("phase") == "start" and invocation.result:
            hold(invocation.result["snapshots"][:1], "error")

    with OfflineWorkflow(estate.plan, estate.secrets, tmp_path / "out", on_invocation=one_fails) as wf:
        csi_volume(wf.session.client("ec2"), "cf-db", "data-0")
        execution = wf.wait(wf.start({"items": ["pvs", "k8s"]}))
        assert execution.status == "FAILED"
        summary = json.loads(json.dumps(wf.completed_events()[0]["detail"]))
        statuses = {item["path"]: (item["status"], item["error_type"]) for item in summary["items"]}
        assert statuses == {"etcd/k8s": ("succeeded", None), "volumes/pvs": ("failed", "SnapshotFailed")}
        [failed] = [item for item in summary["items"] if item["path"] == "volumes/pvs"]
        assert "cf-db/data-0 failed" in failed["error"]
        looks = [e for e in wf.history(execution.arn) if e["type"] == "WaitStateEntered"]
        assert len(looks) == 1, "failed at the first look, not after the timeout"
