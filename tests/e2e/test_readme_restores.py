"""Each restore input the README shows, read from the README, run by the synthesized restore state machine.

The estate has the example plan's names (ccdb, uaadb, diego, locket, silk on
PostgreSQL, credhub on MySQL, the etcd cluster eks-cf-prod, the PVC
cf-db/data-mysql-0 copied to eu-central-1) on this machine. The README's
inputs are pasted as they are, except what only this machine can say: its
hosts and ports, database names that are new here, and the time in a
`latest-before`. Each execution must succeed and what it restored is judged
by PostgreSQL's and MySQL's own tools.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan, load_plan

from tests.support import mysql_oracle, mysql_schemas, pg_oracle, pg_schemas
from tests.support.services import (
    HOST,
    MYSQL_PORT,
    PG_PORT,
    MysqlDatabase,
    PostgresDatabase,
    _mysql_admin,
    _pg_admin,
    fresh_mysql_database,
    fresh_postgres_database,
    running_etcd,
    unique_name,
)
from tests.unit.test_restore_input import readme_examples

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's
COPY_REGION = "eu-central-1"
CLUSTER_TAG = "kubernetes.io/cluster/cf-prod"
PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:readme/pg-AbCdEf"
MYSQL_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:readme/mysql-AbCdEf"
POSTGRES_ITEMS = ("ccdb", "uaadb", "diego", "locket", "silk")


def estate_plan(example: Plan, sources: dict[str, Any], etcd_endpoint: str) -> Plan:
    """The example plan's items on this machine: same names, this machine's servers."""
    data = example.model_dump(mode="json", exclude_none=True)
    data["deployment"] = {"region": "eu-west-1"}
    data["storage"].pop("object_lock_days", None)
    data["databases"] = [
        {"name": name, "engine": "postgres", "host": HOST, "port": PG_PORT, "database": sources[name].dbname,
         "credentials_secret_arn": PG_SECRET, "tls": {"mode": "prefer"}}
        for name in POSTGRES_ITEMS
    ] + [
        {"name": "credhub", "engine": "mysql", "host": HOST, "port": MYSQL_PORT,
         "database": sources["credhub"].dbname, "credentials_secret_arn": MYSQL_SECRET, "tls": {"mode": "disable"}}
    ]  # fmt: skip
    data["etcd"] = [{"name": "eks-cf-prod", "endpoints": [etcd_endpoint]}]
    [selector] = data["volumes"]
    selector["tags"] = [{"key": CLUSTER_TAG, "values": ["owned"]}]
    selector["poll_seconds"] = 5
    selector["copy_to"] = {
        "region": COPY_REGION,
        "kms_key": f"arn:aws:kms:{COPY_REGION}:{ACCOUNT}:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f",
    }
    data["restores"] = {"servers": []}  # the recovery server is this machine's PostgreSQL, the plan's own
    data.pop("restore_tests", None)
    return Plan.model_validate(data)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, dict[str, Any]]]:
    with ExitStack() as stack:
        sources: dict[str, Any] = {name: stack.enter_context(fresh_postgres_database()) for name in POSTGRES_ITEMS}
        sources["credhub"] = stack.enter_context(fresh_mysql_database())
        pg_schemas.load_cf_like(sources["ccdb"], rows=150)
        for name in POSTGRES_ITEMS[1:]:
            connection = sources[name].connect()
            connection.run(f"CREATE TABLE public.{name}_state (id int PRIMARY KEY, note text)")
            connection.run(f"INSERT INTO public.{name}_state SELECT g, 'row ' || g FROM generate_series(1, 50) g")
            connection.close()
        mysql_schemas.load_cf_like(sources["credhub"], rows=150)
        etcd = stack.enter_context(running_etcd(tmp_path_factory.mktemp("etcd")))
        for number in range(20):
            etcd.etcdctl("put", f"/registry/namespaces/ns-{number}", "ns")
        example = load_plan(REPO / "plans" / "example.yaml")
        yield estate_plan(example, sources, etcd.endpoint), sources


def localized(example: dict[str, Any], names: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The README's input with this machine's hosts, ports and new database names, and a time after the run."""
    text = json.dumps(example)
    if example.get("run", "").startswith("latest-before:"):
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
        text = re.sub(r'"latest-before:[^"]*"', f'"latest-before:{later}"', text)
    localized = json.loads(text)
    for item in localized.get("databases", []):
        target = item["target"]
        engine = "mysql" if item["name"] == "credhub" else "postgres"
        target["database"] = names[(target["host"], target["database"])]
        target["host"], target["port"] = HOST, MYSQL_PORT if engine == "mysql" else PG_PORT
    return localized


