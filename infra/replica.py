"""The replica: a second bucket in another region of the account, receiving every run as it is written.

    primary stack (the plan's region)            replica stack (storage.replica.region)
      bucket --S3 replication (plan prefix)-->     bucket: versioned, its own KMS key, Object Lock,
             delete markers NOT replicated         TLS-only, access logs, and a lifecycle that ends runs

Neither stack refers to the other's resources: the replica's bucket name and key alias are derived from
the plan (`replica_destination`), so the primary's rule and role can name them without a reference
across regions. `cdk deploy --all` deploys the replica first (the primary depends on it).

With `storage.replica.account`, the replica stack is the destination stack of another account, deployed there
with that account's credentials before the primary: its bucket policy and key policy admit the primary's
replication role (by its fixed name) and no other principal of the plan's account, and replication hands
every object to the replica's account (owner override), so the plan's account can neither overwrite nor
delete them. No stack dependency then: one `cdk deploy` cannot hold the credentials of both accounts.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct
from smokejumper.plan import Plan, Storage

from infra.storage import BackupStorage, ReplicaDestination, replica_write_actions, replication_role_name


def replica_stack_name(plan: Plan) -> str:
    return f"Smokejumper-{plan.name}-replica"


def replica_destination(plan: Plan, primary_account: str) -> ReplicaDestination:
    """The replica's bucket and key as both stacks name them."""
    replica = plan.storage.replica
    assert replica is not None
    return ReplicaDestination(
        bucket_name=replica.bucket_in(plan.name, primary_account),
        region=replica.region,
        account=replica.in_account(primary_account),
        key_arn=None if replica.kms_key == "create" else replica.kms_key,
        key_alias=f"alias/smokejumper/{plan.name}-replica",
        replication_time_control=replica.replication_time_control,
        late_after_minutes=replica.late_after,
        cross_account=replica.is_cross_account(primary_account),
    )


def add_replica_stack(app: cdk.App, plan: Plan, primary: Stack) -> ReplicaStack | None:
    """The plan's replica stack beside its primary stack, or None without a replica.

    In the plan's account the primary depends on it (`cdk deploy --all` deploys the replica first); in
    another account it is deployed on its own, first, with that account's credentials.
    """
    replica = plan.storage.replica
    if replica is None:
        return None
    stack = ReplicaStack(
        app,
        replica_stack_name(plan),
        plan=plan,
        primary_account=primary.account,
        primary_region=primary.region,
        env=cdk.Environment(account=replica.in_account(primary.account), region=replica.region),
    )
    if not replica.is_cross_account(primary.account):
        primary.add_stack_dependency(stack)
    return stack


class ReplicaStack(Stack):
    """The replica bucket of a plan, in the replica's region (and account)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        primary_account: str,
        primary_region: str,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", f"smokejumper backups of plan {plan.name}: the replica")
        super().__init__(scope, construct_id, **kwargs)
        replica = plan.storage.replica
        assert replica is not None
        Tags.of(self).add("smokejumper:plan", plan.name)
        destination = replica_destination(plan, primary_account)
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
        if destination.cross_account:
            self._admit_the_replication_role(plan, destination, primary_account, primary_region)

    def _admit_the_replication_role(
        self, plan: Plan, destination: ReplicaDestination, primary_account: str, primary_region: str
    ) -> None:
        """The only principal of the plan's account this bucket (and its key) lets in: the replication role."""
        role = replication_role(primary_account, primary_region, plan.name)
        bucket = self.storage.bucket
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ReplicationRoleWritesThePlansPrefix",
                principals=[role],
                actions=replica_write_actions(cross_account=True),
                resources=[bucket.arn_for_objects(f"{plan.name}/*")],
            )
        )
        # What S3 checks on the destination before it replicates (not PutBucketVersioning: the stack owns that).
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ReplicationRoleSeesTheBucket",
                principals=[role],
                actions=["s3:GetBucketVersioning", "s3:ListBucket"],
                resources=[bucket.bucket_arn],
            )
        )
        # S3 encrypts each replica with the replica's key, on behalf of the replication role. In another account
        # that key is one the plan names by ARN (an alias would resolve in the plan's account), and its policy
        # is its owners', which no stack here may rewrite: the stack's output is the statement they add.
        statement = replica_key_statement(role, destination.region)
        CfnOutput(
            self,
            "ReplicaKeyPolicyStatement",
            value=json.dumps(statement.to_statement_json(), separators=(",", ":")),
            description="add this statement to the replica key's policy: S3 encrypts the replicas with that key",
        )


def replication_role(primary_account: str, primary_region: str, plan_name: str) -> iam.IPrincipal:
    """The primary's replication role, by name: the plan's account as principal, narrowed to that role.

    An ARN principal would make the policy fail to save until the role exists; the account with
    aws:PrincipalArn saves before the primary stack is deployed and still admits that role alone.
    """
    role_arn = f"arn:aws:iam::{primary_account}:role/{replication_role_name(plan_name, primary_region)}"
    return iam.AccountPrincipal(primary_account).with_conditions({"ArnEquals": {"aws:PrincipalArn": role_arn}})


def replica_key_statement(role: iam.IPrincipal, region: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="ReplicationRoleEncryptsReplicasThroughS3",
        principals=[role],
        actions=["kms:Encrypt", "kms:GenerateDataKey"],
        resources=["*"],  # in a key policy, "*" is this key
        conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    )
