"""The backup bucket, its KMS key, and the bucket that receives its access logs."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from smokejumper.plan import Storage

# An interrupted multipart upload (a Lambda timing out mid-dump) leaves parts
# that are billed but invisible; a day is ample for any upload still running.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(1)

# Only the instant-retrieval classes are offered by the plan: see plan.ArchiveStorageClass.
ARCHIVE_CLASSES = {
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
    "INTELLIGENT_TIERING": s3.StorageClass.INTELLIGENT_TIERING,
}


class BackupStorage(Construct):
    """Where every run's artifacts land: a versioned, KMS-encrypted, TLS-only bucket.

    `bucket` and `key` are what later constructs grant their functions access to.
    The bucket and the key are retained when the stack is deleted: backups must
    outlive the stack that made them.
    """

    def __init__(self, scope: Construct, construct_id: str, *, plan_name: str, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self.key = self._key(plan_name, storage)
        self.access_logs_bucket = self._access_logs_bucket(storage)
        self.bucket = self._backup_bucket(storage)

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

    def _key(self, plan_name: str, storage: Storage) -> kms.IKey:
        if not storage.creates_key:
            return kms.Key.from_key_arn(self, "Key", storage.kms_key)
        return kms.Key(
            self,
            "Key",
            alias=f"alias/smokejumper/{plan_name}",
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

    def _backup_bucket(self, storage: Storage) -> s3.Bucket:
        lock = storage.object_lock_days
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
            lifecycle_rules=self._lifecycle_rules(storage),
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
