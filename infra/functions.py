"""The backup functions: start a run, back up one item, snapshot volumes, commit a run. One construct for them.

Each function runs the library from the layer (infra/layer.py) with its own
code asset: the handler modules of functions/ and the plan as plan.json (the
plan is deployed with the code, so a function never reads configuration from
anywhere an attacker could write). Each has its own role with what its step
needs and nothing else:

- start-run reads nothing: the plan is in its code;
- backup-item writes objects under its plan's runs/ prefix (PutObject and
  AbortMultipartUpload), reads only manifests (to refuse a committed run) and
  lists its runs, deletes nothing, uses the bucket's key to encrypt, and reads
  the plan's named secrets, and only those;
- snapshot-volumes describes volumes, instances and snapshots, creates
  snapshots only with the plan's tag and tags or deletes only snapshots that
  carry it, writes its record under runs/ and reads back only what it started;
- commit-run reads and lists its plan's prefix, writes manifests, deletes
  (with a plan that has volumes: and its plan's EBS snapshots, by tag)
  under runs/ (a delete marker: no s3:DeleteObjectVersion is granted, so a
  stolen role cannot destroy a version) and reads Object Lock state (without
  it, S3 hides the lock and a locked run would be hidden behind a marker);
- restore reads its plan's runs, writes only beside them (under a run's
  restores/), and, with a replica in the plan's own account, reads the
  replica's copy of the runs (never writes it), decrypting through S3 there.

All of them run in the plan's private subnets with its security groups (or one
made for them, open outbound only), log to their own log groups (kept for
LOG_RETENTION, encrypted with the plan's key when the stack creates it) and
trace with X-Ray. Memory and timeouts are justified in the README.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from smokejumper.handlers import (
    BUCKET_VARIABLE,
    KMS_KEY_VARIABLE,
    METRICS_NAMESPACE,
    PLAN_FILE,
    REPLICA_BUCKET_VARIABLE,
    REPLICA_REGION_VARIABLE,
)
from smokejumper.plan import Plan
from smokejumper.restore_tests import VERDICT_FILE

from infra.layer import ARCHITECTURE, RUNTIME, SmokejumperLayer
from infra.nag import acknowledge
from infra.storage import BackupStorage, ReplicaDestination

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
IAM5 = "AwsSolutions-IAM5"  # cdk-nag's wildcard rule reports each wildcard on its own
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its handler module, and the size measured for it (see the README, "Sizing")."""

    name: str
    module: str
    memory_mb: int
    timeout: Duration
    description: str


START_RUN = FunctionSpec(
    "start-run", "start_run", 256, Duration.seconds(30), "start a backup run: its id and its items"
)
# 3538 MB is two vCPUs: a PostgreSQL dump's two COPY streams each cut and compress rows on a core of
# their own (the memory itself is not needed: a dump's peak RSS is under 100 MiB). 15 minutes is
# Lambda's limit; a backup stops 20 s before it with WouldExceedTimeLimit rather than be cut off.
BACKUP_ITEM = FunctionSpec(
    "backup-item", "backup_item", 3538, Duration.minutes(15), "back up one etcd cluster or database of a run"
)
COMMIT_RUN = FunctionSpec(
    "commit-run", "commit_run", 512, Duration.minutes(5), "commit a run's manifest and carry out retention"
)
# It makes EC2 calls and writes one small record: nothing to dump, nothing to wait for (the workflow waits).
SNAPSHOT_VOLUMES = FunctionSpec(
    "snapshot-volumes",
    "snapshot_volumes",
    512,
    Duration.minutes(5),
    "start or look at the EBS snapshots of one volume selector of a run",
)
# A restore step restores one database (as fast as backup-item dumps one: two vCPUs), verifies one
# artifact, or writes a kit; 15 minutes is Lambda's limit.
RESTORE = FunctionSpec(
    "restore", "restore", 3538, Duration.minutes(15), "check a restore's input, verify or restore one item, report"
)
SPECS = (START_RUN, BACKUP_ITEM, COMMIT_RUN, SNAPSHOT_VOLUMES, RESTORE)
BACKUP_SPECS = (START_RUN, BACKUP_ITEM, COMMIT_RUN, SNAPSHOT_VOLUMES)  # what the backup workflow invokes


