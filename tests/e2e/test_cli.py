"""The `smokejumper` command as a user runs it: real process, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from smokejumper.store import open_store

from tests.support.artifacts import write_run

REPO = Path(__file__).resolve().parents[2]
SMOKEJUMPER = Path(sys.executable).parent / "smokejumper"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("SMOKEJUMPER_STORE", None)
    return subprocess.run(
        [str(SMOKEJUMPER), *args], capture_output=True, text=True, timeout=300, cwd=cwd or REPO, env=env
    )


@pytest.fixture
def store_with_runs(tmp_path):
    store = open_store(str(tmp_path / "example"))
    # Run ids have one-second resolution: give the two runs distinct start times.
    good = write_run(store, started=datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    failed = write_run(store, started=datetime(2026, 11, 25, 2, 0, tzinfo=UTC), failed=("uaadb",))
    return store, good, failed


def test_a_run_id_is_never_cut_in_a_narrow_terminal(store_with_runs):
    store, good, failed = store_with_runs
    environment = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    listed = subprocess.run(
        [str(SMOKEJUMPER), "runs", "list", "--store", store.url], capture_output=True, text=True, env=environment
    )
    assert listed.returncode == 0, listed.stderr
    assert good.run_id in listed.stdout
    assert failed.run_id in listed.stdout


def test_the_cdk_app_starts_without_nodes_end_of_life_banner():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("JSII_")}
    started = subprocess.run(
        [sys.executable, "-c", "import app"], capture_output=True, text=True, cwd=REPO, env=environment, timeout=120
    )
    assert started.returncode == 0, started.stderr
    assert "end-of-life" not in started.stderr + started.stdout


def test_help_teaches_with_examples():
    result = run("--help")
    assert result.returncode == 0
    assert "Examples:" in result.stdout
    assert "smokejumper runs list --store s3://" in result.stdout
    for command in ("plan", "runs", "verify", "local", "demo"):
        assert command in result.stdout
    verify_help = run("verify", "--help")
    assert "exit code 3" in verify_help.stdout.lower()


def test_plan_check_accepts_the_example():
    result = run("plan", "check", "plans/example.yaml")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout
    as_json = json.loads(run("plan", "check", "plans/example.yaml", "--json").stdout)
    assert as_json["ok"] is True
    assert as_json["counts"]["databases"] >= 6


def test_plan_check_lists_every_problem(tmp_path):
    example = (REPO / "plans" / "example.yaml").read_text()
    broken = example.replace("port: 5432", "port: 70000", 1).replace("engine: mysql", "engine: oracle", 1)
    assert broken != example
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = run("plan", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "port: must be 1..65535, got 70000" in result.stderr
    assert "oracle" in result.stderr
    as_json = json.loads(run("plan", "check", str(path), "--json").stdout)
    assert as_json["ok"] is False
    assert len(as_json["problems"]) == 2


def test_runs_list_and_show(store_with_runs):
    store, good, failed = store_with_runs
    listed = run("runs", "list", "--store", store.url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.index(failed.run_id) < listed.stdout.index(good.run_id), "newest first"
    data = json.loads(run("runs", "list", "--store", store.url, "--json").stdout)
    assert [item["run_id"] for item in data["runs"]] == [failed.run_id, good.run_id]
    assert [item["status"] for item in data["runs"]] == ["failed", "succeeded"]
    assert data["runs"][0]["failed_artifacts"] == 1

    shown = run("runs", "show", "latest", "--store", store.url)
    assert shown.returncode == 0, shown.stderr
    assert good.run_id in shown.stdout, "latest means the newest successful run"
    assert "databases/ccdb" in shown.stdout
    detail = json.loads(run("runs", "show", failed.run_id, "--store", store.url, "--json").stdout)
    assert detail["artifacts"][1]["error"] == "connection lost"


def test_runs_errors_have_causes_and_hints(tmp_path, store_with_runs):
    store, _good, _failed = store_with_runs
    bad_id = run("runs", "show", "yesterday", "--store", store.url)
    assert bad_id.returncode == 2
    assert "is not a run id" in bad_id.stderr
    assert "hint:" in bad_id.stderr
    missing = run("runs", "show", "20200101T000000Z-abcd", "--store", store.url)
    assert missing.returncode == 1
    assert "no such run" in missing.stderr
    scheme = run("runs", "list", "--store", "gs://bucket/x")
    assert scheme.returncode == 2
    assert "unknown store URL scheme 'gs'" in scheme.stderr
    no_store = run("runs", "list")
    assert no_store.returncode == 2
    assert "--store" in no_store.stderr


def test_verify_good_and_tampered(store_with_runs):
    store, good, _failed = store_with_runs
    run_url = f"{store.url}/runs/{good.run_id}"
    ok = run("verify", run_url)
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stdout
    dump = Path(store.root) / "runs" / good.run_id / "databases" / "uaadb" / "dump.sql.zst"
    data = bytearray(dump.read_bytes())
    data[-30] ^= 0xFF
    dump.write_bytes(bytes(data))
    bad = run("verify", run_url)
    assert bad.returncode == 3
    assert "databases/uaadb/dump.sql.zst" in bad.stderr
    report = json.loads(run("verify", run_url, "--json").stdout)
    assert report["ok"] is False
    assert all(problem.startswith("databases/uaadb/") for problem in report["problems"])
    artifact_only = run("verify", f"{run_url}/databases/ccdb")
    assert artifact_only.returncode == 0, "the undamaged artifact verifies on its own"


def test_verify_nothing_there(tmp_path):
    result = run("verify", str(tmp_path))
    assert result.returncode == 1
    assert "neither artifact.json nor manifest.json" in result.stderr


def test_demo_runs_end_to_end(tmp_path):
    """The README's main job."""
    result = run("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo complete" in result.stdout
    assert "rejected:" in result.stdout
    # Twelve real nightly runs; one more org each night; the last night fails, so the restores come from
    # the eleventh: 20 orgs to begin with, plus 11.
    assert result.stdout.count(" succeeded ") == 11
    assert "databases/credhub: AuthenticationFailed: MySQL at 127.0.0.1:3306: access denied" in result.stdout
    assert "retention deleted" in result.stdout
    restored = "orgs/spaces/apps at backup [31, 200, 5000], restored [31, 200, 5000]"
    assert restored in result.stdout, "a real PostgreSQL round trip"
    gone = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc",
         "SELECT count(*) FROM pg_database WHERE datname LIKE 'smokejumper_demo_%' OR datname LIKE 'smokejumper_rt_%'"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert gone.stdout.strip() == "0", "the demo drops its databases"
    assert result.stdout.count(restored) == 2, "and a MySQL one"
    gone = subprocess.run(
        ["mysql", "--no-defaults", "-h", "127.0.0.1", "-u", "root", "-N", "-e",
         "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'smokejumper\\_demo\\_%'"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert gone.stdout.strip() == "0", "the demo drops its MySQL databases"
    assert "keys at backup 310, restored 310" in result.stdout, "an etcd snapshot restored through the kit"
    assert (tmp_path / "demo" / "etcd-restore-kit" / "RUNBOOK.md").is_file()
    local = tmp_path / "demo" / "store"
    listed = json.loads(run("runs", "list", "--store", str(local), "--json").stdout)
    assert [run["status"] for run in listed["runs"]] == ["failed", "succeeded"], "the demo leaves runs to explore"
    assert run("verify", str(tmp_path / "demo" / "tampered")).returncode == 3
    # The commands the demo suggests work as printed, from where it ran (not only inside `make`).
    suggested = [shlex.split(line) for line in result.stdout.splitlines() if "--store " + local.as_uri() in line]
    assert len(suggested) == 2, result.stdout
    for command in suggested:
        ran = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr


def test_local_run_executes_the_synthesized_workflow_and_carries_on_the_next_time(tmp_path):
    """`make demo`: the backup state machine `cdk synth` writes, executed on moto; then again."""
    out = tmp_path / "out"
    first = run("local", "run", "--out", str(out), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "matched by the synthesized rule" in first.stdout
    for item in ("etcd/eks-cf-prod", "databases/ccdb", "databases/credhub"):
        assert f"+ backup-item {item}" in first.stdout
    template = json.loads((out / "cdk.out" / "Smokejumper-cf-prod.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    # The example plan's replica: its stack synthesized beside the primary and created first, in its region.
    replica = json.loads((out / "cdk.out" / "Smokejumper-cf-prod-replica.template.json").read_text())
    [rule] = next(
        r["Properties"]["ReplicationConfiguration"]["Rules"]
        for r in template["Resources"].values()
        if "ReplicationConfiguration" in r.get("Properties", {})
    )
    replica_buckets = [
        r["Properties"].get("BucketName") for r in replica["Resources"].values() if r["Type"] == "AWS::S3::Bucket"
    ]
    assert rule["Destination"]["Bucket"].removeprefix("arn:aws:s3:::") in replica_buckets
    assert "and first, the replica's stack in eu-central-1" in first.stdout, first.stdout
    events = json.loads((out / "events.json").read_text())
    assert [event["detail"]["status"] for event in events] == ["succeeded", "succeeded"]
    listed = json.loads(run("runs", "list", "--store", str(out / "store"), "--json").stdout)
    assert [r["artifacts"] for r in listed["runs"]] == [1, 3], "the etcd schedule's run, the event's run"
    # Then the restore state machine restores the event's run, and the restore-test machine proves it.
    assert "Restore: SUCCEEDED" in first.stdout, first.stdout
    assert "+ restored     databases/ccdb" in first.stdout
    assert "Restore test: SUCCEEDED" in first.stdout, first.stdout
    assert listed["runs"][1]["restore_test"]["status"] == "passed"

    second = run("local", "run", "--out", str(out), cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    listed = json.loads(run("runs", "list", "--store", str(out / "store"), "--json").stdout)
    assert len(listed["runs"]) == 4, "the second run carries on from the first's store"
    # The commands it suggests work as printed, from where it ran.
    suggested = [
        shlex.split(line)
        for line in second.stdout.splitlines()
        # printed as the user can run it: `smokejumper` when it is on the PATH (as under make), else its path
        if line.split() and line.split()[0].endswith("smokejumper") and f"{out / 'store'}" in line
    ]
    assert len(suggested) == 3, second.stdout
    for command in suggested:
        ran = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
    gone = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc",
         "SELECT count(*) FROM pg_database WHERE datname LIKE 'smokejumper_demo_%' OR datname LIKE 'smokejumper_rt_%'"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert gone.stdout.strip() == "0", "it drops the databases it seeded"


def test_backup_and_restore_postgres_with_the_cli(pg_database, tmp_path):
    from tests.support.pg_oracle import assert_same_database, psql_restore
    from tests.support.pg_schemas import load_cf_like
    from tests.support.services import fresh_postgres_database

    load_cf_like(pg_database, rows=500)
    artifact = tmp_path / "ccdb"
    backup = run("backup", "postgres", "--dsn", pg_database.dsn, "--to", str(artifact), "--json")
    assert backup.returncode == 0, backup.stderr
    record = json.loads(backup.stdout)
    assert record["engine"] == "postgres"
    assert record["source"]["database"] == pg_database.dbname
    assert run("verify", str(artifact)).returncode == 0
    again = run("backup", "postgres", "--dsn", pg_database.dsn, "--to", str(artifact))
    assert again.returncode == 2
    assert "already holds an artifact" in again.stderr

    with fresh_postgres_database() as target:
        restored = run("restore", "postgres", "--from", str(artifact), "--dsn", target.dsn)
        assert restored.returncode == 0, restored.stderr
        assert "restored" in restored.stdout
        assert_same_database(pg_database, target)
        refused = run("restore", "postgres", "--from", str(artifact), "--dsn", target.dsn)
        assert refused.returncode == 1
        assert "is not empty" in refused.stderr
        assert "--clean" in refused.stderr
    with fresh_postgres_database() as by_psql:
        psql_restore(artifact / "dump.sql.zst", by_psql)
        assert_same_database(pg_database, by_psql)


def test_backup_postgres_errors_are_one_line(tmp_path):
    unreachable = run(
        "backup", "postgres", "--dsn", "postgresql://u:hunter2@127.0.0.1:1/db", "--to", str(tmp_path / "x")
    )
    assert unreachable.returncode == 1
    assert "cannot reach PostgreSQL at 127.0.0.1:1: connection refused" in unreachable.stderr
    assert "hunter2" not in unreachable.stderr + unreachable.stdout
    assert "Traceback" not in unreachable.stderr
    assert not (tmp_path / "x").exists()
    wrong_engine = run("backup", "postgres", "--dsn", "mysql://root@127.0.0.1/db", "--to", str(tmp_path / "y"))
    assert wrong_engine.returncode == 2
    assert "not a PostgreSQL URL" in wrong_engine.stderr


def test_backup_etcd_with_the_cli(etcd_server, tmp_path):
    for number in range(200):
        etcd_server.etcdctl("put", f"/registry/configmaps/default/cm-{number}", f"value-{number}")
    artifact = tmp_path / "etcd"
    result = run("backup", "etcd", "--endpoint", etcd_server.endpoint, "--to", str(artifact), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["engine"] == "etcd"
    assert record["snapshot_point"]["trailer_verified"] is True
    assert record["snapshot_point"]["key_count"] == 200
    assert run("verify", str(artifact)).returncode == 0
    # The decompressed artifact is a snapshot etcdutl accepts.
    snapshot = tmp_path / "snapshot.db"
    subprocess.run(["zstd", "-dq", str(artifact / "snapshot.db.zst"), "-o", str(snapshot)], check=True)
    from tests.support.services import etcd_binary

    status = subprocess.run(
        [str(etcd_binary("etcdutl")), "snapshot", "status", str(snapshot), "-w", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(status.stdout)["revision"] == record["snapshot_point"]["revision"]


def test_backup_etcd_unreachable_is_one_line(tmp_path):
    from tests.support.services import free_port

    result = run("backup", "etcd", "--endpoint", f"http://127.0.0.1:{free_port()}", "--to", str(tmp_path / "e"))
    assert result.returncode == 1
    assert "connection refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "e").exists()
