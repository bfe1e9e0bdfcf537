"""The restore workflow's "store": "replica", as CloudFormation sees it: what the restore function is told and let do.

One app holds four stacks of the same plan (cf-prod), so that their functions have the same logical ids:
without a replica (the baseline), with a replica in its own account (the replica stack's key, known by its
alias), with one whose key and bucket the plan names, and with one in another account. Each restore role
is compared with the baseline's: the replica adds exactly its reads, and a replica in another account adds
nothing (the air gap). moto does not evaluate IAM, so these template assertions are the oracle for the roles
(tests/e2e/test_restore_from_replica.py runs the same workflow on moto).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from smokejumper.handlers import REPLICA_BUCKET_VARIABLE, REPLICA_REGION_VARIABLE
from smokejumper.plan import Plan

from infra.functions import RESTORE, SPECS
from infra.nag import add_nag_checks
from infra.replica import replica_destination
from infra.stack import SmokejumperStack
from tests.infra.conftest import build_stack, render, synth_context

ACCOUNT, VAULT = "111111111111", "222222222222"
REPLICA_REGION = "eu-central-1"
OWN_KEY = "arn:aws:kms:eu-central-1:111111111111:key/7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
VAULT_KEY = "arn:aws:kms:eu-central-1:222222222222:key/9e8d7c6b-5a49-4382-9170-f1e2d3c4b5a6"
Grant = tuple[str, str, str]  # (action, resource as rendered, condition as JSON)


def variant(example_plan: Plan, replica: dict[str, Any] | None) -> Plan:
    data = example_plan.model_dump(mode="json", exclude_none=True)
    data["storage"].pop("replica", None)
    if replica is not None:
        data["storage"]["replica"] = {"region": REPLICA_REGION, **replica}
    return Plan.model_validate(data)


@dataclass(frozen=True)
class Variants:
    app: cdk.App
    stacks: dict[str, SmokejumperStack]
    templates: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def variants(example_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Variants:
    plans = {
        "baseline": variant(example_plan, None),
        "replica": variant(example_plan, {}),
        "keyed": variant(example_plan, {"kms_key": OWN_KEY, "bucket_name": "cf-prod-replica-backups"}),
        "vault": variant(example_plan, {"account": VAULT, "kms_key": VAULT_KEY}),
    }
    app = cdk.App(context=synth_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stacks = {name: build_stack(app, plan, f"Smokejumper-cf-prod-{name}") for name, plan in plans.items()}
    add_nag_checks(app)
    # One synthesis for the four: the first Template.from_stack synthesizes the app.
    return Variants(app, stacks, {name: Template.from_stack(stack).to_json() for name, stack in stacks.items()})


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(variants: Variants, name: str, function: str) -> set[Grant]:
    """Every (action, resource, condition) the function's role is allowed, however CDK merged the statements."""
    stack, template = variants.stacks[name], variants.templates[name]
    role = stack.functions.functions[function].role
    assert role is not None
    role_id = stack.get_logical_id(role.node.default_child)  # type: ignore[arg-type]
    found: set[Grant] = set()
    for policy in template["Resources"].values():
        if policy["Type"] != "AWS::IAM::Policy" or {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
            found |= {
                (action, render(resource), condition)
                for action in listed(statement["Action"])
                for resource in listed(statement["Resource"])
            }
    return found


def variables(variants: Variants, name: str, function: str) -> dict[str, Any]:
    stack, template = variants.stacks[name], variants.templates[name]
    logical_id = stack.get_logical_id(stack.functions.functions[function].node.default_child)  # type: ignore[arg-type]
    return template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]


def test_only_the_restore_function_is_told_the_replica_of_its_own_account(variants: Variants) -> None:
    for name in ("replica", "keyed"):
        destination = replica_destination(variants.stacks[name].plan, ACCOUNT)
        told = variables(variants, name, RESTORE.name)
        assert (told[REPLICA_BUCKET_VARIABLE], told[REPLICA_REGION_VARIABLE]) == (
            destination.bucket_name,
            REPLICA_REGION,
        )
        assert told[REPLICA_BUCKET_VARIABLE] == (
            "smokejumper-cf-prod-replica-111111111111" if name == "replica" else "cf-prod-replica-backups"
        )
        for spec in SPECS:
            if spec is not RESTORE:
                assert REPLICA_BUCKET_VARIABLE not in variables(variants, name, spec.name), spec.name
    # Without a replica, and with one in another account (the air gap), no function is told of one.
    for name in ("baseline", "vault"):
        for spec in SPECS:
            told = variables(variants, name, spec.name)
            assert not {REPLICA_BUCKET_VARIABLE, REPLICA_REGION_VARIABLE} & set(told), (name, spec.name)