def test_every_readme_restore_input_restores_through_the_state_machine(estate, tmp_path: Path) -> None:
    plan, sources = estate
    examples = readme_examples()
    # README host -> (this machine's server, whether its databases are the live ones or new ones)
    live = {
        "cf-prod-pg.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com": {
            "cloud_controller": sources["ccdb"].dbname,
        },
        "cf-prod-mysql.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com": {"credhub": sources["credhub"].dbname},
    }
    created: list[tuple[str, str]] = []
    names: dict[tuple[str, str], str] = {}
    for example in examples:
        for item in example.get("databases", []):
            host, database = item["target"]["host"], item["target"]["database"]
            if database in live.get(host, {}):
                names[(host, database)] = live[host][database]
            elif (host, database) not in names:
                names[(host, database)] = unique_name("sj_readme")
                created.append(("mysql" if item["name"] == "credhub" else "postgres", names[(host, database)]))
    secrets = {
        PG_SECRET: {"username": "postgres", "password": "unused-with-trust"},
        MYSQL_SECRET: {"username": "root", "password": ""},
    }
    try:
        with OfflineWorkflow(plan, secrets, tmp_path / "out") as workflow:
            tags = {
                CLUSTER_TAG: "owned",
                "kubernetes.io/created-for/pvc/namespace": "cf-db",
                "kubernetes.io/created-for/pvc/name": "data-mysql-0",
                "kubernetes.io/created-for/pv/name": "pvc-7d1e",
            }
            workflow.session.client("ec2").create_volume(
                AvailabilityZone="eu-west-1a", Size=8, VolumeType="gp3",
                TagSpecifications=[{"ResourceType": "volume",
                                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
            )  # fmt: skip
            backup = workflow.wait(workflow.start({"reason": "before the README's restores"}))
            assert backup.status == "SUCCEEDED", backup.cause
            for number, example in enumerate(examples):
                execution = workflow.wait(workflow.restore(localized(example, names)), timeout=600)
                assert execution.status == "SUCCEEDED", (number, execution.error, execution.cause)
                report = execution.output["report"]  # type: ignore[index]
                asked = (
                    len(example.get("databases", [])) + len(example.get("etcd", [])) + len(example.get("volumes", []))
                )
                assert [item["status"] for item in report["items"]] == ["restored"] * asked, report
            copy = workflow.session.client("ec2", region_name=COPY_REGION)
            restored_in_copy_region = copy.describe_volumes()["Volumes"]
            assert [v["AvailabilityZone"] for v in restored_in_copy_region] == ["eu-central-1a"]
        # What the databases hold now, judged by the engines' own tools against their sources.
        for (host, database), name in names.items():
            if name in {source.dbname for source in sources.values()}:
                continue  # a live database: restored over itself (clean), checked below
            item = next(
                i["name"] for e in examples for i in e.get("databases", [])
                if (i["target"]["host"], i["target"]["database"]) == (host, database)
            )  # fmt: skip
            if item == "credhub":
                mysql_oracle.assert_same_database(sources[item], MysqlDatabase(HOST, MYSQL_PORT, "root", name))
            else:
                pg_oracle.assert_same_database(sources[item], PostgresDatabase(HOST, PG_PORT, "postgres", name))
    finally:
        admin = _pg_admin()
        for engine, name in created:
            if engine == "postgres":
                admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        mysql = _mysql_admin()
        with mysql.cursor() as cursor:
            for engine, name in created:
                if engine == "mysql":
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        mysql.close()