@jsii.implements(ILocalBundling)
class _FunctionsCode:
    """Copies the handler modules and writes the plan beside them: no Docker, nothing downloaded."""

    def __init__(self, plan_json: str) -> None:
        self._plan_json = plan_json

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:  # jsii passes both positionally
        out = Path(output_dir)
        for module in sorted(FUNCTIONS_DIR.glob("*.py")):
            shutil.copy2(module, out / module.name)
        (out / PLAN_FILE).write_text(self._plan_json, encoding="utf-8")
        return True


def function_name(plan: Plan, spec: FunctionSpec) -> str:
    return f"smokejumper-{plan.name}-{spec.name}"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True)


def functions_code(plan: Plan) -> lambda_.Code:
    """The handlers and plan.json; its hash changes exactly when either does."""
    document = plan_json(plan)
    digest = hashlib.sha256(document.encode())
    for module in sorted(FUNCTIONS_DIR.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=digest.hexdigest(),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("smokejumper-local-bundling-only"),
            local=_FunctionsCode(document),
        ),
    )


def restore_secret_arns(plan: Plan) -> list[str]:
    """The secrets a restore may read: the plan's databases', its restore and scratch servers' (credentials, CAs)."""
    servers = [*plan.restores.servers, *(plan.restore_tests.scratch if plan.restore_tests else [])]
    arns = [server.credentials_secret_arn for server in servers]
    arns += [server.tls.ca_bundle_secret_arn for server in servers if server.tls.ca_bundle_secret_arn]
    return sorted(set(secret_arns(plan)) | set(arns))


def secret_arns(plan: Plan) -> list[str]:
    """Every secret the plan names: database credentials, CA bundles, etcd client certificates."""
    arns = [database.credentials_secret_arn for database in plan.databases]
    arns += [database.tls.ca_bundle_secret_arn for database in plan.databases if database.tls.ca_bundle_secret_arn]
    arns += [cluster.tls_secret_arn for cluster in plan.etcd if cluster.tls_secret_arn]
    return sorted(set(arns))


