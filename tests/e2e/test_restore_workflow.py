"""The synthesized restore state machine, executed by moto, against real PostgreSQL and etcd.

As an operator would on the worst day: a run is backed up by the synthesized
backup workflow, then restored by starting the restore state machine with a
JSON input; what it restored is judged by PostgreSQL's own tools.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan

from tests.support import pg_oracle, pg_schemas
from tests.support.services import (
    HOST,
    PG_PORT,
    EtcdServer,
    PostgresDatabase,
    _pg_admin,
    fresh_postgres_database,
    running_etcd,
    unique_name,
)

pytestmark = pytest.mark.integration

PLAN = "cf-restores"
PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:cf-restores/ccdb-Ab12Cd"
CLUSTER_TAG = "kubernetes.io/cluster/cf-restores"
MEMBERS = {"etcd-0": "https://10.0.1.10:2380", "etcd-1": "https://10.0.2.10:2380", "etcd-2": "https://10.0.3.10:2380"}


@dataclass
class Estate:
    plan: Plan
    pg: PostgresDatabase
    etcd: EtcdServer


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with fresh_postgres_database() as pg, running_etcd(tmp_path_factory.mktemp("etcd")) as etcd:
        pg_schemas.load_cf_like(pg, rows=200)
        for number in range(25):
            etcd.etcdctl("put", f"/registry/secrets/default/s-{number}", f"value-{number}")
        plan = Plan.model_validate(
            {
                "name": PLAN,
                "schedules": {
                    "etcd": {"cron": "cron(15 * * * ? *)"},
                    "databases": {"cron": "cron(0 2 * * ? *)"},
                    "volumes": {"cron": "cron(30 1 * * ? *)"},
                },
                "volumes": [{"name": "pvs", "tags": [{"key": CLUSTER_TAG, "values": ["owned"]}], "poll_seconds": 5}],
                "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
                "etcd": [{"name": "k8s", "endpoints": [etcd.endpoint]}],
                "restore_tests": {
                    "schedule": {"cron": "cron(0 6 * * ? *)"},
                    "scratch": [
                        {
                            "engine": "postgres",
                            "host": HOST,
                            "port": PG_PORT,
                            "credentials_secret_arn": PG_SECRET,
                            "tls": {"mode": "prefer"},
                        }
                    ],
                },
                "databases": [
                    pg.plan_entry("ccdb", PG_SECRET),
                ],
            }
        )
        yield Estate(plan, pg, etcd)


@pytest.fixture
def backed_up(estate: Estate, tmp_path: Path) -> Iterator[tuple[OfflineWorkflow, str]]:
    """An emulated AWS holding the plan's stack and one good run of every item: (the workflow, the run id)."""
    secrets = {PG_SECRET: {"username": "postgres", "password": "unused-with-trust"}}
    with OfflineWorkflow(estate.plan, secrets, tmp_path / "out") as workflow:
        tags = {
            CLUSTER_TAG: "owned",
            "kubernetes.io/created-for/pvc/namespace": "cf-db",
            "kubernetes.io/created-for/pvc/name": "data-0",
            "kubernetes.io/created-for/pv/name": "pvc-0a1b",
        }
        workflow.session.client("ec2").create_volume(
            AvailabilityZone="eu-west-1a", Size=8, VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )  # fmt: skip
        backup = workflow.wait(workflow.start({"reason": "before the restore test"}))
        assert backup.status == "SUCCEEDED", backup.cause
        yield workflow, backup.output["summary"]["run_id"]  # type: ignore[index]


@pytest.fixture
def new_database() -> Iterator[str]:
    name = unique_name("sj_console")
    yield name
    admin = _pg_admin()
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def states_entered(workflow: OfflineWorkflow, execution: str) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in workflow.history(execution)
        if event["type"].endswith("StateEntered")
    ]


def test_a_console_restore_restores_the_database_and_writes_the_etcd_kit(
    estate: Estate, backed_up: tuple[OfflineWorkflow, str], new_database: str
) -> None:
    workflow, run_id = backed_up
    restore_input = {
        "run": "latest",
        "databases": [{"name": "ccdb", "target": {"host": HOST, "port": PG_PORT, "database": new_database}}],
        "etcd": [{"cluster": "k8s", "members": MEMBERS}],
        "volumes": [{"pvc": "cf-db/data-0", "availability_zone": "eu-west-1b"}],
    }
    execution = workflow.wait(workflow.restore(restore_input), timeout=300)
    assert execution.status == "SUCCEEDED", execution.cause
    report = execution.output["report"]  # type: ignore[index]
    assert (report["status"], report["run_id"]) == ("restored", run_id)
    items = {f"{item['component']}/{item['name']}": item for item in report["items"]}
    assert items["databases/ccdb"]["rows"] > 0
    pg_oracle.assert_same_database(estate.pg, PostgresDatabase(HOST, PG_PORT, "postgres", new_database))
    store = workflow.store()
    kit = items["etcd/k8s"]["detail"]["kit"].removeprefix(f"{store.url}/")
    keys = set(store.list_keys(kit))
    assert {f"{kit}/RUNBOOK.md", *(f"{kit}/restore-{member}.sh" for member in MEMBERS)} <= keys
    volume = items["volumes/cf-db/data-0"]["detail"]
    [made] = workflow.session.client("ec2").describe_volumes(VolumeIds=[volume["volume_id"]])["Volumes"]
    assert (made["AvailabilityZone"], made["Size"], made["VolumeType"]) == ("eu-west-1b", 8, "gp3")
    pv_yaml = store.get_bytes(volume["yaml"].removeprefix(f"{store.url}/")).decode()
    assert f"volumeHandle: {volume['volume_id']}" in pv_yaml
    written = json.loads(store.get_bytes(report["report"].removeprefix(f"{store.url}/")))
    assert written["status"] == "restored"
    # Every artifact verified before the first item was restored.
    entered = states_entered(workflow, execution.arn)
    assert entered.index("Verify every artifact") < entered.index("Restore every item")


