"""Restore tests (smokejumper.restore_tests): a run restored into scratch databases and judged against its records.

Against real PostgreSQL, MariaDB and etcd. A good run passes; a run whose
artifact was damaged after the backup fails; and a restore that loses rows
(a private PostgreSQL whose template makes every new table drop every 100th
row inserted into it) fails on the row counts it cannot fake.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pg8000.native
import pytest
from click.testing import CliRunner
from smokejumper.catalog import read_artifact_record
from smokejumper.plan import Plan
from smokejumper.restore_tests import SCRATCH_PREFIX, read_verdict, run_restore_test, scratch_name
from smokejumper.runs import back_up_items, commit_run, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.store import Store, open_store

from tests.support import mysql_schemas, pg_schemas
from tests.support.private_postgres import private_postgres
from tests.support.services import (
    HOST,
    MYSQL_PORT,
    PG_PORT,
    _mysql_admin,
    _pg_admin,
    fresh_mysql_database,
    fresh_postgres_database,
    running_etcd,
)

pytestmark = pytest.mark.integration

PG_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:pg-AbCdEf"
MYSQL_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mysql-AbCdEf"
LOSSY_SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:lossy-AbCdEf"
SECRETS: dict[str, Any] = {
    PG_SECRET: {"username": "postgres", "password": "unused-with-trust"},
    MYSQL_SECRET: {"username": "root", "password": ""},
}


@dataclass
class Backed:
    plan: Plan
    store: Store
    run_id: str
    source_rows: dict[str, int]  # databases/NAME -> rows in the source, counted by the server itself


def plan_document(pg: Any, my: Any, etcd: Any, *, scratch_pg: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "cf-rt",
        "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}, "etcd": {"cron": "cron(15 * * * ? *)"}},
        "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
        "databases": [
            pg.plan_entry("ccdb", PG_SECRET),
            my.plan_entry("credhub", MYSQL_SECRET),
        ],
        "etcd": [{"name": "k8s", "endpoints": [etcd.endpoint]}],
        "restore_tests": {
            "scratch": [
                scratch_pg
                or {
                    "engine": "postgres",
                    "host": HOST,
                    "port": PG_PORT,
                    "credentials_secret_arn": PG_SECRET,
                    "tls": {"mode": "prefer"},
                },
                {
                    "engine": "mysql",
                    "host": HOST,
                    "port": MYSQL_PORT,
                    "credentials_secret_arn": MYSQL_SECRET,
                    "tls": {"mode": "disable"},
                },
            ]
        },
    }


def row_count(database: Any, engine: str) -> int:
    connection = database.connect()
    try:
        if engine == "postgres":
            tables = connection.run("SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables")
            return sum(connection.run(f"SELECT count(*) FROM {name}")[0][0] for (name,) in tables)
        with connection.cursor() as cursor:
            cursor.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
            names = [row[0] for row in cursor.fetchall()]
            total = 0
            for name in names:
                cursor.execute(f"SELECT COUNT(*) FROM `{name}`")
                total += cursor.fetchone()[0]
            return total
    finally:
        connection.close()


@pytest.fixture(scope="module")
def backed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backed]:
    tmp = tmp_path_factory.mktemp("restore-tests")
    with fresh_postgres_database() as pg, fresh_mysql_database() as my, running_etcd(tmp / "etcd") as etcd:
        pg_schemas.load_cf_like(pg, rows=300)
        mysql_schemas.load_cf_like(my, rows=300)
        for number in range(40):
            etcd.etcdctl("put", f"/registry/pods/default/p-{number}", f"value-{number}")
        etcd.etcdctl("del", "/registry/pods/default/p-0")  # a deletion: the live count is not the put count
        plan = Plan.model_validate(plan_document(pg, my, etcd))
        store = open_store(str(tmp / "store"))
        ticket = start_run(plan, now=datetime.now(UTC) - timedelta(hours=1))
        commit_run(store, ticket, back_up_items(plan, store, ticket, FileSecrets(SECRETS)), now=ticket.started_at)
        rows = {"databases/ccdb": row_count(pg, "postgres"), "databases/credhub": row_count(my, "mysql")}
        yield Backed(plan, store, ticket.run_id, rows)


def scratch_left() -> list[str]:
    """Scratch databases still on the shared servers."""
    admin = _pg_admin()
    names = [name for (name,) in admin.run("SELECT datname FROM pg_database") if name.startswith(SCRATCH_PREFIX)]
    admin.close()
    mysql = _mysql_admin()
    with mysql.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        names += [row[0] for row in cursor.fetchall() if row[0].startswith(SCRATCH_PREFIX)]
    mysql.close()
    return names


def test_a_good_run_passes_judged_against_its_records_and_leaves_no_scratch_database(backed: Backed) -> None:
    verdict = run_restore_test(backed.plan, backed.store, secrets=FileSecrets(SECRETS))
    assert verdict.run_id == backed.run_id
    items = {item.path: item for item in verdict.items}
    assert verdict.status == "passed", [(i.path, i.problems) for i in verdict.items]
    for path, rows in backed.source_rows.items():
        # What was compared is what the source server itself counts (its own SELECT count(*)).
        assert items[path].compared["rows"] == rows, (path, items[path].compared)
        assert items[path].compared["tables"] > 5
        assert items[path].restore_seconds is not None
    etcd = items["etcd/k8s"].compared
    assert etcd["live_keys"] == etcd["recorded_key_count"] >= 39
    assert scratch_left() == []
    written = read_verdict(backed.store, backed.run_id)
    assert written is not None
    assert (written["status"], written["run_id"]) == ("passed", backed.run_id)
    # `runs show` says so, with each item's restore time (the RTO figure).
    from smokejumper.cli.app import cli

    shown = CliRunner().invoke(cli, ["runs", "show", backed.run_id, "--store", backed.store.url, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["restore_test"]["status"] == "passed"
    listed = CliRunner().invoke(cli, ["runs", "list", "--store", backed.store.url, "--json"])
    assert json.loads(listed.output)["runs"][0]["restore_test"]["status"] == "passed"


def copy_of(store: Store, tmp_path: Path) -> Store:
    copy = tmp_path / "store"
    shutil.copytree(Path(store.url.removeprefix("file://")), copy)
    return open_store(str(copy))


def test_a_run_damaged_after_the_backup_fails_and_its_scratch_database_is_dropped(
    backed: Backed, tmp_path: Path
) -> None:
    store = copy_of(backed.store, tmp_path)
    directory = f"runs/{backed.run_id}/databases/ccdb"
    record, _ = read_artifact_record(store, directory)
    key = f"{directory}/{record.files[0].name}"
    data = bytearray(store.get_bytes(key))
    data[len(data) // 3] ^= 0x01
    store.put_bytes(key, bytes(data))
    verdict = run_restore_test(backed.plan, store, secrets=FileSecrets(SECRETS))
    items = {item.path: item for item in verdict.items}
    assert verdict.status == "failed"
    assert items["databases/ccdb"].status == "failed"
    assert items["databases/credhub"].status == "passed"
    assert scratch_left() == []
    assert read_verdict(store, backed.run_id)["status"] == "failed"  # type: ignore[index]


def test_an_etcd_snapshot_whose_key_count_disagrees_with_its_record_fails(backed: Backed, tmp_path: Path) -> None:
    store = copy_of(backed.store, tmp_path)
    directory = f"runs/{backed.run_id}/etcd/k8s"
    raw = json.loads(store.get_bytes(f"{directory}/artifact.json"))
    raw["snapshot_point"]["key_count"] += 1  # the record says one key more than the snapshot holds
    store.put_bytes(f"{directory}/artifact.json", json.dumps(raw).encode())
    from smokejumper.catalog import read_manifest
    from smokejumper.restore_tests import restore_test_item

    run = read_manifest(store, backed.run_id)
    [ref] = [ref for ref in run.artifacts if ref.path == "etcd/k8s"]
    item = restore_test_item(backed.plan, store, run, ref, secrets=FileSecrets(SECRETS))
    assert item.status == "failed"
    assert "live keys at revision" in item.problems[0], item.problems


LOSSY_TEMPLATE = """
CREATE SCHEMA lossy;
CREATE FUNCTION lossy.drop_every_100th() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n bigint := coalesce(nullif(current_setting('lossy.n', true), ''), '0')::bigint + 1;
BEGIN
  PERFORM set_config('lossy.n', n::text, false);
  IF n % 100 = 0 THEN RETURN NULL; END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION lossy.alter_every_100th() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n bigint := coalesce(nullif(current_setting('lossy.n', true), ''), '0')::bigint + 1;