class BackupFunctions(Construct):
    """The functions of the backup workflow, each with its own least-privilege role."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, storage: BackupStorage) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.storage = storage
        self.layer = SmokejumperLayer(self, "Layer").layer
        self.code = functions_code(plan)
        self.vpc, self.subnets, self.security_groups = self._network(plan)
        self.readable_replica = self._readable_replica()
        if plan.storage.creates_key:
            # Only the functions' own log groups.
            storage.let_logs_use_the_key([f"/aws/lambda/{function_name(plan, spec)}" for spec in SPECS])
        self.functions: dict[str, lambda_.Function] = {spec.name: self._function(spec) for spec in SPECS}
        self.start_run = self.functions[START_RUN.name]
        self.backup_item = self.functions[BACKUP_ITEM.name]
        self.commit_run = self.functions[COMMIT_RUN.name]
        self.snapshot_volumes = self.functions[SNAPSHOT_VOLUMES.name]
        self.restore = self.functions[RESTORE.name]
        self._grant_backup_item()
        self._grant_commit_run()
        self._grant_snapshot_volumes()
        self._grant_restore()

    # --- network ----------------------------------------------------------------------------

    def _network(self, plan: Plan) -> tuple[ec2.IVpc, ec2.SubnetSelection, list[ec2.ISecurityGroup]]:
        if plan.network is None:
            raise ValueError(f"plan {plan.name} has no network: its functions need private subnets")
        network = plan.network
        # Imported by id, never looked up: synthesis stays offline. The subnets are given explicitly,
        # so the VPC's availability zones (needed by the import, unused here) are placeholders.
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=network.vpc_id, availability_zones=[f"az-{i}" for i, _ in enumerate(network.subnet_ids)]
        )
        imported = [
            ec2.Subnet.from_subnet_id(self, f"Subnet{i}", subnet) for i, subnet in enumerate(network.subnet_ids)
        ]
        for subnet in imported:
            acknowledge(
                subnet,
                "Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "the functions are placed in these subnets; nothing reads their route tables",
            )
        subnets = ec2.SubnetSelection(subnets=imported)
        if network.security_group_ids:
            groups = [
                ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{i}", group, mutable=False)
                for i, group in enumerate(network.security_group_ids)
            ]
        else:
            group = ec2.SecurityGroup(
                self,
                "SecurityGroup",
                vpc=vpc,
                description=f"smokejumper {plan.name}: admit it to the databases (5432/3306) and etcd (2379)",
                allow_all_outbound=True,
            )
            groups = [group]
        return vpc, subnets, groups

    def _readable_replica(self) -> ReplicaDestination | None:
        """The replica a restore may read: the plan's, when it is in the plan's own account.

        A replica in another account is the air gap: nothing in the plan's account is let read it.
        """
        replica = self.plan.storage.replica
        account = Stack.of(self).account
        if replica is None or replica.is_cross_account(account):
            return None
        from infra.replica import replica_destination

        return replica_destination(self.plan, account)

    # --- functions --------------------------------------------------------------------------

    def _function(self, spec: FunctionSpec) -> lambda_.Function:
        name = function_name(self.plan, spec)
        log_group = logs.LogGroup(
            self,
            f"{spec.module}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=LOG_RETENTION,
            encryption_key=self.storage.key if self.plan.storage.creates_key else None,
            removal_policy=RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            f"{spec.module}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"smokejumper {self.plan.name} {spec.name}: {spec.description}",
        )
        # Its own log group only (AWSLambdaBasicExecutionRole would allow every log group).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group.log_group_arn}:*"],
            )
        )
        # ENIs in the plan's subnets: EC2 cannot scope these actions to resources (AWS's own
        # AWSLambdaVPCAccessExecutionRole grants them on "*" too).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
            )
        )
        function = lambda_.Function(
            self,
            spec.module,
            function_name=name,
            description=f"smokejumper {self.plan.name}: {spec.description}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{spec.module}.handler",
            code=self.code,
            layers=[self.layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            role=role,
            log_group=log_group,
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_groups=self.security_groups,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                BUCKET_VARIABLE: self.storage.bucket.bucket_name,
                KMS_KEY_VARIABLE: self.storage.key.key_arn,
                "POWERTOOLS_SERVICE_NAME": f"smokejumper-{self.plan.name}",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **self._replica_variables(spec),
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 is the runtime the layer is built and tested for; it does not import on 3.13 "
            "(pydantic-core and the COPY reader's extension are built per Python version)",
        )
        acknowledge(
            role,
            f"{IAM5}[Resource::*]",
            "EC2's network-interface actions (a Lambda in a VPC needs them) and X-Ray's PutTraceSegments and "
            "PutTelemetryRecords cannot be scoped to a resource; every other grant is scoped",
        )
        acknowledge(
            role,
            f"{IAM5}[Resource::<{self.logical_id(log_group)}.Arn>:*]",
            "the log streams of this function's own log group, whose names Lambda chooses",
        )
        return function

    def _replica_variables(self, spec: FunctionSpec) -> dict[str, str]:
        """The restore function's, for "store": "replica": the replica's bucket and region (none for the others)."""
        replica = self.readable_replica
        if spec is not RESTORE or replica is None:
            return {}
        return {REPLICA_BUCKET_VARIABLE: replica.bucket_name, REPLICA_REGION_VARIABLE: replica.region}

    def logical_id(self, construct: Construct) -> str:
        stack = Stack.of(self)
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]

    # --- grants ---------------------------------------------------------------------------------

    def _prefix_arn(self, pattern: str) -> str:
        return self.storage.bucket.arn_for_objects(f"{self.plan.name}/{pattern}")

    def _grant_run_writer(self, role: iam.IRole, reads: dict[str, str], why: str) -> None:
        """Write objects under the plan's runs/, read back only `reads` (pattern -> why), list the runs.

        Before writing, an item step checks that the run is not committed (HeadObject of its manifest needs
        GetObject, on manifests only); listing its runs lets a missing object be a 404 rather than S3's 403
        to whoever may not list, and lets a failed item find the files it left.
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[self._prefix_arn("runs/*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._prefix_arn(pattern) for pattern in reads])
        )
        bucket = self.logical_id(self.storage.bucket)
        for pattern, reason in reads.items():
            acknowledge(role, f"{IAM5}[Resource::<{bucket}.Arn>/{self.plan.name}/{pattern}]", reason)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.storage.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.plan.name}/runs/*"]}},
            )
        )
        # SSE-KMS: a data key for each object, and Decrypt, which a multipart upload needs to complete.
        self.storage.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        self._acknowledge_runs_prefix(role, why)

    def _grant_backup_item(self) -> None:
        role = self.backup_item.role
        assert role is not None
        self._grant_run_writer(
            role,
            {"runs/*/manifest.json": "reads only the manifests of its own plan's runs, to refuse a committed run"},
            "writes the objects of its plan's runs, whose keys name the run",
        )
        arns = secret_arns(self.plan)
        if arns:
            role.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=arns))

    def _grant_commit_run(self) -> None:
        role = self.commit_run.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.storage.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.plan.name}/*"]}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:GetObjectRetention",
                    "s3:GetObjectLegalHold",
                ],
                resources=[self._prefix_arn("runs/*")],
            )
        )
        self.storage.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        self._acknowledge_runs_prefix(role, "reads, commits and prunes the runs of its own plan, and only those")
        if self.plan.volumes:
            # A run's EBS snapshots go with it, in every region holding them (its own, and the copies'):
            # found by the plan's tag, deleted only if they carry it.
            snapshots = self._snapshot_arns(self._snapshot_regions())
            role.add_to_principal_policy(iam.PolicyStatement(actions=["ec2:DescribeSnapshots"], resources=["*"]))
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["ec2:DeleteSnapshot"],
                    resources=snapshots,
                    conditions={"StringEquals": {"aws:ResourceTag/smokejumper:plan": self.plan.name}},
                )
            )
            for arn in snapshots:
                acknowledge(
                    role,
                    f"{IAM5}[Resource::{arn}]",
                    "deletes only snapshots carrying its plan's tag (aws:ResourceTag), whose ids are not known "
                    "in advance",
                )

    def _snapshot_regions(self) -> list[str]:
        """The stack's region, then the regions the plan's selectors copy snapshots to."""
        copies = sorted({s.copy_to.region for s in self.plan.volumes if s.copy_to is not None})
        return [Stack.of(self).region, *copies]

    def _snapshot_arns(self, regions: list[str]) -> list[str]:
        return [f"arn:{Stack.of(self).partition}:ec2:{region}::snapshot/*" for region in regions]

    def _grant_snapshot_volumes(self) -> None:
        role = self.snapshot_volumes.role
        assert role is not None
        stack = Stack.of(self)
        plan_tag = {"aws:ResourceTag/smokejumper:plan": self.plan.name}
        region, account = stack.region, stack.account
        # Describe calls cannot be scoped to resources (EC2 allows only "*" for them).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeVolumes", "ec2:DescribeInstances", "ec2:DescribeSnapshots"], resources=["*"]
            )
        )
        # Snapshots of any volume (the plan's selectors choose by tags at run time), born with the plan's tag.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
                resources=[
                    f"arn:{stack.partition}:ec2:{region}:{account}:volume/*",
                    f"arn:{stack.partition}:ec2:{region}:{account}:instance/*",
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
                resources=[f"arn:{stack.partition}:ec2:{region}::snapshot/*"],
                conditions={"StringEquals": {"aws:RequestTag/smokejumper:plan": self.plan.name}},
            )
        )
        # Tags at creation, and the per-PVC tags after a multi-volume CreateSnapshots: on this plan's snapshots only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateTags"],
                resources=[f"arn:{stack.partition}:ec2:{region}::snapshot/*"],
                conditions={"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots"]}},
            )
        )
        # Its own snapshots and their copies: tagged (per PVC, and with a lock's end) or deleted (a volume
        # CreateSnapshots took that the plan did not select), and locked when the plan says so.
        everywhere = self._snapshot_arns(self._snapshot_regions())
        actions = ["ec2:CreateTags", "ec2:DeleteSnapshot"]
        if any(selector.lock is not None for selector in self.plan.volumes):
            actions.append("ec2:LockSnapshot")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=everywhere, conditions={"StringEquals": plan_tag})
        )
        self._grant_copies(role)
        # Its record, and what was started (read back by each look); manifests, to refuse a committed run.
        self._grant_run_writer(
            role,
            {
                "runs/*/manifest.json": "reads only the manifests of its own plan's runs, to refuse a committed run",
                "runs/*/volumes/*/snapshots-started.json": "reads back the snapshots it started for a run",
            },
            "writes the records of its plan's runs, whose keys name the run",
        )
        for resource, why in (
            ("volume/*", "any volume: the plan's selectors choose them by tags when the run starts"),
            ("instance/*", "CreateSnapshots names the instance whose volumes are snapshotted together"),
        ):
            acknowledge(role, f"{IAM5}[Resource::arn:{stack.partition}:ec2:{region}:{account}:{resource}]", why)
        for arn in everywhere:
            acknowledge(
                role,
                f"{IAM5}[Resource::{arn}]",
                "snapshots (and copies) are created with the plan's tag (aws:RequestTag) and tagged, locked or "
                "deleted only when they carry it (aws:ResourceTag): this plan's snapshots, whose ids are not "
                "known in advance",
            )

    def _grant_copies(self, role: iam.IRole) -> None:
        """CopySnapshot of the plan's snapshots into each copy region, encrypted with the selector's key there."""
        selectors = [s for s in self.plan.volumes if s.copy_to is not None]
        if not selectors:
            return
        stack = Stack.of(self)
        plan_name = self.plan.name
        copy_regions = sorted({s.copy_to.region for s in selectors if s.copy_to is not None})
        # The copy is created in the copy region, born with the plan's tag; the source must be the plan's own.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CopySnapshot"],
                resources=self._snapshot_arns(copy_regions),
                conditions={"StringEquals": {"aws:RequestTag/smokejumper:plan": plan_name}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CopySnapshot"],
                resources=self._snapshot_arns([stack.region]),
                conditions={"StringEquals": {"aws:ResourceTag/smokejumper:plan": plan_name}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateTags"],
                resources=self._snapshot_arns(copy_regions),
                conditions={"StringEquals": {"ec2:CreateAction": ["CopySnapshot"]}},
            )
        )
        # EBS re-encrypts the copy with the copy region's key (it takes a grant on it for the copy) and reads
        # the source through the volume's key: customer-managed source keys are named by the plan; the AWS
        # managed key aws/ebs admits the account's principals through EC2 by its own policy.
        for keys, actions in (
            (
                sorted({s.copy_to.kms_key for s in selectors if s.copy_to is not None}),
                ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
                 "kms:ReEncryptTo"],
            ),
            (
                sorted({key for s in selectors if s.copy_to is not None for key in s.copy_to.source_kms_keys}),
                ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"],
            ),
        ):  # fmt: skip
            self._grant_ebs_keys(role, keys, actions)

    def _grant_ebs_keys(self, role: iam.IRole, keys: list[str], actions: list[str]) -> None:
        """`actions` on the keys, and grants on them for EBS only (it takes one for each volume or copy)."""
        if not keys:
            return
        role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=keys))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=keys,
                conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
            )
        )

    def _grant_restore(self) -> None:
        """Read the plan's runs, write only under a run's restores/, read the secrets of the servers it may write to."""
        role = self.restore.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._prefix_arn("runs/*")])
        )
        # What a restore leaves for the operator, and a restore test's verdict: beside the run, never in it.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[self._prefix_arn("runs/*/restores/*"), self._prefix_arn(f"runs/*/{VERDICT_FILE}")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.storage.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.plan.name}/*"]}},
            )
        )
        self.storage.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        self._acknowledge_runs_prefix(role, "reads the runs of its own plan, and only those")
        bucket = self.logical_id(self.storage.bucket)
        acknowledge(
            role,
            f"{IAM5}[Resource::<{bucket}.Arn>/{self.plan.name}/runs/*/restores/*]",
            "writes only what a restore leaves for the operator (the etcd kit, PV/PVC YAML, its report) beside "
            "the run, under a key naming the run and the restore",
        )
        acknowledge(
            role,
            f"{IAM5}[Resource::<{bucket}.Arn>/{self.plan.name}/runs/*/{VERDICT_FILE}]",
            "writes a run's restore-test verdict beside its manifest, never the manifest or the artifacts",
        )
        arns = restore_secret_arns(self.plan)
        if arns:
            role.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=arns))
        if self.plan.volumes:
            self._grant_volume_restores(role)
        if self.readable_replica is not None:
            self._grant_replica_reads(role, self.readable_replica)

    def _grant_replica_reads(self, role: iam.IRole, replica: ReplicaDestination) -> None:
        """Read the plan's runs in the replica ("store": "replica"): get and list them, decrypt through S3 there.

        Nothing else: no write, no delete, and the replica's key only as S3 in the replica's region uses it.
        """
        runs = f"{replica.bucket_arn}/{self.plan.name}/runs/*"
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[runs]))
        # Listing finds the runs (`latest`), and lets a missing object be S3's 404 rather than its 403.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[replica.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.plan.name}/*"]}},
            )
        )
        through_s3 = {"StringEquals": {"kms:ViaService": f"s3.{replica.region}.amazonaws.com"}}
        if replica.key_arn is not None:
            key, conditions = replica.key_arn, through_s3
        else:
            # The replica stack's own key is known here by its alias only (no reference across regions).
            key = f"arn:aws:kms:{replica.region}:{replica.account}:key/*"
            conditions = {**through_s3, "ForAnyValue:StringEquals": {"kms:ResourceAliases": [replica.key_alias]}}
            acknowledge(
                role,
                f"{IAM5}[Resource::{key}]",
                "decrypts only with the key carrying the replica's alias (kms:ResourceAliases), and only as S3 in "
                "the replica's region uses it (kms:ViaService): the replica's key, whose id is not known here",
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key], conditions=conditions)
        )
        acknowledge(
            role,
            f"{IAM5}[Resource::{runs}]",
            "reads (never writes) the runs of its own plan in the plan's replica, whose keys name the run",
        )

    def _grant_volume_restores(self, role: iam.IRole) -> None:
        """A new volume from one of the plan's snapshots (or their copies), tagged as it is made."""
        stack = Stack.of(self)
        regions = self._snapshot_regions()
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ec2:DescribeAvailabilityZones"],
                resources=["*"],
            )
        )
        snapshots = self._snapshot_arns(regions)
        volumes = [f"arn:{stack.partition}:ec2:{region}:{stack.account}:volume/*" for region in regions]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateVolume"],
                resources=snapshots,
                conditions={"StringEquals": {"aws:ResourceTag/smokejumper:plan": self.plan.name}},
            )
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=["ec2:CreateVolume"], resources=volumes))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateTags"],
                resources=volumes,
                conditions={"StringEquals": {"ec2:CreateAction": ["CreateVolume"]}},
            )
        )
        # A volume from a copy is decrypted with the copy's key; from a snapshot of a customer-managed key, with it.
        keys = {s.copy_to.kms_key for s in self.plan.volumes if s.copy_to is not None}
        keys |= {key for s in self.plan.volumes if s.copy_to is not None for key in s.copy_to.source_kms_keys}
        self._grant_ebs_keys(
            role,
            sorted(keys),
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom"],
        )
        for arn in snapshots:
            acknowledge(role, f"{IAM5}[Resource::{arn}]", "creates volumes only from snapshots carrying its plan's tag")
        for arn in volumes:
            acknowledge(
                role,
                f"{IAM5}[Resource::{arn}]",
                "a restored volume's id is not known before it is made; it is tagged only as it is made",
            )

    def _acknowledge_runs_prefix(self, role: iam.IRole, why: str) -> None:
        bucket = self.logical_id(self.storage.bucket)
        acknowledge(role, f"{IAM5}[Resource::<{bucket}.Arn>/{self.plan.name}/runs/*]", why)
