"""The backup functions as CloudFormation sees them: layer, network, and each role's exact grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from smokejumper.plan import Plan

from infra.functions import BACKUP_ITEM, COMMIT_RUN, SPECS, START_RUN, _FunctionsCode, plan_json, secret_arns
from tests.infra.conftest import render


def function_ids(built) -> dict[str, str]:
    """Function name (start-run, ...) -> logical id."""
    return {name: built.logical_id(function) for name, function in built.stack.functions.functions.items()}


def statements_of(built, function_name: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the function's role."""
    role = built.stack.functions.functions[function_name].role
    role_id = built.logical_id(role)
    found = []
    for policy in built.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    assert not built.resource(role_id)["Properties"].get("ManagedPolicyArns"), "no AWS managed policies"
    return found


def grants(built, function_name: str) -> dict[str, set[str]]:
    """action -> the resources it is granted on (rendered)."""
    table: dict[str, set[str]] = {}
    for statement in statements_of(built, function_name):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            table.setdefault(action, set()).update(render(resource) for resource in resources)
    return table


def test_three_functions_on_the_layer_in_the_plans_subnets(example, example_plan: Plan):
    functions = example.template.find_resources("AWS::Lambda::Function")
    assert set(function_ids(example).values()) == set(functions)
    layer_id = example.logical_id(example.stack.functions.layer)
    for spec in SPECS:
        properties = functions[function_ids(example)[spec.name]]["Properties"]
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["x86_64"]
        assert properties["Handler"] == f"{spec.module}.handler"
        assert properties["Layers"] == [{"Ref": layer_id}]
        assert (properties["MemorySize"], properties["Timeout"]) == (spec.memory_mb, spec.timeout.to_seconds())
        assert properties["VpcConfig"]["SubnetIds"] == example_plan.network.subnet_ids
        assert properties["VpcConfig"]["SecurityGroupIds"] == example_plan.network.security_group_ids
        assert properties["TracingConfig"] == {"Mode": "Active"}
        environment = properties["Environment"]["Variables"]
        assert set(environment) >= {"SMOKEJUMPER_BUCKET", "SMOKEJUMPER_KMS_KEY_ID", "POWERTOOLS_SERVICE_NAME"}
        assert not any("secret" in name.lower() or "password" in name.lower() for name in environment)


def test_a_plan_without_security_groups_gets_one_open_outbound_only(fresh_app, stack_builder, example_plan: Plan):
    from aws_cdk.assertions import Template

    data = example_plan.model_dump()
    data["network"]["security_group_ids"] = []
    stack = stack_builder(fresh_app, Plan.model_validate(data))
    template = Template.from_stack(stack)
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    assert len(groups) == 1
    [(group_id, group)] = groups.items()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]
    for function in template.find_resources("AWS::Lambda::Function").values():
        assert function["Properties"]["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]


def test_backup_item_writes_its_plans_runs_and_reads_only_the_plans_secrets(example, example_plan: Plan):
    table = grants(example, BACKUP_ITEM.name)
    s3 = {action: resources for action, resources in table.items() if action.startswith("s3:")}
    assert set(s3) == {"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket"}
    for action in ("s3:PutObject", "s3:AbortMultipartUpload"):
        assert s3[action] == {f"<GetAtt {example.bucket_id}.Arn>/cf-prod/runs/*"}
    # It reads manifests only (to refuse writing into a committed run), and lists its plan's runs only.
    assert s3["s3:GetObject"] == {f"<GetAtt {example.bucket_id}.Arn>/cf-prod/runs/*/manifest.json"}
    [listing] = [s for s in statements_of(example, BACKUP_ITEM.name) if s["Action"] == "s3:ListBucket"]
    assert render(listing["Resource"]) == f"<GetAtt {example.bucket_id}.Arn>"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["cf-prod/runs/*"]}}
    assert "s3:DeleteObject" not in table
    assert "s3:DeleteObjectVersion" not in table
    assert table["secretsmanager:GetSecretValue"] == set(secret_arns(example_plan))
    assert [action for action in table if action.startswith("secretsmanager:")] == ["secretsmanager:GetSecretValue"]
    # Every secret of the plan, and only those (credentials, CA bundles, etcd certificates).
    assert len(secret_arns(example_plan)) == 8


def test_commit_run_reads_lists_and_prunes_its_plans_prefix_only(example):
    table = grants(example, COMMIT_RUN.name)
    object_actions = {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
    }
    s3 = {action for action in table if action.startswith("s3:")}
    assert s3 == object_actions | {"s3:ListBucket"}
    for action in object_actions:
        assert table[action] == {f"<GetAtt {example.bucket_id}.Arn>/cf-prod/runs/*"}
    [listing] = [s for s in statements_of(example, COMMIT_RUN.name) if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["cf-prod/*"]}}
    assert "s3:DeleteObjectVersion" not in table, "a stolen role must not destroy versions"
    assert not any(action.startswith("secretsmanager:") for action in table)


