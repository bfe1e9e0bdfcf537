"""Restores of a run's items from one JSON input (smokejumper.restores, `smokejumper restore run`).

Against real PostgreSQL, MariaDB and etcd: a run is backed up through the
runs module, then restored as the console's input says, and each restored
database is judged by the engines' own tools against its source.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from smokejumper.catalog import read_artifact_record
from smokejumper.errors import IntegrityError
from smokejumper.plan import Plan
from smokejumper.restores import RestoreInputError, run_restore
from smokejumper.runs import back_up_items, commit_run, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.store import Store, open_store

from tests.support import mysql_oracle, mysql_schemas, pg_oracle, pg_schemas
from tests.support.services import (
    HOST,
    MYSQL_PORT,
    PG_PORT,
    EtcdServer,
    MysqlDatabase,
    PostgresDatabase,
    _mysql_admin,
    _pg_admin,
    free_port,
    fresh_mysql_database,
    fresh_postgres_database,
    running_etcd,
    unique_name,
)

pytestmark = pytest.mark.integration

PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:pg-AbCdEf"
MYSQL_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mysql-AbCdEf"
SECRETS = {
    PG_SECRET: {"username": "postgres", "password": "pg-Secret-7f3a9c"},  # trust auth: never used, never shown
    MYSQL_SECRET: {"username": "root", "password": ""},
}
SMOKEJUMPER = Path(sys.executable).with_name("smokejumper")


@dataclass
class Backed:
    plan: Plan
    plan_file: Path
    store: Store
    run_id: str
    pg: PostgresDatabase
    mysql: MysqlDatabase
    etcd: EtcdServer


def plan_for(pg: PostgresDatabase, my: MysqlDatabase, etcd: EtcdServer, *, extra: list[Any] = ()) -> Plan:
    return Plan.model_validate(
        {
            "name": "cf-restore",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}, "etcd": {"cron": "cron(15 * * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [
                pg.plan_entry("ccdb", PG_SECRET),
                my.plan_entry("credhub", MYSQL_SECRET),
                *extra,
            ],
            "etcd": [{"name": "k8s", "endpoints": [etcd.endpoint]}],
        }
    )


def back_up(plan: Plan, store: Store, *, now: datetime, components: list[str] | None = None) -> str:
    ticket = start_run(plan, components=components or [], now=now)
    commit_run(store, ticket, back_up_items(plan, store, ticket, FileSecrets(SECRETS)), now=now)
    return ticket.run_id


@pytest.fixture(scope="module")
def backed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backed]:
    tmp = tmp_path_factory.mktemp("restore-run")
    with (
        fresh_postgres_database() as pg,
        fresh_mysql_database() as my,
        running_etcd(tmp / "etcd") as etcd,
    ):
        pg_schemas.load_cf_like(pg, rows=300)
        mysql_schemas.load_cf_like(my, rows=300)
        for number in range(40):
            etcd.etcdctl("put", f"/registry/configmaps/default/cm-{number}", f"value-{number}")
        plan = plan_for(pg, my, etcd)
        plan_file = tmp / "plan.yaml"
        plan_file.write_text(yaml.safe_dump(plan.model_dump(mode="json", exclude_none=True), sort_keys=False))
        (tmp / "secrets.json").write_text(json.dumps(SECRETS))
        store = open_store(str(tmp / "store"))
        run_id = back_up(plan, store, now=datetime.now(UTC) - timedelta(hours=3))
        yield Backed(plan, plan_file, store, run_id, pg, my, etcd)


@pytest.fixture
def new_names() -> Iterator[dict[str, str]]:
    """Names of databases a restore may create, dropped after the test on both servers."""
    names = {"pg": unique_name("sj_rs"), "mysql": unique_name("sj_rs")}
    yield names
    admin = _pg_admin()
    admin.run(f'DROP DATABASE IF EXISTS "{names["pg"]}" WITH (FORCE)')
    admin.close()
    mysql = _mysql_admin()
    with mysql.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{names['mysql']}`")
    mysql.close()


def pg_exists(name: str) -> bool:
    admin = _pg_admin()
    try:
        return bool(admin.run("SELECT 1 FROM pg_database WHERE datname = :n", n=name))
    finally:
        admin.close()


def mysql_exists(name: str) -> bool:
    admin = _mysql_admin()
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        found = cursor.fetchone() is not None
    admin.close()
    return found


def everything(names: dict[str, str], run: str = "latest") -> dict[str, Any]:
    return {
        "run": run,
        "databases": [
            {"name": "ccdb", "target": {"host": HOST, "port": PG_PORT, "database": names["pg"]}},
            {"name": "credhub", "target": {"host": HOST, "port": MYSQL_PORT, "database": names["mysql"]}},
        ],
        "etcd": [
            {"cluster": "k8s", "members": {"etcd-0": "https://10.0.1.10:2380", "etcd-1": "https://10.0.2.10:2380"}}
        ],
    }


def test_a_whole_run_is_restored_into_new_databases_and_an_etcd_kit(backed: Backed, new_names) -> None:
    report = run_restore(backed.plan, backed.store, everything(new_names), secrets=FileSecrets(SECRETS))
    assert report.status == "restored", report.to_json()
    assert report.run_id == backed.run_id
    by_item = {f"{item.component}/{item.name}": item for item in report.items}
    assert by_item["databases/ccdb"].detail["created"] is True
    assert by_item["databases/ccdb"].rows > 0
    # The engines' own tools judge: the restored databases are the sources' twins.
    pg_oracle.assert_same_database(backed.pg, PostgresDatabase(HOST, PG_PORT, "postgres", new_names["pg"]))
    mysql_oracle.assert_same_database(backed.mysql, mysql_schemas_target(new_names["mysql"]))
    kit = by_item["etcd/k8s"].detail["kit"]
    prefix = kit.removeprefix(f"{backed.store.url}/")
    keys = set(backed.store.list_keys(prefix))
    assert {f"{prefix}/RUNBOOK.md", f"{prefix}/restore-etcd-0.sh", f"{prefix}/restore-etcd-1.sh"} <= keys, keys
    assert prefix.startswith(f"runs/{backed.run_id}/restores/{report.restore_id}/etcd/k8s")
    # The same restore.json the console's restore writes: what was restored, and the message.
    written = json.loads(backed.store.get_bytes(f"runs/{backed.run_id}/restores/{report.restore_id}/restore.json"))
    assert (written["status"], written["message"]) == ("restored", report.message)
    assert "PG_PASSWORD" not in json.dumps(report.to_json())
    assert "pg-Secret-7f3a9c" not in json.dumps(report.to_json())


def mysql_schemas_target(name: str) -> MysqlDatabase:
    return MysqlDatabase(HOST, MYSQL_PORT, "root", name)


def test_an_input_with_several_mistakes_lists_every_one_and_touches_nothing(backed: Backed, new_names) -> None:
    bad = {
        "run": "latest",
        "databases": [
            {"name": "nope", "target": {"host": HOST, "database": new_names["pg"]}},
            {"name": "ccdb", "target": {"host": "10.9.9.9", "database": new_names["pg"]}},
            {"name": "credhub", "target": {"host": HOST, "port": MYSQL_PORT, "database": new_names["mysql"]},
             "tables": ["no_such_table"]},
            {"name": "ccdb", "target": {"host": "bad host!", "database": "x"}},
        ],
        "etcd": [{"cluster": "k9s", "members": {"etcd-0": "ftp://10.0.1.10"}}],
    }  # fmt: skip
    with pytest.raises(RestoreInputError) as refused:
        run_restore(backed.plan, backed.store, bad, secrets=FileSecrets(SECRETS))
    text = "\n".join(refused.value.problems)
    assert "databases[3].target.host" in text, text  # the shape, checked before anything else
    bad["databases"].pop()
    with pytest.raises(RestoreInputError) as refused:
        run_restore(backed.plan, backed.store, bad, secrets=FileSecrets(SECRETS))
    problems = refused.value.problems
    expected = [
        "databases[0].name: the plan has no database 'nope' (it has: ccdb, credhub)",
        f"databases[1].target: postgres server 10.9.9.9:{PG_PORT} is not one the plan allows",
        "etcd[0].cluster: the plan has no etcd cluster 'k9s' (it has: k8s)",
        "etcd[0].members.etcd-0:",
        "databases (name credhub).tables: 'no_such_table' is not in its backup",
    ]
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert len(problems) == len(expected), problems
    assert "nothing was touched" in str(refused.value)
    assert not pg_exists(new_names["pg"])
    assert not mysql_exists(new_names["mysql"])


def test_latest_skips_a_failed_run_and_a_run_without_the_item(backed: Backed, new_names, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    plan = backed.plan
    good = back_up(plan, store, now=datetime.now(UTC) - timedelta(hours=3), components=["databases"])
    broken = plan_for(
        backed.pg, backed.mysql, backed.etcd,
        extra=[{"name": "gone", "engine": "postgres", "host": HOST, "port": free_port(), "database": "x",
                "credentials_secret_arn": PG_SECRET, "tls": {"mode": "disable"}}],
    )  # fmt: skip
    failed = back_up(broken, store, now=datetime.now(UTC) - timedelta(hours=2), components=["databases"])
    etcd_only = back_up(plan, store, now=datetime.now(UTC) - timedelta(hours=1), components=["etcd"])
    request = {"databases": [{"name": "ccdb", "target": {"host": HOST, "database": new_names["pg"]}}]}
    report = run_restore(plan, store, request, secrets=FileSecrets(SECRETS))
    assert report.run_id == good, (good, failed, etcd_only)
    # Asked by id, a run without a good copy of the item is refused, naming why.
    with pytest.raises(RestoreInputError, match=f"run {etcd_only} holds no good backup of databases/ccdb"):
        run_restore(plan, store, {**request, "run": etcd_only}, secrets=FileSecrets(SECRETS))
    before = (datetime.now(UTC) - timedelta(hours=4)).isoformat()
    with pytest.raises(RestoreInputError, match="no good run started before"):
        run_restore(plan, store, {**request, "run": f"latest-before:{before}"}, secrets=FileSecrets(SECRETS))


def test_a_non_empty_target_is_refused_without_clean_and_left_as_it_was(backed: Backed, new_names) -> None:
    first = {"databases": [{"name": "ccdb", "target": {"host": HOST, "database": new_names["pg"]}}]}
    assert run_restore(backed.plan, backed.store, first, secrets=FileSecrets(SECRETS)).status == "restored"
    target = PostgresDatabase(HOST, PG_PORT, "postgres", new_names["pg"])
    connection = target.connect()
    connection.run("CREATE TABLE public.written_since (note text)")  # the target moved on since the restore
    connection.run("INSERT INTO public.written_since VALUES ('keep me')")
    before = pg_oracle.table_checksums(target)
    connection.close()
    again = run_restore(backed.plan, backed.store, first, secrets=FileSecrets(SECRETS))
    [item] = again.items
    assert (again.status, item.status, item.error_type) == ("failed", "failed", "RestoreFailed")
    assert "is not empty" in (item.error or "")
    assert pg_oracle.table_checksums(target) == before
    cleaned = {"databases": [{**first["databases"][0], "clean": True}]}
    assert run_restore(backed.plan, backed.store, cleaned, secrets=FileSecrets(SECRETS)).status == "restored"
    pg_oracle.assert_same_database(backed.pg, target)


def test_a_damaged_backup_is_found_before_any_target_is_touched(backed: Backed, new_names, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(Path(backed.store.url.removeprefix("file://")), copy)
    store = open_store(str(copy))
    directory = f"runs/{backed.run_id}/databases/credhub"
    record, _ = read_artifact_record(store, directory)
    data = bytearray(store.get_bytes(f"{directory}/{record.files[0].name}"))
    data[len(data) // 2] ^= 0xFF
    store.put_bytes(f"{directory}/{record.files[0].name}", bytes(data))
    damaged = "the backup of databases/credhub differs from its record; nothing was restored"
    with pytest.raises(IntegrityError, match=damaged):
        run_restore(backed.plan, store, everything(new_names, run=backed.run_id), secrets=FileSecrets(SECRETS))
    assert not pg_exists(new_names["pg"])
    assert not mysql_exists(new_names["mysql"])


def test_the_cli_restores_from_an_input_file_and_exits_2_on_a_bad_one(backed: Backed, new_names, tmp_path) -> None:
    good = tmp_path / "restore.json"
    good.write_text(json.dumps({"databases": [everything(new_names)["databases"][1]]}))
    base = [str(SMOKEJUMPER), "restore", "run", "--plan", str(backed.plan_file), "--store", backed.store.url,
            "--secrets", str(backed.plan_file.with_name("secrets.json"))]  # fmt: skip
    done = subprocess.run([*base, "--input", str(good), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["run_id"]) == ("restored", backed.run_id)
    mysql_oracle.assert_same_database(backed.mysql, mysql_schemas_target(new_names["mysql"]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"run": "20200101T000000Z-dead", "etcd": [{"cluster": "k8s", "members": {}}]}))
    refused = subprocess.run([*base, "--input", str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "etcd[0].members" in refused.stderr
    not_json = tmp_path / "not.json"
    not_json.write_text("{'run': 'latest'}")
    garbled = subprocess.run([*base, "--input", str(not_json)], capture_output=True, text=True, timeout=120)
    assert garbled.returncode == 2, garbled.stderr
    assert "not JSON" in garbled.stderr
