"""The replica: a second bucket in another region of the account, receiving every run as it is written.

    primary stack (the plan's region)            replica stack (storage.replica.region)
      bucket --S3 replication (plan prefix)-->     bucket: versioned, its own KMS key, Object Lock,
             delete markers NOT replicated         TLS-only, access logs, and a lifecycle that ends runs

Neither stack refers to the other's resources: the replica's bucket name and key alias are derived from
the plan (`replica_destination`), so the primary's rule and role can name them without a reference
across regions. `cdk deploy --all` deploys the replica first (the primary depends on it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct
from smokejumper.plan import Plan, Storage

from infra.storage import BackupStorage, ReplicaDestination


def replica_stack_name(plan: Plan) -> str:
    return f"Smokejumper-{plan.name}-replica"


def replica_destination(plan: Plan, account: str) -> ReplicaDestination:
    """The replica's bucket and key as both stacks name them."""
    replica = plan.storage.replica
    assert replica is not None
    name = replica.bucket_name or f"smokejumper-{plan.name}-replica-{account}"
    if len(name) > 63:  # a long plan name: shortened, a digest keeps it unique
        name = f"{name[:52]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return ReplicaDestination(
        bucket_name=name,
        region=replica.region,
        account=account,
        key_arn=None if replica.kms_key == "create" else replica.kms_key,
        key_alias=f"alias/smokejumper/{plan.name}-replica",
        replication_time_control=replica.replication_time_control,
    )


class ReplicaStack(Stack):
    """The replica bucket of a plan, in the replica's region."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, account: str, **kwargs: Any) -> None:
        kwargs.setdefault("description", f"smokejumper backups of plan {plan.name}: the replica")
        super().__init__(scope, construct_id, **kwargs)
        replica = plan.storage.replica
        assert replica is not None
        Tags.of(self).add("smokejumper:plan", plan.name)
        destination = replica_destination(plan, account)
        primary = plan.storage
        storage = Storage(
            bucket_name=destination.bucket_name,
            kms_key=replica.kms_key,
            object_lock_days=replica.object_lock_days,
            archive_after_days=primary.archive_after_days,
            archive_storage_class=primary.archive_storage_class,
            noncurrent_expire_days=primary.noncurrent_expire_days,
            access_logs_expire_days=primary.access_logs_expire_days,
        )
        self.storage = BackupStorage(
            self,
            "Storage",
            plan_name=plan.name,
            storage=storage,
            key_alias=destination.key_alias,
            expire_after_days=replica.expiry_days(plan.retention),
        )
        CfnOutput(self, "ReplicaBucketName", value=self.storage.bucket.bucket_name, description="replica bucket")
        CfnOutput(self, "ReplicaKeyArn", value=self.storage.key.key_arn, description="KMS key of the replica")
