"""The backup bucket, its KMS key, and the bucket that receives its access logs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from smokejumper.plan import Storage

from infra.nag import acknowledge

# An interrupted multipart upload (a Lambda timing out mid-dump) leaves parts
# that are billed but invisible; a day is ample for any upload still running.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(1)

# Only the instant-retrieval classes are offered by the plan: see plan.ArchiveStorageClass.
ARCHIVE_CLASSES = {
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
    "INTELLIGENT_TIERING": s3.StorageClass.INTELLIGENT_TIERING,
}


def replication_role_name(plan_name: str, region: str) -> str:
    """The replication role's name, fixed so that a replica in another account can name it in its policies.

    IAM names are global to the account: the plan's region keeps two deployments of one plan apart.
    """
    name = f"smokejumper-{plan_name}-replication-{region}"
    if len(name) > 64:  # a long plan name: shortened, a digest keeps it unique
        name = f"{name[:53]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


@dataclass(frozen=True)
class ReplicaDestination:
    """Where the primary bucket replicates to, by names both stacks know (no reference across regions)."""

    bucket_name: str
    region: str
    account: str
    key_arn: str | None  # the plan's key ARN; None: the replica stack's own key, known by its alias
    key_alias: str
    replication_time_control: bool
    late_after_minutes: int
    cross_account: bool  # another account holds it: replicas become that account's (owner override)

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket_name}"

    @property
    def key_for_replication(self) -> str:
        """What the replication rule names as the replica's key: its ARN, or its alias's ARN.

        An alias is resolved in the account of whoever asks (the replication role's), so the alias serves
        only a replica in the plan's own account; the plan requires a key ARN for one in another account.
        """
        return self.key_arn or f"arn:aws:kms:{self.region}:{self.account}:{self.key_alias}"


def replica_write_actions(cross_account: bool) -> list[str]:
    """What the replication role may do to the replica's objects: the same list in its policy and, in another
    account, in the replica bucket's policy."""
    actions = ["s3:ReplicateObject", "s3:ReplicateTags"]
    return [*actions, "s3:ObjectOwnerOverrideToBucketOwner"] if cross_account else actions


class BackupStorage(Construct):
    """Where every run's artifacts land: a versioned, KMS-encrypted, TLS-only bucket.

    `bucket` and `key` are what later constructs grant their functions access to.
    The bucket and the key are retained when the stack is deleted: backups must
    outlive the stack that made them. The replica's bucket is one too
    (`expire_after_days`: its own lifecycle ends its runs), and a primary with
    `replicate_to` replicates the plan's prefix to it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan_name: str,
        storage: Storage,
        key_alias: str | None = None,
        expire_after_days: int | None = None,
        replicate_to: ReplicaDestination | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan_name = plan_name
        self.key = self._key(plan_name, storage, key_alias or f"alias/smokejumper/{plan_name}")
        self.access_logs_bucket = self._access_logs_bucket(storage)
        self.replication_role = self._replication_role(replicate_to) if replicate_to else None
        self.bucket = self._backup_bucket(storage, expire_after_days, replicate_to)
        if replicate_to is not None:
            self.grant_replication(replicate_to)
            self._metrics_without_time_control(replicate_to)

    def let_logs_use_the_key(self, log_group_names: list[str]) -> None:
        """CloudWatch Logs may encrypt the log groups named (exactly: no pattern) with the key, and only those.

        Only for a key the stack creates: a key the plan brings has the plan's own policy. Names, not a
        pattern: `smokejumper-cf-*` would also match the log groups of a plan named cf-prod.
        """
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnEquals": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            stack.format_arn(
                                service="logs",
                                resource="log-group",
                                resource_name=name,
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                            for name in log_group_names
                        ]
                    }
                },
            )
        )

    def _key(self, plan_name: str, storage: Storage, alias: str) -> kms.IKey:
        if not storage.creates_key:
            return kms.Key.from_key_arn(self, "Key", storage.kms_key)
        return kms.Key(
            self,
            "Key",
            alias=alias,
            description=f"smokejumper backups of plan {plan_name}",
            enable_key_rotation=True,
            # Deleting the key would make every backup unreadable.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _access_logs_bucket(self, storage: Storage) -> s3.Bucket:
        # It has no access logs of its own, and needs no AwsSolutions-S1
        # acknowledgment: cdk-nag accepts a bucket that receives another's logs.
        return s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging cannot deliver to a bucket encrypted with SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(storage.access_logs_expire_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            # The record of who read or deleted backups outlives the stack too.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _backup_bucket(
        self, storage: Storage, expire_after_days: int | None, replicate_to: ReplicaDestination | None
    ) -> s3.Bucket:
        lock = storage.object_lock_days
        lifecycle = self._lifecycle_rules(storage)
        if expire_after_days is not None:
            # The replica's own end of a run (the primary's retention sweep never reaches it: deletions and
            # delete markers are not replicated). Versions it expires go after noncurrent_expire_days.
            lifecycle.append(s3.LifecycleRule(id="expire-runs", expiration=Duration.days(expire_after_days)))
        return s3.Bucket(
            self,
            "Bucket",
            bucket_name=storage.bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # One data key per bucket rather than per object: far fewer KMS calls for large dumps.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="backup-bucket/",
            target_object_key_format=s3.TargetObjectKeyFormat.partitioned_prefix(s3.PartitionDateSource.EVENT_TIME),
            lifecycle_rules=lifecycle,
            replication_role=self.replication_role,
            replication_rules=[self._replication_rule(replicate_to)] if replicate_to else None,
            # None rather than False leaves Object Lock out of the template. S3 can
            # turn it on for an existing bucket, but never off again.
            object_lock_enabled=True if lock is not None else None,
            object_lock_default_retention=(
                s3.ObjectLockRetention.compliance(Duration.days(lock)) if lock is not None else None
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    @staticmethod
    def _lifecycle_rules(storage: Storage) -> list[s3.LifecycleRule]:
        # Which runs to keep is decided in code (grandfather-father-son, never
        # fewer than min_keep good runs); lifecycle only does what it is good at.
        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
            ),
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(storage.noncurrent_expire_days),
                # Once the versions behind a delete marker are gone, drop the marker too.
                expired_object_delete_marker=True,
            ),
        ]
        if storage.archive_after_days is not None:
            rules.append(
                s3.LifecycleRule(
                    id="archive",
                    transitions=[
                        s3.Transition(
                            storage_class=ARCHIVE_CLASSES[storage.archive_storage_class],
                            transition_after=Duration.days(storage.archive_after_days),
                        )
                    ],
                )
            )
        return rules

    # --- replication to the replica -----------------------------------------------------------------

    def _replication_rule(self, to: ReplicaDestination) -> s3.ReplicationRule:
        time_control = s3.ReplicationTimeValue.FIFTEEN_MINUTES if to.replication_time_control else None
        return s3.ReplicationRule(
            id=f"replicate-{self.plan_name}",
            priority=1,
            destination=s3.Bucket.from_bucket_attributes(
                self,
                "Replica",
                bucket_arn=to.bucket_arn,
                bucket_name=to.bucket_name,
                region=to.region,
                account=to.account,
            ),
            # In another account the replicas become that account's: the plan's account cannot overwrite or
            # delete them, nor read them but through that account's policies.
            access_control_transition=True if to.cross_account else None,
            filter=s3.Filter(prefix=f"{self.plan_name}/"),
            # A deletion in the primary (a retention sweep, or whoever holds the account) never reaches the
            # replica: its runs end by its own lifecycle.
            delete_marker_replication=False,
            sse_kms_encrypted_objects=True,
            kms_key=kms.Key.from_key_arn(self, "ReplicaKey", to.key_for_replication),
            replication_time_control=time_control,
            # With Replication Time Control the metrics come with its 15-minute event threshold; without it
            # they are switched on alone (see _metrics_without_time_control), so failures always alarm.
            metrics=time_control,
        )

    def _metrics_without_time_control(self, to: ReplicaDestination) -> None:
        """Replication metrics (failed operations, latency) on a rule without Replication Time Control.

        S3 publishes them for any rule whose metrics are on (EventThreshold is optional in its API). CDK's
        `metrics` always writes the threshold of RTC's missed-threshold event, which means nothing without
        RTC, so the rule's Metrics is written here with its Status alone.
        """
        if to.replication_time_control:
            return
        bucket = self.bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        bucket.add_property_override("ReplicationConfiguration.Rules.0.Destination.Metrics", {"Status": "Enabled"})

    def _replication_role(self, to: ReplicaDestination) -> iam.Role:
        """S3's role for this rule: read the plan's prefix here, write it there, and nothing else."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "ReplicationRole",
            role_name=replication_role_name(self.plan_name, stack.region),
            assumed_by=iam.ServicePrincipal(
                "s3.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"smokejumper {self.plan_name}: S3 replicates the plan's runs to {to.bucket_name}",
        )
        return role

    def grant_replication(self, to: ReplicaDestination) -> None:
        """The replication role's grants (after the bucket exists: they name it)."""
        role = self.replication_role
        assert role is not None
        prefix = f"{self.plan_name}/*"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetReplicationConfiguration", "s3:ListBucket"], resources=[self.bucket.bucket_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                    "s3:GetObjectRetention",
                    "s3:GetObjectLegalHold",
                ],
                resources=[self.bucket.arn_for_objects(prefix)],
            )
        )
        # Objects and their tags (and, in another account, handing them to it); never s3:ReplicateDelete.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=replica_write_actions(to.cross_account), resources=[f"{to.bucket_arn}/{prefix}"]
            )
        )
        region = Stack.of(self).region
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )
        )
        replica_key = (
            {"resources": [to.key_arn], "conditions": {}}
            if to.key_arn
            else {
                # The replica stack's key is known here by its alias only (no reference across regions).
                "resources": [f"arn:aws:kms:{to.region}:{to.account}:key/*"],
                "conditions": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [to.key_alias]}},
            }
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt", "kms:GenerateDataKey"],
                resources=replica_key["resources"],
                conditions={
                    **replica_key["conditions"],
                    "StringEquals": {"kms:ViaService": f"s3.{to.region}.amazonaws.com"},
                },
            )
        )
        bucket = Stack.of(self).resolve(Stack.of(self).get_logical_id(self.bucket.node.default_child))
        for resource, why in (
            (f"<{bucket}.Arn>/{prefix}", "reads the objects of its plan's prefix only, whose keys are not known"),
            (f"{to.bucket_arn}/{prefix}", "replicates into its plan's prefix of the replica bucket only"),
            *(
                []
                if to.key_arn
                else [(replica_key["resources"][0], "the replica's key, named by its alias (kms:ResourceAliases)")]
            ),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{resource}]", why + ": no other resource")
