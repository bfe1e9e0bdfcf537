"""Reading from the replica (issue 17): the readers work against the replica bucket as their store.

moto stores a replication configuration but never replicates: the objects of
a real run are copied to the replica's bucket as S3 replication would (same
keys, the replica's own KMS key, no delete markers), the primary's copy is
then swept away, and `runs list`, `verify` and a PostgreSQL restore read the
run from the replica alone, judged by PostgreSQL's own tools.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from smokejumper.cli.app import cli
from smokejumper.plan import Plan
from smokejumper.runs import back_up_items, commit_run, prune, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.store import open_store

from tests.support import pg_oracle, pg_schemas
from tests.support.services import PostgresDatabase, fresh_postgres_database

pytestmark = pytest.mark.integration

PRIMARY, REPLICA = "smokejumper-primary", "smokejumper-cf-prod-replica-123456789012"
REPLICA_REGION = "eu-central-1"
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:pg-AbCdEf"


def replicate(session: boto3.Session, prefix: str, replica_key: str) -> int:
    """What S3 replication does for the plan's prefix: each object under the same key, with the replica's key."""
    source = session.client("s3")
    target = session.client("s3", region_name=REPLICA_REGION)
    copied = 0
    for page in source.get_paginator("list_objects_v2").paginate(Bucket=PRIMARY, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = source.get_object(Bucket=PRIMARY, Key=entry["Key"])["Body"].read()
            target.put_object(
                Bucket=REPLICA, Key=entry["Key"], Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=replica_key
            )
            copied += 1
    return copied


def test_a_run_is_listed_verified_and_restored_from_the_replica_after_the_primary_pruned_it(
    aws: boto3.Session, pg_database: PostgresDatabase
) -> None:
    pg_schemas.load_cf_like(pg_database, rows=200)
    plan = Plan.model_validate(
        {
            "name": "cf-prod",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "retention": {"daily": 1, "weekly": 0, "monthly": 0, "min_keep": 1},
            "databases": [
                {
                    "name": "ccdb",
                    "engine": "postgres",
                    "host": pg_database.host,
                    "port": pg_database.port,
                    "database": pg_database.dbname,
                    "credentials_secret_arn": SECRET,
                    "tls": {"mode": "prefer"},
                }
            ],
            "storage": {"replica": {"region": REPLICA_REGION}},
        }
    )
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=PRIMARY, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    replica_s3 = aws.client("s3", region_name=REPLICA_REGION)
    replica_s3.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": REPLICA_REGION})
    for bucket, client in ((PRIMARY, s3), (REPLICA, replica_s3)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    replica_key = aws.client("kms", region_name=REPLICA_REGION).create_key()["KeyMetadata"]["Arn"]
    primary = open_store(f"s3://{PRIMARY}/cf-prod")
    secrets = FileSecrets({SECRET: {"username": "postgres", "password": "unused-with-trust"}})
    old = start_run(plan, now=datetime.now(UTC) - timedelta(days=3))
    commit_run(primary, old, back_up_items(plan, primary, old, secrets), now=old.started_at)
    assert replicate(aws, "cf-prod/", replica_key) == 3  # the manifest, artifact.json and the dump

    # A newer run, then the primary's retention sweep: the old run goes from the primary (delete markers,
    # which replication does not carry), and stays in the replica.
    new = start_run(plan, now=datetime.now(UTC) - timedelta(hours=1))
    commit_run(primary, new, back_up_items(plan, primary, new, secrets), now=new.started_at)
    report = prune(plan, primary)
    assert [deletion.run_id for deletion in report.deletions] == [old.run_id]
    assert not list(primary.list_keys(f"runs/{old.run_id}"))

    replica_url = f"s3://{REPLICA}/cf-prod"
    runner = CliRunner()
    listed = runner.invoke(cli, ["runs", "list", "--store", replica_url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [run["run_id"] for run in json.loads(listed.output)["runs"]] == [old.run_id]
    verified = runner.invoke(cli, ["verify", f"{replica_url}/runs/{old.run_id}"])
    assert verified.exit_code == 0, verified.output
    with fresh_postgres_database() as target:
        restored = runner.invoke(
            cli,
            ["restore", "postgres", "--from", f"{replica_url}/runs/{old.run_id}/databases/ccdb", "--dsn", target.dsn],
        )
        assert restored.exit_code == 0, restored.output
        pg_oracle.assert_same_database(pg_database, target)
    # Every object in the replica is encrypted with the replica's own key.
    heads: list[Any] = [
        replica_s3.head_object(Bucket=REPLICA, Key=entry["Key"])
        for entry in replica_s3.list_objects_v2(Bucket=REPLICA)["Contents"]
    ]
    assert {head.get("SSEKMSKeyId") for head in heads} == {replica_key}