def test_the_restore_role_may_read_the_replicas_runs_and_nothing_more(variants: Variants) -> None:
    baseline = grants(variants, "baseline", RESTORE.name)
    bucket = "arn:aws:s3:::smokejumper-cf-prod-replica-111111111111"
    through_s3 = {"kms:ViaService": f"s3.{REPLICA_REGION}.amazonaws.com"}
    expected = {
        ("s3:GetObject", f"{bucket}/cf-prod/runs/*", "{}"),
        ("s3:ListBucket", bucket, json.dumps({"StringLike": {"s3:prefix": ["cf-prod/*"]}})),
        (
            "kms:Decrypt",
            f"arn:aws:kms:{REPLICA_REGION}:{ACCOUNT}:key/*",
            json.dumps(
                {
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/smokejumper/cf-prod-replica"]},
                    "StringEquals": through_s3,
                },
                sort_keys=True,
            ),
        ),
    }
    with_replica = grants(variants, "replica", RESTORE.name)
    assert with_replica - baseline == expected
    assert baseline <= with_replica, "the replica takes nothing away"
    # A key the plan names: that key alone, through S3 in the replica's region; the bucket the plan names.
    keyed = grants(variants, "keyed", RESTORE.name)
    named = "arn:aws:s3:::cf-prod-replica-backups"
    assert keyed - baseline == {
        ("s3:GetObject", f"{named}/cf-prod/runs/*", "{}"),
        ("s3:ListBucket", named, json.dumps({"StringLike": {"s3:prefix": ["cf-prod/*"]}})),
        ("kms:Decrypt", OWN_KEY, json.dumps({"StringEquals": through_s3})),
    }
    # Nothing written or deleted there, by any function; no other function reads it.
    for name in ("replica", "keyed"):
        for spec in SPECS:
            added = grants(variants, name, spec.name) - grants(variants, "baseline", spec.name)
            assert not any(action.startswith(("s3:Put", "s3:Delete", "s3:Abort", "kms:Encrypt", "kms:Generate"))
                           for action, _, _ in added), (name, spec.name, added)  # fmt: skip
            if spec is not RESTORE:
                assert added == set(), (name, spec.name, added)


def test_a_replica_in_another_account_adds_no_grant_to_any_function(variants: Variants) -> None:
    for spec in SPECS:
        vault = grants(variants, "vault", spec.name)
        assert vault == grants(variants, "baseline", spec.name), spec.name
        assert not any(VAULT in resource or "replica" in resource for _, resource, _ in vault), spec.name


def test_cdk_nag_is_clean_and_each_replica_wildcard_is_acknowledged_with_its_reason(variants: Variants) -> None:
    report = AwsSolutionsChecks(verbose=True).validate_scope(variants.app)
    assert [f"{v.rule_name} {r.construct_path}" for v in report.violations for r in v.violating_resources] == []
    bucket = "arn:aws:s3:::smokejumper-cf-prod-replica-111111111111"
    expected = {
        "replica": {
            f"AwsSolutions-IAM5[Resource::{bucket}/cf-prod/runs/*]",
            f"AwsSolutions-IAM5[Resource::arn:aws:kms:{REPLICA_REGION}:{ACCOUNT}:key/*]",
        },
        "keyed": {"AwsSolutions-IAM5[Resource::arn:aws:s3:::cf-prod-replica-backups/cf-prod/runs/*]"},
        "vault": set(),
    }
    stack = variants.stacks["baseline"]
    role = stack.functions.restore.role
    assert role is not None
    role_id = stack.get_logical_id(role.node.default_child)  # type: ignore[arg-type]

    def acknowledged(name: str) -> dict[str, str]:
        metadata = variants.templates[name]["Resources"][role_id]["Metadata"]["cdk_nag"]["rules_to_suppress"]
        return {rule["id"]: rule["reason"] for rule in metadata}

    baseline = acknowledged("baseline")
    for name, rules in expected.items():
        mine = acknowledged(name)
        assert set(mine) - set(baseline) == rules, name
        assert all(len(mine[rule]) > 40 for rule in rules), "every acknowledgment says why"


@pytest.mark.parametrize(
    ("name", "replica"),
    [
        ("cf-prod", {}),
        ("cf-prod", {"bucket_name": "cf-prod-replica-backups"}),
        ("cf-prod", {"account": VAULT, "kms_key": VAULT_KEY}),
        ("a-plan-with-a-name-long-enough-that-its-bucket-is-shortened", {}),
    ],
)
def test_the_replica_bucket_is_named_by_the_plan_alone(example_plan: Plan, name: str, replica: dict[str, Any]) -> None:
    # The stacks, the restore's refusals and `restore run`'s hints all name it by Replica.bucket_in.
    data = variant(example_plan, replica).model_dump(mode="json", exclude_none=True)
    plan = Plan.model_validate({**data, "name": name})
    assert plan.storage.replica is not None
    holder = plan.storage.replica.in_account(ACCOUNT)
    bucket = replica_destination(plan, ACCOUNT).bucket_name
    assert bucket == plan.storage.replica.bucket_name or bucket.startswith(f"smokejumper-{name[:20]}")
    assert 3 <= len(bucket) <= 63
    assert holder in bucket or plan.storage.replica.bucket_name or len(f"smokejumper-{name}-replica-{holder}") > 63


def test_the_report_step_is_told_which_store_the_check_read(variants: Variants) -> None:
    stack = variants.stacks["replica"]
    machine_id = stack.get_logical_id(stack.restores.state_machine.node.default_child)  # type: ignore[arg-type]
    definition = variants.templates["replica"]["Resources"][machine_id]["Properties"]["DefinitionString"]
    text = "".join(part if isinstance(part, str) else "" for part in definition["Fn::Join"][1])
    report = json.loads(text)["States"]["Report"]["Parameters"]
    assert report["read_from.$"] == "$.read_from"