def test_start_run_reads_nothing_but_its_leases(example):
    table = grants(example, START_RUN.name)
    assert not any(action.startswith(("s3:", "secretsmanager:")) for action in table)
    leases = f"<GetAtt {example.logical_id(example.stack.workflow.lock_table)}.Arn>"
    assert {action: table[action] for action in table if action.startswith("dynamodb:")} == {
        "dynamodb:PutItem": {leases},
        "dynamodb:GetItem": {leases},
    }
    # The plan's key only for the lease table's items (the table is encrypted with it).
    key = f"<GetAtt {example.logical_id(example.stack.storage.key)}.Arn>"
    assert {action for action in table if action.startswith("kms:")} == {
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"
    }  # fmt: skip
    assert all(table[action] == {key} for action in table if action.startswith("kms:"))


@pytest.mark.parametrize("function_name", [spec.name for spec in SPECS])
def test_wildcards_are_only_where_aws_allows_nothing_else(example, function_name):
    for action, resources in grants(example, function_name).items():
        if "*" in resources:
            assert action.startswith(("ec2:", "xray:")), f"{action} on *"
        for resource in resources:
            if resource.startswith(f"<GetAtt {example.bucket_id}.Arn>/"):
                assert resource.startswith(f"<GetAtt {example.bucket_id}.Arn>/cf-prod/"), resource


def test_each_function_logs_to_its_own_log_group_kept_a_year(example, plain):
    for built, encrypted in ((example, True), (plain, False)):
        groups = built.template.find_resources("AWS::Logs::LogGroup")
        names = {group["Properties"]["LogGroupName"] for group in groups.values()}
        plan = built.stack.plan.name
        functions = {f"/aws/lambda/smokejumper-{plan}-{spec.name}" for spec in SPECS}
        machines = {
            f"/aws/vendedlogs/states/smokejumper-{plan}-{machine}" for machine in ("backup", "restore", "restore-test")
        }
        assert names == functions | machines  # + the state machines'
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == 365
            assert ("KmsKeyId" in group["Properties"]) is encrypted
        for spec in SPECS:
            [logs] = [s for s in statements_of(built, spec.name) if s["Action"][0].startswith("logs:")]
            assert render(logs["Resource"]).endswith(":*")


def test_the_code_asset_is_the_handlers_and_the_plan(example_plan: Plan, tmp_path: Path):
    assert _FunctionsCode(plan_json(example_plan)).try_bundle(str(tmp_path), None) is True
    handlers = {path.name for path in tmp_path.glob("*.py")}
    assert {f"{spec.module}.py" for spec in SPECS} <= handlers
    assert Plan.model_validate_json((tmp_path / "plan.json").read_text()) == example_plan


def as_set(grants: list[tuple[set[str], dict[str, Any]]]) -> set[tuple[frozenset[str], str]]:
    """(resources, condition) pairs in a form compared regardless of order (sets print in any order)."""
    return {(frozenset(resources), json.dumps(condition, sort_keys=True)) for resources, condition in grants}


def conditions_of(built, function_name: str, action: str) -> list[tuple[set[str], dict[str, Any]]]:
    """(resources, condition) of each statement granting `action` to the function's role."""
    found = []
    for statement in statements_of(built, function_name):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found.append(({render(r) for r in resources}, statement.get("Condition", {})))
    return found