BEGIN
  PERFORM set_config('lossy.n', n::text, false);
  IF n % 100 = 0 THEN NEW.filename := NEW.filename || '~'; END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION lossy.add_trigger() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands()
           WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.schema_migrations' LOOP
    EXECUTE format('CREATE TRIGGER lossy BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION lossy.{how}_every_100th()',
                   r.object_identity);
  END LOOP;
END $$;
CREATE EVENT TRIGGER lossy ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION lossy.add_trigger();
"""


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("drop", "table public.schema_migrations: 300 rows backed up, 297 read back from the restore"),
        ("alter", "table public.schema_migrations: its content read back differs from the backup's (300 rows each)"),
    ],
)
def test_a_restore_that_loses_or_alters_rows_fails_on_what_it_changed(
    backed: Backed, tmp_path: Path, how: str, problem: str
) -> None:
    # A scratch server whose every new database (copied from template1) drops every 100th row inserted into
    # public.schema_migrations, a table no foreign key points at: the restore itself succeeds; only reading the
    # rows back can tell. (Losing rows of a referenced table makes the restore fail on a foreign key first.)
    with private_postgres(tmp_path / "pg", tls=False) as server:
        template = pg8000.native.Connection(
            server.user, host=server.host, port=server.port, password=server.password, database="template1"
        )
        for statement in LOSSY_TEMPLATE.replace("{how}", how).split(";\nCREATE"):
            template.run(statement if statement.lstrip().startswith("CREATE") else "CREATE" + statement)
        template.close()
        secrets = FileSecrets({**SECRETS, LOSSY_SECRET: {"username": server.user, "password": server.password}})
        document = backed.plan.model_dump(mode="json", exclude_none=True)
        document["restore_tests"]["scratch"][0] = {
            "engine": "postgres", "host": server.host, "port": server.port,
            "credentials_secret_arn": LOSSY_SECRET, "tls": {"mode": "disable"},
        }  # fmt: skip
        plan = Plan.model_validate(document)
        store = copy_of(backed.store, tmp_path)
        verdict = run_restore_test(plan, store, secrets=secrets)
        items = {item.path: item for item in verdict.items}
        assert verdict.status == "failed"
        lossy = items["databases/ccdb"]
        assert lossy.status == "failed"
        assert lossy.problems == [problem], lossy.problems
        assert items["databases/credhub"].status == "passed"
        admin = pg8000.native.Connection(
            server.user, host=server.host, port=server.port, password=server.password, database="postgres"
        )
        left = [name for (name,) in admin.run("SELECT datname FROM pg_database") if name.startswith(SCRATCH_PREFIX)]
        admin.close()
        assert left == [], "the scratch database is dropped, also when the test fails"


def test_scratch_names_are_valid_identifiers_even_for_long_items() -> None:
    short = scratch_name("ccdb", "20261207T013000Z-c0de")
    assert short == "smokejumper_rt_ccdb_20261207t013000z_c0de"
    long = scratch_name("a" * 60, "20261207T013000Z-c0de")
    assert len(long) <= 63
    assert long != scratch_name("a" * 59 + "b", "20261207T013000Z-c0de")
