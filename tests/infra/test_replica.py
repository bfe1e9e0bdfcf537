"""The replica (issue 17): its stack, the primary's replication rule and role, read off the templates.

In the plan's own account and in another one (the destination stack, whose policies admit the primary's
replication role alone).

moto stores a replication configuration but never replicates, and reads a
rule's Filter.Prefix back as empty: the synthesized templates are the oracle
here, and app.py itself is run for the two stacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from smokejumper.plan import Plan

from infra.nag import add_nag_checks
from infra.replica import add_replica_stack, replica_destination
from infra.storage import replication_role_name
from tests.infra.conftest import build_stack, synth_context

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "111111111111"
REPLICA_REGION = "eu-central-1"


@dataclass
class Pair:
    plan: Plan
    primary: dict[str, Any]
    replica: dict[str, Any]
    findings: list[str]
    outdir: Path


def with_replica(example_plan: Plan, **replica: Any) -> Plan:
    data = example_plan.model_dump()
    data["storage"]["replica"] = {"region": REPLICA_REGION, "object_lock_days": 30, **replica}
    return Plan.model_validate(data)


def synthesized_pair(plan: Plan, outdir: Path) -> Pair:
    app = cdk.App(context=synth_context(), outdir=str(outdir))
    primary = build_stack(app, plan)
    replica = add_replica_stack(app, plan, primary)  # as app.py composes them
    assert replica is not None
    add_nag_checks(app)
    report = AwsSolutionsChecks(verbose=True).validate_scope(app)
    findings = sorted(f"{v.rule_name} {r.construct_path}" for v in report.violations for r in v.violating_resources)
    return Pair(
        plan,
        Template.from_stack(primary).to_json(),
        Template.from_stack(replica).to_json(),
        findings,
        outdir,
    )


@pytest.fixture(scope="module")
def pair(example_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return synthesized_pair(with_replica(example_plan), tmp_path_factory.mktemp("cdk.out"))


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: r for key, r in template["Resources"].items() if r["Type"] == kind}


def backup_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(key, bucket)] = [(k, r) for k, r in of_type(template, "AWS::S3::Bucket").items() if k.startswith("StorageBucket")]
    return key, bucket["Properties"]


def run_app(plan: Plan, tmp_path: Path) -> dict[str, Any]:
    """app.py itself, as `cdk synth` runs it, on `plan`: the cloud assembly's manifest."""
    import yaml

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan.model_dump(mode="json", exclude_none=True)))
    environment = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                   "CDK_CONTEXT_JSON": json.dumps({**synth_context(), "plan": str(plan_file)}),
                   "CDK_OUTDIR": str(tmp_path / "out")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((tmp_path / "out" / "manifest.json").read_text())