def test_snapshot_volumes_makes_copies_and_touches_only_its_plans_snapshots(example, example_plan: Plan):
    [selector] = example_plan.volumes
    assert selector.copy_to is not None  # the example plan copies to eu-central-1
    own, copies = "arn:aws:ec2:eu-west-1::snapshot/*", "arn:aws:ec2:eu-central-1::snapshot/*"
    plan_tag = {"aws:ResourceTag/smokejumper:plan": "cf-prod"}
    name = "snapshot-volumes"
    # Born with the plan's tag, from the plan's own snapshots only.
    assert as_set(conditions_of(example, name, "ec2:CopySnapshot")) == as_set(
        [({copies}, {"StringEquals": {"aws:RequestTag/smokejumper:plan": "cf-prod"}}),
         ({own}, {"StringEquals": plan_tag})]
    )  # fmt: skip
    for resources, condition in conditions_of(example, name, "ec2:DeleteSnapshot"):
        assert (resources, condition) == ({own, copies}, {"StringEquals": plan_tag})
    tagging = conditions_of(example, name, "ec2:CreateTags")
    assert ({own, copies}, {"StringEquals": plan_tag}) in tagging
    assert ({copies}, {"StringEquals": {"ec2:CreateAction": ["CopySnapshot"]}}) in tagging
    assert all(condition for _, condition in tagging), "never an unconditional CreateTags"
    # The copy region's key: EBS re-encrypts with it, through a grant for EBS only.
    table = grants(example, name)
    storage_key = f"<GetAtt {example.logical_id(example.stack.storage.key)}.Arn>"  # its records in the bucket
    for action in ("kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptTo", "kms:CreateGrant"):
        assert table[action] - {storage_key} == {selector.copy_to.kms_key}, action
    [(_, grant)] = conditions_of(example, name, "kms:CreateGrant")
    assert grant == {"Bool": {"kms:GrantIsForAWSResource": True}}
    assert "ec2:LockSnapshot" not in table, "no lock in the example plan: no permission to lock"
    # Retention deletes the copies with their runs, by the plan's tag.
    assert conditions_of(example, COMMIT_RUN.name, "ec2:DeleteSnapshot") == [
        ({own, copies}, {"StringEquals": plan_tag})
    ]


def test_a_plan_that_locks_its_snapshots_may_lock_only_its_own(fresh_app, stack_builder, example_plan: Plan):
    from aws_cdk.assertions import Template

    from tests.infra.conftest import Built

    data = example_plan.model_dump()
    data["volumes"][0]["lock"] = {"days": 14}
    key = "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"
    data["volumes"][0]["copy_to"]["source_kms_keys"] = [key]
    stack = stack_builder(fresh_app, Plan.model_validate(data))
    built = Built(stack, Template.from_stack(stack))
    [(resources, condition)] = conditions_of(built, "snapshot-volumes", "ec2:LockSnapshot")
    assert resources == {"arn:aws:ec2:eu-west-1::snapshot/*", "arn:aws:ec2:eu-central-1::snapshot/*"}
    assert condition == {"StringEquals": {"aws:ResourceTag/smokejumper:plan": "cf-prod"}}
    # The volumes' own customer-managed key: read through for the copy, nothing more.
    table = grants(built, "snapshot-volumes")
    assert {action for action, on in table.items() if key in on} == {
        "kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom", "kms:CreateGrant"
    }  # fmt: skip


def test_restore_reads_the_runs_writes_only_beside_them_and_reads_only_the_servers_secrets(example, example_plan: Plan):
    from infra.functions import restore_secret_arns

    table = grants(example, "restore")
    runs = f"<GetAtt {example.bucket_id}.Arn>/cf-prod/runs/*"
    # And, with a replica in the plan's own account, its copy of the runs ("store": "replica"; the replica's
    # grants are asserted in full in test_restore_from_replica.py).
    replica = example_plan.storage.replica
    replica_runs = set()
    if replica is not None and not replica.is_cross_account("111111111111"):
        from infra.replica import replica_destination

        replica_runs = {f"{replica_destination(example_plan, '111111111111').bucket_arn}/cf-prod/runs/*"}
    assert table["s3:GetObject"] == {runs} | replica_runs
    # What a restore leaves beside a run, and a restore test's verdict: never a run's artifacts or manifest.
    assert table["s3:PutObject"] == {f"{runs}/restores/*", f"{runs}/restore-test.json"}
    assert not any(action in table for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"))
    # The plan's databases' secrets, its restore servers' and its scratch servers', nothing else.
    [server] = example_plan.restores.servers
    assert example_plan.restore_tests is not None
    assert table["secretsmanager:GetSecretValue"] == set(restore_secret_arns(example_plan))
    for named in (server, *example_plan.restore_tests.scratch):
        assert named.credentials_secret_arn in table["secretsmanager:GetSecretValue"]
    # Volumes only from the plan's snapshots (or their copies), tagged only as they are made.
    plan_tag = {"StringEquals": {"aws:ResourceTag/smokejumper:plan": "cf-prod"}}
    snapshots = {"arn:aws:ec2:eu-west-1::snapshot/*", "arn:aws:ec2:eu-central-1::snapshot/*"}
    volumes = {f"arn:aws:ec2:{r}:111111111111:volume/*" for r in ("eu-west-1", "eu-central-1")}
    assert as_set(conditions_of(example, "restore", "ec2:CreateVolume")) == as_set(
        [(snapshots, plan_tag), (volumes, {})]
    )
    assert conditions_of(example, "restore", "ec2:CreateTags") == [
        (volumes, {"StringEquals": {"ec2:CreateAction": ["CreateVolume"]}})
    ]
    assert "ec2:DeleteVolume" not in table
    assert "ec2:DeleteSnapshot" not in table
