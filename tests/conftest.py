"""Fixtures shared by every test: real services and emulated AWS."""

from __future__ import annotations

import os

# Set before anything imports aws_cdk (as app.py does): jsii's Node end-of-life banner buries test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from smokejumper.store import Store, open_store

from tests.support.services import (
    EtcdServer,
    MysqlDatabase,
    PostgresDatabase,
    fresh_mysql_database,
    fresh_postgres_database,
    mysql_user_for,
    running_etcd,
)

REGION = "eu-west-1"


@pytest.fixture
def pg_database() -> Iterator[PostgresDatabase]:
    """A new, empty PostgreSQL database, dropped after the test."""
    with fresh_postgres_database() as database:
        yield database


@pytest.fixture
def mysql_database() -> Iterator[MysqlDatabase]:
    """A new, empty MySQL/MariaDB database, dropped after the test."""
    with fresh_mysql_database() as database:
        yield database


@pytest.fixture
def mysql_user(mysql_database: MysqlDatabase) -> Iterator[str]:
    """An account with a password (MYSQL_USER_PASSWORD) on `mysql_database` only, dropped after."""
    with mysql_user_for(mysql_database) as user:
        yield user


@pytest.fixture
def etcd_server(tmp_path: Path) -> Iterator[EtcdServer]:
    """A real single-member etcd on free loopback ports, stopped after the test."""
    with running_etcd(tmp_path / "etcd") as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """Emulated AWS (moto); fake credentials so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@dataclass(frozen=True)
class Bucket:
    name: str
    kms_key_id: str
    client: Any


@pytest.fixture
def s3_bucket(aws: boto3.Session) -> Bucket:
    """A versioned bucket and a KMS key, as the stack creates them."""
    s3 = aws.client("s3")
    key_id = aws.client("kms").create_key(Description="smokejumper test")["KeyMetadata"]["KeyId"]
    name = "smokejumper-test-backups"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return Bucket(name, key_id, s3)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The same tests against both stores: a local directory and a KMS-encrypting S3 prefix."""
    if request.param == "local":
        return open_store(str(tmp_path / "backups"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket.name}/example", s3_client=bucket.client, kms_key_id=bucket.kms_key_id)