def test_a_bad_input_fails_at_its_first_step_naming_every_problem(
    backed_up: tuple[OfflineWorkflow, str], new_database: str
) -> None:
    workflow, _ = backed_up
    bad = {
        "run": "latest",
        "databases": [
            {"name": "cc", "target": {"host": HOST, "database": new_database}},
            {"name": "ccdb", "target": {"host": "10.1.2.3", "database": new_database}},
        ],
        "etcd": [{"cluster": "k8s", "members": {"etcd-0": "10.0.1.10:2380"}}],
    }
    execution = workflow.wait(workflow.restore(bad), timeout=120)
    assert (execution.status, execution.error) == ("FAILED", "InvalidRestoreInput")
    cause = execution.cause or ""
    for problem in ("databases[0].name", "databases[1].target: postgres server 10.1.2.3", "etcd[0].members.etcd-0"):
        assert problem in cause, cause
    assert "Verify every artifact" not in states_entered(workflow, execution.arn), "nothing after the check"
    admin = _pg_admin()
    assert not admin.run("SELECT 1 FROM pg_database WHERE datname = :n", n=new_database)
    admin.close()


def test_a_restore_into_a_non_empty_target_fails_naming_the_item_and_leaves_the_target(
    estate: Estate, backed_up: tuple[OfflineWorkflow, str]
) -> None:
    workflow, _ = backed_up
    # The source database itself, as another target name would not be: not empty, and no "clean".
    restore_input: dict[str, Any] = {
        "databases": [{"name": "ccdb", "target": {"host": HOST, "port": PG_PORT, "database": estate.pg.dbname}}]
    }
    execution = workflow.wait(workflow.restore(restore_input), timeout=120)
    assert (execution.status, execution.error) == ("FAILED", "InvalidRestoreInput")
    assert "the live database" in (execution.cause or "")
    before = pg_oracle.table_checksums(estate.pg)
    scratch = unique_name("sj_console")
    admin = _pg_admin()
    admin.run(f'CREATE DATABASE "{scratch}"')
    try:
        target = PostgresDatabase(HOST, PG_PORT, "postgres", scratch)
        connection = target.connect()
        connection.run("CREATE TABLE public.already_here (id int)")
        connection.close()
        restore_input["databases"][0]["target"]["database"] = scratch
        execution = workflow.wait(workflow.restore(restore_input), timeout=120)
        assert (execution.status, execution.error) == ("FAILED", "RestoreFailed")
        assert "databases/ccdb failed (RestoreFailed)" in (execution.cause or "")
        assert "is not empty" in (execution.cause or "")
        assert set(pg_oracle.table_checksums(target)) == {"public.already_here"}
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()
    assert pg_oracle.table_checksums(estate.pg) == before


def test_the_restore_test_machine_passes_a_good_run_and_fails_a_damaged_one_telling_people(
    backed_up: tuple[OfflineWorkflow, str],
) -> None:
    from smokejumper.catalog import read_artifact_record
    from smokejumper.restore_tests import SCRATCH_PREFIX, read_verdict

    workflow, run_id = backed_up
    [name] = [name for name in workflow.schedules() if name.endswith("-restore-test")]
    passed = workflow.wait(workflow.fire_schedule(name), timeout=300)
    assert passed.status == "SUCCEEDED", passed.cause
    store = workflow.store()
    verdict = read_verdict(store, run_id)
    assert verdict is not None
    assert verdict["status"] == "passed"
    items = {item["path"]: item for item in verdict["items"]}
    assert items["databases/ccdb"]["status"] == "passed"
    assert items["databases/ccdb"]["compared"]["rows"] > 0
    assert items["etcd/k8s"]["compared"]["live_keys"] == 25
    assert items["volumes/pvs"]["status"] == "skipped"

    directory = f"runs/{run_id}/databases/ccdb"
    record, _ = read_artifact_record(store, directory)
    key = f"{directory}/{record.files[0].name}"
    data = bytearray(store.get_bytes(key))
    data[len(data) // 2] ^= 0x40
    store.put_bytes(key, bytes(data))
    failed = workflow.wait(workflow.restore_test({"run_id": run_id}), timeout=300)
    assert (failed.status, failed.error) == ("FAILED", "RestoreTestFailed")
    assert "databases/ccdb" in (failed.cause or "")
    assert read_verdict(store, run_id)["status"] == "failed"  # type: ignore[index]
    [message] = [m for m in workflow.notifications() if "Restore test" in m["subject"]]
    assert run_id in message["message"]
    # The metric the alarms watch, as the function printed it (EMF on stdout, Lambda's log): 1, then 0.
    emitted = [
        json.loads(line)["RestoreTestPassed"]
        for line in workflow.log_file.read_text().splitlines()
        if line.startswith("{") and "RestoreTestPassed" in line
    ]
    assert emitted == [[1.0], [0.0]], emitted
    admin = _pg_admin()
    left = [name for (name,) in admin.run("SELECT datname FROM pg_database") if name.startswith(SCRATCH_PREFIX)]
    admin.close()
    assert left == []
