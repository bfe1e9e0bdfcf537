"""The Lambda handlers against emulated AWS (moto) and real PostgreSQL, MySQL and etcd.

Each handler is called as Lambda calls it: a JSON event and a context. A
failure is raised as Lambda would report it, and turned into what a Step
Functions Catch hands on (`{"Error": errorType, "Cause": <Lambda's error JSON>}`),
so the commit sees exactly what the workflow will give it.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from smokejumper import handlers
from smokejumper.catalog import read_manifest, scan_runs
from smokejumper.store import open_store
from smokejumper.verify import verify_location

from functions import backup_item, commit_run, start_run
from tests.support import pg_schemas
from tests.support.services import MYSQL_USER_PASSWORD, EtcdServer, MysqlDatabase, PostgresDatabase, free_port

pytestmark = pytest.mark.integration

PG_PASSWORD = "pg-Secret-in-a-secret-91c"
CA_MARKER = "-----BEGIN CERTIFICATE-----"


@dataclass
class FakeContext:
    """What Powertools and the deadline read from a Lambda context."""

    seconds_left: float = 900.0
    function_name: str = "smokejumper-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:smokejumper-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


@dataclass
class Deployed:
    bucket: str
    s3: Any
    secrets: dict[str, str]


@pytest.fixture
def deployed(
    aws: Any, s3_bucket: Any, pg_database: PostgresDatabase, mysql_database: MysqlDatabase, mysql_user: str,
    etcd_server: EtcdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployed]:  # fmt: skip
    """A plan deployed as the stack deploys it: plan.json beside the code, bucket and key in the environment."""
    manager = aws.client("secretsmanager")

    def secret(name: str, value: dict[str, str]) -> str:
        return manager.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]

    secrets = {
        "pg": secret("cf/ccdb", {"username": "postgres", "password": PG_PASSWORD}),
        "mysql": secret("cf/credhub", {"username": mysql_user, "password": MYSQL_USER_PASSWORD}),
        "wrong": secret("cf/credhub-old", {"username": mysql_user, "password": "rotated-away"}),
    }
    database = {"engine": "postgres", "host": pg_database.host, "port": pg_database.port, "tls": {"mode": "prefer"}}
    plan = {
        "name": "cf-test",
        "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}, "etcd": {"cron": "cron(0 * * * ? *)"}},
        "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
        "etcd": [{"name": "k8s", "endpoints": [etcd_server.endpoint]}],
        "databases": [
            {**database, "name": "ccdb", "database": pg_database.dbname, "credentials_secret_arn": secrets["pg"]},
            {**database, "name": "gone", "database": "x", "port": free_port(), "credentials_secret_arn": secrets["pg"]},
            {
                "name": "credhub",
                "engine": "mysql",
                "host": mysql_database.host,
                "port": mysql_database.port,
                "database": mysql_database.dbname,
                "credentials_secret_arn": secrets["mysql"],
                "tls": {"mode": "disable"},
            },
            {
                "name": "credhub-old",
                "engine": "mysql",
                "host": mysql_database.host,
                "port": mysql_database.port,
                "database": mysql_database.dbname,
                "credentials_secret_arn": secrets["wrong"],
                "tls": {"mode": "disable"},
            },
        ],
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    monkeypatch.setenv(handlers.PLAN_FILE_VARIABLE, str(plan_file))
    monkeypatch.setenv(handlers.BUCKET_VARIABLE, s3_bucket.name)
    monkeypatch.setenv(handlers.KMS_KEY_VARIABLE, s3_bucket.kms_key_id)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "smokejumper")
    handlers.environment.cache_clear()
    handlers.s3_client.cache_clear()
    pg_schemas.load_cf_like(pg_database, rows=200)
    etcd_server.etcdctl("put", "/registry/namespaces/default", "ns")
    yield Deployed(s3_bucket.name, s3_bucket.client, secrets)
    handlers.environment.cache_clear()
    handlers.s3_client.cache_clear()


@pytest.fixture
def lambda_logs() -> Iterator[io.StringIO]:
    """Every JSON log line the three handlers' Powertools loggers write (as CloudWatch would get them)."""
    buffer = io.StringIO()
    saved = []
    for module in (start_run, backup_item, commit_run):
        handler = module.logger.registered_handler
        saved.append((handler, handler.setStream(buffer)))
    yield buffer
    for handler, stream in saved:
        handler.setStream(stream)


def invoke(handler: Any, event: dict[str, Any], context: FakeContext | None = None) -> dict[str, Any]:
    """Call a handler as Lambda does; a failure comes back as a Step Functions Catch records it."""
    try:
        return {"output": handler(json.loads(json.dumps(event)), context or FakeContext())}
    except Exception as exc:  # what Lambda reports: errorType is the class name
        cause = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
        return {"Error": type(exc).__name__, "Cause": json.dumps(cause)}


