"""cdk-nag's AwsSolutions checks pass, and a finding would stop synthesis.

cdk-nag 3.x reports through CDK's policy validation (a failed synth and
cdk.out/validation-report.json), not through Annotations as 2.x did, so these
tests ask the rule pack directly and read the validation report.
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from infra import nag

# Every AwsSolutions finding acknowledged in a stack, by resource (logical id without its hash) and
# rule, with {plan} for the plan's name. A new entry here is a deliberate, reviewed choice; the
# reasons are in infra/functions.py and in each template's metadata.
_WILDCARDS = ["AwsSolutions-IAM5[Resource::*]"]
_RUNS = "AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan}/runs/*]"
_LOGS = "AwsSolutions-IAM5[Resource::<Functions{name}Logs{hash}.Arn>:*]"
_LOG_HASHES = {
    "startrun": "74E6BFC4", "backupitem": "6B92F98C", "commitrun": "AFF3988E", "snapshotvolumes": "65DD0F93",
    "restore": "8569A88D",
}  # fmt: skip
ACKNOWLEDGED: dict[str, list[str]] = {}
for _name, _hash in _LOG_HASHES.items():
    _rules = [*_WILDCARDS, _LOGS.format(name=_name, hash=_hash)] + ([_RUNS] if _name != "startrun" else [])
    if _name in ("backupitem", "snapshotvolumes"):  # it reads manifests only, to refuse a committed run
        _rules.insert(2, "AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan}/runs/*/manifest.json]")
    # The plan's snapshots in its region and their copies in the copy region (example plan: eu-central-1).
    _SNAPSHOTS = [f"AwsSolutions-IAM5[Resource::arn:aws:ec2:{r}::snapshot/*]" for r in ("eu-west-1", "eu-central-1")]
    if _name == "commitrun":  # the plan's snapshots, deleted with their runs
        _rules += _SNAPSHOTS
    if _name == "snapshotvolumes":  # what it started, and EC2's volumes, instances and the plan's snapshots
        _rules.insert(
            3, "AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan}/runs/*/volumes/*/snapshots-started.json]"
        )
        _rules += [
            "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-west-1:111111111111:volume/*]",
            "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-west-1:111111111111:instance/*]",
            *_SNAPSHOTS,
        ]
    if _name == "restore":  # reads the runs, writes beside them under restores/, makes volumes from snapshots
        _rules.insert(3, "AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan}/runs/*/restores/*]")
        _rules.insert(4, "AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan}/runs/*/restore-test.json]")
        _rules += [
            *_SNAPSHOTS,
            "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-west-1:111111111111:volume/*]",
            "AwsSolutions-IAM5[Resource::arn:aws:ec2:eu-central-1:111111111111:volume/*]",
        ]
    ACKNOWLEDGED[f"Functions{_name}Role"] = _rules
    ACKNOWLEDGED[f"Functions{_name}RoleDefaultPolicy"] = _rules
    ACKNOWLEDGED[f"Functions{_name}"] = ["AwsSolutions-L1"]
# With a replica in the plan's own account, the restore also reads the runs there ("store": "replica"): the
# replica stack's key, known by its alias, and the plan's runs in the replica bucket.
_REPLICA_READS = [
    "AwsSolutions-IAM5[Resource::arn:aws:kms:eu-central-1:111111111111:key/*]",
    "AwsSolutions-IAM5[Resource::arn:aws:s3:::smokejumper-{plan}-replica-111111111111/{plan}/runs/*]",
]
# The state machine's role: log delivery and X-Ray on "*", and each function with its versions (ARN:*).
_INVOKE = "AwsSolutions-IAM5[Resource::<Functions{name}{hash}.Arn>:*]"
_FUNCTION_HASHES = {
    "startrun": "83A5C8AF", "backupitem": "99ED7774", "commitrun": "BB756E46", "snapshotvolumes": "CE20EACF"
}  # fmt: skip
_MACHINE = [*_WILDCARDS, *(_INVOKE.format(name=name, hash=hash_) for name, hash_ in _FUNCTION_HASHES.items())]
ACKNOWLEDGED["WorkflowStateMachineRole"] = _MACHINE
ACKNOWLEDGED["WorkflowStateMachineRoleDefaultPolicy"] = _MACHINE
# The restore machine: log delivery and X-Ray, and the restore function with its versions.
_RESTORE_MACHINE = [*_WILDCARDS, "AwsSolutions-IAM5[Resource::<FunctionsrestoreF5BD5A85.Arn>:*]"]
for _machine in ("StateMachine", "TestStateMachine"):  # the restore and the restore test
    ACKNOWLEDGED[f"Restores{_machine}Role"] = _RESTORE_MACHINE
    ACKNOWLEDGED[f"Restores{_machine}RoleDefaultPolicy"] = _RESTORE_MACHINE
ACKNOWLEDGED["WorkflowLeases"] = ["AwsSolutions-DDB3"]  # a lease table has nothing to recover

# --- triggers (infra/triggers.py) ---
# The triggers' dead-letter queue is the DLQ of the schedules and the Backup Requested rule (their
# DeadLetterConfig), which cdk-nag's SQS3 does not recognise; a DLQ of the DLQ would only move the problem.
ACKNOWLEDGED["TriggersDeadLetterQueue"] = ["AwsSolutions-SQS3"]


def acknowledged_for(plan) -> dict[str, list[str]]:
    """ACKNOWLEDGED, and what a plan's replica adds to it."""
    expected = {name: list(rules) for name, rules in ACKNOWLEDGED.items()}
    replica = plan.storage.replica
    if replica is not None and not replica.is_cross_account("111111111111"):
        for name in ("FunctionsrestoreRole", "FunctionsrestoreRoleDefaultPolicy"):
            expected[name] += _REPLICA_READS
    if replica is not None:
        # S3's replication role: reads the plan's prefix, writes it in the replica, and (a key the replica stack
        # made, in the plan's account) encrypts with the key carrying the replica's alias.
        bucket = replica.bucket_in(plan.name, "111111111111")
        replication = [
            f"AwsSolutions-IAM5[Resource::<StorageBucket5CB7C8EA.Arn>/{plan.name}/*]",
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::{bucket}/{plan.name}/*]",
        ]
        if replica.kms_key == "create":
            replication.append(f"AwsSolutions-IAM5[Resource::arn:aws:kms:{replica.region}:111111111111:key/*]")
        expected["StorageReplicationRole"] = expected["StorageReplicationRoleDefaultPolicy"] = replication
    return expected


def findings(scope):
    """Every unacknowledged AwsSolutions finding under `scope`, as 'RULE construct/path'."""
    report = AwsSolutionsChecks(verbose=True).validate_scope(scope)
    return sorted(
        f"{violation.rule_name} {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    )


def test_no_unacknowledged_aws_solutions_findings(synthesized):
    assert findings(synthesized.app) == []


def test_synth_validation_report_is_clean(synthesized):
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    # Acknowledged findings are listed as suppressed; none may be a violation.
    assert [plugin.get("violations") for plugin in report["pluginReports"] if plugin.get("violations")] == []
    assert all(plugin["conclusion"] == "success" for plugin in report["pluginReports"])


def test_no_error_annotations(example, plain):
    for built in (example, plain):
        assert Annotations.from_stack(built.stack).find_error("*", Match.any_value()) == []


def test_acknowledged_findings_are_the_reviewed_ones(example, plain):
    # add_nag_checks writes each acknowledgment and its reason into the template.
    for built in (example, plain):
        acknowledged = {
            re.sub(r"[0-9A-F]{8}$", "", logical_id): [
                rule["id"] for rule in resource["Metadata"]["cdk_nag"]["rules_to_suppress"]
            ]
            for logical_id, resource in built.template.to_json()["Resources"].items()
            if "cdk_nag" in resource.get("Metadata", {})
        }
        expected = {
            name: [rule.format(plan=built.stack.plan.name) for rule in rules]
            for name, rules in acknowledged_for(built.stack.plan).items()
        }
        assert acknowledged == expected
        for resource in built.template.to_json()["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(rule["reason"]) > 40, "every acknowledgment says why"


def test_a_new_finding_fails_synth_until_acknowledged(fresh_app, stack_builder, example_plan):
    stack = stack_builder(fresh_app, example_plan)
    careless = s3.Bucket(stack, "Careless")  # no access logs, no TLS-only policy
    nag.add_nag_checks(fresh_app)

    path = f"{stack.stack_name}/Careless/Resource"
    assert findings(fresh_app) == [f"AwsSolutions-S1 {path}", f"AwsSolutions-S10 {path}"]

    nag.acknowledge(careless, "AwsSolutions-S1", "test: acknowledged findings are not reported")
    assert findings(fresh_app) == [f"AwsSolutions-S10 {path}"]

    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-S10"):
        fresh_app.synth()
