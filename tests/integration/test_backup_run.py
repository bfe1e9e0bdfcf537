"""`smokejumper backup run`: a whole plan (PostgreSQL, MySQL, etcd) as one run, judged by the engines' tools.

The plan's hosts are 127.0.0.1 and its credentials come from a --secrets
file, which is how the same plan file drives a laptop, CI and Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from smokejumper.catalog import read_artifact_record, read_manifest, scan_runs
from smokejumper.store import open_store

from tests.support import mysql_oracle, mysql_schemas, pg_oracle, pg_schemas
from tests.support.services import MYSQL_USER_PASSWORD as MYSQL_PASSWORD
from tests.support.services import (
    EtcdServer,
    MysqlDatabase,
    PostgresDatabase,
    etcd_binary,
    free_port,
    fresh_mysql_database,
    fresh_postgres_database,
)

pytestmark = pytest.mark.integration

SMOKEJUMPER = Path(sys.executable).with_name("smokejumper")
ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:{}-AbCdEf"
PG_PASSWORD = "pg-Secret-7f3a9c"  # trust auth ignores it: here to prove it is never printed


def plan_document(
    name: str, *, databases: list[dict[str, Any]], etcd: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "schedules": {
            "databases": {"cron": "cron(0 2 * * ? *)"},
            "etcd": {"cron": "cron(15 * * * ? *)"},
        },
        "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
        "databases": databases,
        "concurrency": 2,
    }
    if etcd:
        document["etcd"] = etcd
    return document


def pg_item(name: str, database: PostgresDatabase, *, port: int | None = None, label: str = "pg") -> dict[str, Any]:
    return {
        "name": name,
        "engine": "postgres",
        "host": database.host,
        "port": port or database.port,
        "database": database.dbname,
        "credentials_secret_arn": ARN.format(label),
        "tls": {"mode": "prefer"},
    }


def mysql_item(name: str, database: MysqlDatabase, *, label: str = "mysql") -> dict[str, Any]:
    return {
        "name": name,
        "engine": "mysql",
        "host": database.host,
        "port": database.port,
        "database": database.dbname,
        "credentials_secret_arn": ARN.format(label),
        "tls": {"mode": "disable"},
    }


def write_files(tmp_path: Path, document: dict[str, Any], secrets: dict[str, Any]) -> tuple[Path, Path]:
    plan, secrets_file = tmp_path / "plan.yaml", tmp_path / "secrets.json"
    plan.write_text(yaml.safe_dump(document, sort_keys=False))
    secrets_file.write_text(json.dumps(secrets))
    return plan, secrets_file


def backup_run(plan: Path, store: Path, secrets: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [str(SMOKEJUMPER), "backup", "run", "--plan", str(plan), "--store", str(store), "--secrets", str(secrets),
         *args],
        capture_output=True, text=True, timeout=300, env=environment,
    )  # fmt: skip


def test_a_whole_plan_is_one_verifiable_run(
    pg_database: PostgresDatabase, mysql_database: MysqlDatabase, mysql_user: str, etcd_server: EtcdServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    pg_schemas.load_cf_like(pg_database, rows=400)
    mysql_schemas.load_cf_like(mysql_database, rows=400)
    for number in range(150):
        etcd_server.etcdctl("put", f"/registry/configmaps/default/cm-{number}", f"value-{number}")
    document = plan_document(
        "local-all",
        databases=[pg_item("ccdb", pg_database), mysql_item("credhub", mysql_database)],
        etcd=[{"name": "k8s", "endpoints": [etcd_server.endpoint]}],
    )
    secrets = {
        ARN.format("pg"): {"username": "postgres", "password": PG_PASSWORD},
        ARN.format("mysql"): {"engine": "mariadb", "username": mysql_user, "password": MYSQL_PASSWORD},
    }
    plan, secrets_file = write_files(tmp_path, document, secrets)
    store_dir = tmp_path / "store"

    result = backup_run(plan, store_dir, secrets_file)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert PG_PASSWORD not in output
    assert MYSQL_PASSWORD not in output
    assert "Traceback" not in output

    store = open_store(str(store_dir))
    [manifest] = scan_runs(store, plan="local-all").runs
    assert manifest.status == "succeeded"
    assert sorted(ref.path for ref in manifest.artifacts) == ["databases/ccdb", "databases/credhub", "etcd/k8s"]
    assert all(ref.record_sha256 and ref.seconds is not None for ref in manifest.artifacts)
    run_url = store_dir / "runs" / manifest.run_id
    verify = subprocess.run([str(SMOKEJUMPER), "verify", str(run_url)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr

    # Each artifact restores, judged by the engine's own tools.
    with fresh_postgres_database() as restored:
        pg_oracle.psql_restore(run_url / "databases" / "ccdb" / "dump.sql.zst", restored)
        pg_oracle.assert_same_database(pg_database, restored)
    with fresh_mysql_database() as restored:
        mysql_oracle.mysql_restore(run_url / "databases" / "credhub" / "dump.sql.zst", restored)
        mysql_oracle.assert_same_database(mysql_database, restored)
    snapshot = tmp_path / "snapshot.db"
    subprocess.run(["zstd", "-dq", str(run_url / "etcd" / "k8s" / "snapshot.db.zst"), "-o", str(snapshot)], check=True)
    status = subprocess.run(
        [str(etcd_binary("etcdutl")), "snapshot", "status", str(snapshot), "-w", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    record, _digest = read_artifact_record(store, f"runs/{manifest.run_id}/etcd/k8s")
    assert json.loads(status.stdout)["revision"] == record.snapshot_point["revision"]
    assert record.snapshot_point["key_count"] == 150

    # One item of the plan, one component: runs of their own.
    only_etcd = backup_run(plan, store_dir, secrets_file, "--component", "etcd", "--json")
    assert only_etcd.returncode == 0, only_etcd.stderr
    assert [ref["path"] for ref in json.loads(only_etcd.stdout)["artifacts"]] == ["etcd/k8s"]
    typo = backup_run(plan, store_dir, secrets_file, "--item", "ccbd")
    assert typo.returncode == 2
    assert "did you mean 'ccdb'?" in typo.stderr


def test_a_failed_item_fails_the_run_and_the_others_are_kept(
    pg_database: PostgresDatabase, mysql_database: MysqlDatabase, mysql_user: str, tmp_path: Path
) -> None:
    pg_schemas.load_cf_like(pg_database, rows=100)
    document = plan_document(
        "local-failing",
        databases=[
            pg_item("ccdb", pg_database),
            pg_item("gone", pg_database, port=free_port()),  # nothing listens there
            mysql_item("credhub", mysql_database, label="mysql-wrong"),
        ],
    )
    secrets = {
        ARN.format("pg"): {"username": "postgres", "password": PG_PASSWORD},
        ARN.format("mysql-wrong"): {"username": mysql_user, "password": "not-" + MYSQL_PASSWORD},
    }
    plan, secrets_file = write_files(tmp_path, document, secrets)
    store_dir = tmp_path / "store"

    result = backup_run(plan, store_dir, secrets_file)
    assert result.returncode == 1, result.stderr
    assert MYSQL_PASSWORD not in result.stdout + result.stderr
    assert "databases/gone (SourceUnreachable)" in result.stderr
    assert "databases/credhub (AuthenticationFailed)" in result.stderr

    store = open_store(str(store_dir))
    manifest = read_manifest(store, scan_runs(store).runs[0].run_id)
    assert manifest.status == "failed"
    by_path = {ref.path: ref for ref in manifest.artifacts}
    assert by_path["databases/ccdb"].status == "succeeded"
    assert (by_path["databases/gone"].status, by_path["databases/gone"].error_type) == ("failed", "SourceUnreachable")
    assert "connection refused" in (by_path["databases/gone"].error or "")
    assert by_path["databases/credhub"].error_type == "AuthenticationFailed"
    assert "access denied" in (by_path["databases/credhub"].error or "")
    # The failed items left nothing; the good one is whole.
    assert not list(store.list_keys(f"runs/{manifest.run_id}/databases/gone"))
    good = store_dir / "runs" / manifest.run_id / "databases" / "ccdb"
    assert subprocess.run([str(SMOKEJUMPER), "verify", str(good)], capture_output=True).returncode == 0
    # `latest` is the newest good run: there is none.
    latest = subprocess.run(
        [str(SMOKEJUMPER), "runs", "show", "latest", "--store", str(store_dir)], capture_output=True, text=True
    )
    assert latest.returncode == 1
    assert "no successful run" in latest.stderr


def test_a_tls_etcd_from_its_secret_and_no_key_material_in_the_output(tmp_path: Path) -> None:
    from tests.support.etcd_tls import make_pki, start_etcd

    pki = make_pki(tmp_path / "pki")
    key_directories = set(Path(tempfile.gettempdir()).glob("smokejumper-etcd-tls-*"))
    secret = {"ca": pki.ca.read_text(), "cert": pki.client.cert.read_text(), "key": pki.client.key.read_text()}
    key_body = secret["key"].splitlines()[1]  # a line of the private key itself
    with start_etcd(
        tmp_path / "etcd", pki=pki, extra_args=("--heartbeat-interval=10", "--election-timeout=100")
    ) as etcd:
        etcd.etcdctl("put", "/registry/secrets/default/token", "s3cr3t")
        document = plan_document(
            "local-tls",
            databases=[],
            etcd=[{"name": "k8s", "endpoints": [etcd.client_url], "tls_secret_arn": ARN.format("etcd")}],
        )
        document.pop("databases")
        plan, secrets_file = write_files(tmp_path, document, {ARN.format("etcd"): secret})
        result = backup_run(plan, tmp_path / "store", secrets_file, "--json")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert key_body not in output
    assert "PRIVATE KEY" not in output
    [artifact] = json.loads(result.stdout)["artifacts"]
    record, _digest = read_artifact_record(
        open_store(str(tmp_path / "store")), f"runs/{json.loads(result.stdout)['run_id']}/etcd/k8s"
    )
    assert record.source["tls"] is True
    assert artifact["status"] == "succeeded"
    stored = b"".join(path.read_bytes() for path in (tmp_path / "store").rglob("*") if path.is_file())
    assert key_body.encode() not in stored, "the client key is used, never stored"
    left = set(Path(tempfile.gettempdir()).glob("smokejumper-etcd-tls-*")) - key_directories
    assert not left, "the key's temporary files are gone"