def all_work(started: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Map input of a started run, component after component (the order of the Parallel's branches)."""
    return [work for component in started["work"].values() for work in component]


def test_a_run_through_the_three_handlers(
    deployed: Deployed, lambda_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    started = invoke(start_run.handler, {"request": {"components": ["etcd", "databases"], "reason": "before upgrade"}})[
        "output"
    ]
    assert [work["item"]["name"] for work in all_work(started)] == ["k8s", "ccdb", "gone", "credhub", "credhub-old"]
    assert started["reason"] == "before upgrade"

    results = []
    for work in all_work(started):
        outcome = invoke(backup_item.handler, work)
        if "output" in outcome:
            results.append(outcome["output"])
        else:  # the Map's Catch: ResultPath $.error on the item's input
            results.append({"item": work["item"], "error": outcome})
    errors = {result["item"]["name"]: result["error"]["Error"] for result in results if "error" in result}
    assert errors == {"gone": "SourceUnreachable", "credhub-old": "AuthenticationFailed"}

    ticket = started["ticket"]
    summary = invoke(commit_run.handler, {"ticket": ticket, "results": results, "reason": "before upgrade"})["output"]
    assert summary["status"] == "failed"
    assert summary["failed"] == ["databases/gone", "databases/credhub-old"]
    causes = {item["path"]: (item["error_type"], item["error"]) for item in summary["items"] if item["error"]}
    assert "connection refused" in causes["databases/gone"][1]
    assert causes["databases/credhub-old"][0] == "AuthenticationFailed"

    store = open_store(f"s3://{deployed.bucket}/cf-test", s3_client=deployed.s3)
    manifest = read_manifest(store, ticket["run_id"])
    assert manifest.status == "failed"
    assert [ref.status for ref in manifest.artifacts] == ["succeeded", "succeeded", "failed", "succeeded", "failed"]
    assert verify_location(store.child(f"runs/{ticket['run_id']}/databases/ccdb")).ok
    assert verify_location(store.child(f"runs/{ticket['run_id']}/etcd/k8s")).ok
    assert scan_runs(store, plan="cf-test").runs == [manifest]

    metrics_output = capsys.readouterr().out
    everything = lambda_logs.getvalue() + metrics_output
    lines = [json.loads(line) for line in lambda_logs.getvalue().splitlines()]
    assert any(line.get("reason") == "before upgrade" for line in lines)  # the logs are there...
    for secret in (PG_PASSWORD, MYSQL_USER_PASSWORD, "rotated-away", CA_MARKER):
        assert secret not in everything  # ...and no secret is in them
    done = [line for line in lines if line["message"] in ("backup done", "backup failed", "run committed")]
    assert len(done) == 6
    assert {line["correlation_id"] for line in done} == {ticket["run_id"]}
    assert {line["error_type"] for line in done if line["message"] == "backup failed"} == {
        "SourceUnreachable",
        "AuthenticationFailed",
    }
    emf = [json.loads(line) for line in metrics_output.splitlines() if line.startswith('{"_aws"')]
    by_metric = {
        (metric["Name"], line["item"]): line[metric["Name"]][0]  # EMF values are lists
        for line in emf
        if "item" in line
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert by_metric[("BackupSucceeded", "ccdb")] == 1.0
    assert by_metric[("BackupSucceeded", "gone")] == 0.0
    assert by_metric[("BackupBytes", "ccdb")] == manifest.artifacts[1].size
    assert ("LastSuccessTimestamp", "k8s") in by_metric
    assert ("LastSuccessTimestamp", "gone") not in by_metric


def test_bad_input_is_invalid_input(deployed: Deployed) -> None:
    assert invoke(start_run.handler, {"request": {"items": ["ccbd"]}})["Error"] == "InvalidInput"
    assert invoke(start_run.handler, {"request": {"components": ["database"]}})["Error"] == "InvalidInput"
    malformed = invoke(backup_item.handler, {"ticket": {"plan": "cf-test"}})
    assert malformed["Error"] == "InvalidInput"
    assert "malformed BackupItemEvent" in json.loads(malformed["Cause"])["errorMessage"]
    started = invoke(start_run.handler, {"request": {"items": ["ccdb"]}})["output"]
    other_plan = {**all_work(started)[0], "ticket": {**all_work(started)[0]["ticket"], "plan": "another"}}
    assert invoke(backup_item.handler, other_plan)["Error"] == "InvalidInput"


def test_a_handler_near_its_time_limit_stops_and_leaves_nothing(deployed: Deployed) -> None:
    started = invoke(start_run.handler, {"request": {"items": ["ccdb"]}})["output"]
    outcome = invoke(backup_item.handler, all_work(started)[0], FakeContext(seconds_left=8))
    assert outcome["Error"] == "WouldExceedTimeLimit"
    assert "nothing was kept" in json.loads(outcome["Cause"])["errorMessage"]
    listed = deployed.s3.list_objects_v2(Bucket=deployed.bucket, Prefix="cf-test/")
    assert listed.get("KeyCount", 0) == 0
    assert deployed.s3.list_multipart_uploads(Bucket=deployed.bucket).get("Uploads", []) == []