def cfn_lint(templates: list[Path]) -> None:
    result = subprocess.run(
        [Path(sys.executable).parent / "cfn-lint", "--regions", "eu-west-1", REPLICA_REGION, "--include-checks", "I",
         "--ignore-checks", "I1022", "W3005", "--format", "parseable", "--", *templates],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_primary_replicates_its_plans_prefix_with_kms_and_never_a_deletion(pair: Pair) -> None:
    destination = replica_destination(pair.plan, ACCOUNT)
    _, bucket = backup_bucket(pair.primary)
    configuration = bucket["ReplicationConfiguration"]
    [rule] = configuration["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "cf-prod/"}
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}, "a deletion never reaches the replica"
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{destination.bucket_name}"
    assert rule["Destination"]["EncryptionConfiguration"] == {
        "ReplicaKmsKeyID": f"arn:aws:kms:{REPLICA_REGION}:{ACCOUNT}:alias/smokejumper/cf-prod-replica"
    }
    assert "ReplicationTime" not in rule["Destination"], "Replication Time Control only when the plan asks"
    role_id = configuration["Role"]["Fn::GetAtt"][0]
    assert pair.primary["Resources"][role_id]["Type"] == "AWS::IAM::Role"


def test_the_replication_role_reads_the_prefix_and_writes_the_replica_only(pair: Pair) -> None:
    bucket_id, _ = backup_bucket(pair.primary)
    [(role_id, role)] = [(k, r) for k, r in of_type(pair.primary, "AWS::IAM::Role").items() if "Replication" in k]
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    statements = [
        s
        for policy in of_type(pair.primary, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    grants: dict[str, list[Any]] = {}
    for s in statements:
        for action in s["Action"] if isinstance(s["Action"], list) else [s["Action"]]:
            grants.setdefault(action, []).append((s["Resource"], s.get("Condition")))
    replica_objects = f"arn:aws:s3:::{replica_destination(pair.plan, ACCOUNT).bucket_name}/cf-prod/*"
    assert grants["s3:ReplicateObject"] == grants["s3:ReplicateTags"] == [(replica_objects, None)]
    assert "s3:ReplicateDelete" not in grants, "the replica never deletes what the primary deletes"
    assert grants["s3:GetReplicationConfiguration"] == [({"Fn::GetAtt": [bucket_id, "Arn"]}, None)]
    source_objects = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/cf-prod/*"]]}
    assert grants["s3:GetObjectVersionForReplication"] == [(source_objects, None)]
    [(_decrypt_on, decrypt_if)] = grants["kms:Decrypt"]
    assert decrypt_if == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    [(encrypt_on, encrypt_if)] = grants["kms:Encrypt"]
    assert encrypt_on == f"arn:aws:kms:{REPLICA_REGION}:{ACCOUNT}:key/*"
    assert encrypt_if == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/smokejumper/cf-prod-replica"]},
        "StringEquals": {"kms:ViaService": f"s3.{REPLICA_REGION}.amazonaws.com"},
    }
    allowed = {action for action in grants if not action.startswith(("s3:Get", "s3:List"))}
    assert allowed == {"s3:ReplicateObject", "s3:ReplicateTags", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


def test_the_replica_bucket_is_hardened_locked_and_ends_runs_by_its_own_lifecycle(pair: Pair) -> None:
    destination = replica_destination(pair.plan, ACCOUNT)
    _, bucket = backup_bucket(pair.replica)
    assert bucket["BucketName"] == destination.bucket_name
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 30}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }  # fmt: skip
    [encryption] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    [(key_id, _)] = of_type(pair.replica, "AWS::KMS::Key").items()
    assert encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    [alias] = of_type(pair.replica, "AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == destination.key_alias
    assert "LoggingConfiguration" in bucket
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    retention = pair.plan.retention
    # The example keeps 7 days, 4 weeks and 6 months: the replica keeps a run 6 x 31 days and a month more.
    assert rules["expire-runs"]["ExpirationInDays"] == 31 * retention.monthly + 31 == 217
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"] for p in of_type(pair.replica, "AWS::S3::BucketPolicy").values()
    ]
    assert all(
        any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"} for s in p)
        for p in policies
    ), "TLS only, on both of its buckets"


def test_both_stacks_are_cdk_nag_clean_and_pass_cfn_lint(pair: Pair) -> None:
    assert pair.findings == []
    # Template.from_stack synthesized the app into its outdir: both templates are there.
    templates = sorted(pair.outdir.glob("*.template.json"))
    assert {path.name for path in templates} >= {
        "Smokejumper-cf-prod.template.json",
        "Smokejumper-cf-prod-replica.template.json",
    }
    cfn_lint(templates)


def test_replication_time_control_when_the_plan_asks(example_plan: Plan, tmp_path: Path) -> None:
    timed = synthesized_pair(with_replica(example_plan, replication_time_control=True), tmp_path)
    _, bucket = backup_bucket(timed.primary)
    [rule] = bucket["ReplicationConfiguration"]["Rules"]
    fifteen = {"Minutes": 15}
    assert rule["Destination"]["ReplicationTime"] == {"Status": "Enabled", "Time": fifteen}
    assert rule["Destination"]["Metrics"] == {"Status": "Enabled", "EventThreshold": fifteen}


def test_replication_metrics_are_on_without_replication_time_control(pair: Pair) -> None:
    """Without RTC the rule still publishes its metrics (Status alone: no missed-threshold event without RTC)."""
    [rule] = backup_bucket(pair.primary)[1]["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["Metrics"] == {"Status": "Enabled"}
    assert "ReplicationTime" not in rule["Destination"]


def test_app_py_synthesizes_the_replica_stack_first(example_plan: Plan, tmp_path: Path) -> None:
    manifest = run_app(with_replica(example_plan), tmp_path)
    primary = manifest["artifacts"]["Smokejumper-cf-prod"]
    assert "Smokejumper-cf-prod-replica" in primary["dependencies"]
    assert manifest["artifacts"]["Smokejumper-cf-prod-replica"]["environment"] == f"aws://{ACCOUNT}/{REPLICA_REGION}"


def test_replication_that_fails_or_lags_alarms_to_the_plans_topic(example_plan: Plan, tmp_path: Path) -> None:
    timed = synthesized_pair(with_replica(example_plan, replication_time_control=True), tmp_path)
    bucket_id, _ = backup_bucket(timed.primary)
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in of_type(timed.primary, "AWS::CloudWatch::Alarm").values()
    }
    failed, late = alarms["smokejumper-cf-prod-replication-failed"], alarms["smokejumper-cf-prod-replication-late"]
    destination = replica_destination(timed.plan, ACCOUNT)
    for alarm in (failed, late):
        assert alarm["Namespace"] == "AWS/S3"
        # The rule's own dimensions: its id as the template names it, both buckets.
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "SourceBucket": {"Ref": bucket_id},
            "DestinationBucket": destination.bucket_name,
            "RuleId": "replicate-cf-prod",
        }
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"], "to the plan's topic"
    [rule] = backup_bucket(timed.primary)[1]["ReplicationConfiguration"]["Rules"]
    assert rule["Id"] == "replicate-cf-prod"
    assert (failed["MetricName"], failed["Statistic"], failed["Threshold"]) == ("OperationsFailedReplication", "Sum", 1)
    assert (late["MetricName"], late["Statistic"], late["Threshold"]) == ("ReplicationLatency", "Maximum", 900)
    assert (late["Period"], late["EvaluationPeriods"], late["DatapointsToAlarm"]) == (300, 3, 3)
    # Without Replication Time Control the metrics are on too: both alarms, lateness at the plan's window.
    for replica, minutes in (({}, 240), ({"late_after_minutes": 60}, 60)):
        template = synthesized_pair(with_replica(example_plan, **replica), tmp_path / str(minutes)).primary
        alarms = {
            a["Properties"]["AlarmName"]: a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()
        }
        assert alarms["smokejumper-cf-prod-replication-failed"]["MetricName"] == "OperationsFailedReplication"
        assert alarms["smokejumper-cf-prod-replication-late"]["Threshold"] == minutes * 60


# --- a replica in another account -------------------------------------------------------------------------

VAULT = "222222222222"
VAULT_KEY = f"arn:aws:kms:{REPLICA_REGION}:{VAULT}:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def vault(example_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    plan = with_replica(example_plan, account=VAULT, kms_key=VAULT_KEY)
    return synthesized_pair(plan, tmp_path_factory.mktemp("cdk.out"))


def role_statements(template: dict[str, Any], role_id: str) -> dict[str, list[Any]]:
    grants: dict[str, list[Any]] = {}
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in s["Action"] if isinstance(s["Action"], list) else [s["Action"]]:
                grants.setdefault(action, []).append((s["Resource"], s.get("Condition")))
    return grants


def test_another_account_owns_the_replicas_and_its_key_is_named_by_arn(vault: Pair) -> None:
    destination = replica_destination(vault.plan, ACCOUNT)
    assert destination.cross_account
    assert destination.account == VAULT
    assert destination.bucket_name == f"smokejumper-cf-prod-replica-{VAULT}"
    [rule] = backup_bucket(vault.primary)[1]["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["Account"] == VAULT
    assert rule["Destination"]["AccessControlTranslation"] == {"Owner": "Destination"}, "owner override"
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": VAULT_KEY}
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    [(role_id, role)] = [(k, r) for k, r in of_type(vault.primary, "AWS::IAM::Role").items() if "Replication" in k]
    assert role["Properties"]["RoleName"] == replication_role_name("cf-prod", "eu-west-1")
    grants = role_statements(vault.primary, role_id)
    replica_objects = f"arn:aws:s3:::{destination.bucket_name}/cf-prod/*"
    for action in ("s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"):
        assert grants[action] == [(replica_objects, None)], action
    assert "s3:ReplicateDelete" not in grants
    assert (
        grants["kms:Encrypt"]
        == grants["kms:GenerateDataKey"]
        == [(VAULT_KEY, {"StringEquals": {"kms:ViaService": f"s3.{REPLICA_REGION}.amazonaws.com"}})]
    )


def test_the_destination_admits_the_primarys_replication_role_and_no_one_else_of_its_account(vault: Pair) -> None:
    # The role's name as the primary's template gives it: the destination's policies must name that one.
    [role] = [r for k, r in of_type(vault.primary, "AWS::IAM::Role").items() if "Replication" in k]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role['Properties']['RoleName']}"
    account_root = f"arn:aws:iam::{ACCOUNT}:root"
    bucket_id, bucket = backup_bucket(vault.replica)
    assert not of_type(vault.replica, "AWS::KMS::Key"), "the plan's key of that account, not one made here"
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": VAULT_KEY
    }  # fmt: skip
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(vault.replica, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    admitted = [s for s in policy if s["Effect"] == "Allow"]
    assert {s["Sid"] for s in admitted} == {"ReplicationRoleWritesThePlansPrefix", "ReplicationRoleSeesTheBucket"}
    for statement in admitted:
        assert statement["Principal"] == {"AWS": account_root}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role_arn}}
    actions = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in admitted}
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/cf-prod/*"]]}
    assert actions["ReplicationRoleWritesThePlansPrefix"] == (
        ["s3:ObjectOwnerOverrideToBucketOwner", "s3:ReplicateObject", "s3:ReplicateTags"],
        objects,
    )
    assert actions["ReplicationRoleSeesTheBucket"] == (
        ["s3:GetBucketVersioning", "s3:ListBucket"],
        {"Fn::GetAtt": [bucket_id, "Arn"]},
    )
    # The key is the vault's own: its policy is its owners'; the stack says what statement they add.
    statement = json.loads(vault.replica["Outputs"]["ReplicaKeyPolicyStatement"]["Value"])
    assert statement["Action"] == ["kms:Encrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": role_arn},
        "StringEquals": {"kms:ViaService": f"s3.{REPLICA_REGION}.amazonaws.com"},
    }
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert vault.findings == []


def test_app_py_synthesizes_the_destination_stack_for_the_other_account(example_plan: Plan, tmp_path: Path) -> None:
    manifest = run_app(with_replica(example_plan, account=VAULT, kms_key=VAULT_KEY), tmp_path)
    assert manifest["artifacts"]["Smokejumper-cf-prod-replica"]["environment"] == f"aws://{VAULT}/{REPLICA_REGION}"
    # Deployed on its own with the vault's credentials: `cdk deploy Smokejumper-cf-prod` must not drag it along.
    assert "Smokejumper-cf-prod-replica" not in manifest["artifacts"]["Smokejumper-cf-prod"].get("dependencies", [])
    cfn_lint(sorted((tmp_path / "out").glob("*.template.json")))
