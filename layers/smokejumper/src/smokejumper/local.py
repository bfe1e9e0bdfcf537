"""Embedded mode: the same code on emulated AWS (moto), on one machine, no account.

Fake credentials are set for the duration so nothing can reach a real
account by accident; the previous environment is restored afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from smokejumper.errors import SmokejumperError
from smokejumper.plan import Plan

DEFAULT_REGION = "eu-west-1"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "smokejumper-embedded",
    "AWS_SECRET_ACCESS_KEY": "smokejumper-embedded",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
}
_CLEARED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@contextmanager
def emulated_aws(region: str = DEFAULT_REGION) -> Iterator[boto3.Session]:
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise SmokejumperError(
            "the embedded mode needs moto, which is not installed",
            hint="run `make setup` in the repository (moto is pinned in requirements.txt)",
        ) from exc
    saved = {name: os.environ.get(name) for name in (*_FAKE_ENV, *_CLEARED_ENV)}
    try:
        for name in _CLEARED_ENV:
            os.environ.pop(name, None)
        os.environ.update({**_FAKE_ENV, "AWS_DEFAULT_REGION": region})
        with mock_aws():
            yield boto3.Session(region_name=region)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class EmulatedBucket:
    name: str
    kms_key_id: str
    s3: Any


def create_backup_bucket(session: boto3.Session, plan: Plan) -> EmulatedBucket:
    """The backup bucket as the stack deploys it (infra/storage.py), on moto."""
    kms = session.client("kms")
    key_id = kms.create_key(Description=f"smokejumper backups of {plan.name}")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    s3 = session.client("s3")
    name = plan.storage.bucket_name or f"smokejumper-{plan.name}-backups"
    create: dict[str, Any] = {"Bucket": name}
    if session.region_name != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": session.region_name}
    if plan.storage.object_lock_days:
        create["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**create)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    if plan.storage.object_lock_days:
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": plan.storage.object_lock_days}},
            },
        )
    return EmulatedBucket(name, key_id, s3)
