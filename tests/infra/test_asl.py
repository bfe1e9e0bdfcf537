"""The state machines' definitions, read back from the synthesized template: valid ASL, and the shape that matters.

cfn-lint cannot see inside the Fn::Join CDK makes of a definition, so each one is resolved
(smokejumper.templates, placeholder ARNs for what exists only once deployed) and handed to
asl-validator, the Amazon States Language checker from package.json.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from smokejumper.failures import ERROR_TYPES
from smokejumper.runs import COMPONENTS
from smokejumper.templates import Resolver, Template, UnresolvableError, state_machine_definitions

REPO = Path(__file__).resolve().parents[2]
ASL_VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"
ACCOUNT, REGION = "111111111111", "eu-west-1"
# The errors worth another try, from the list itself (not from the workflow that uses it).
TRANSIENT = {name for name, error in ERROR_TYPES.items() if error.transient}


def placeholder(template: Template) -> Any:
    """A Resolver's `missing`: a resource's logical id for its Ref, an ARN naming it for its GetAtt Arn."""

    def missing(logical_id: str, attribute: str | None) -> str:
        if attribute is None:
            return logical_id
        if attribute != "Arn":
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}: no placeholder for it")
        resource_type = template.resources[logical_id]["Type"]
        if resource_type == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
        service = resource_type.split("::")[1].lower()
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{logical_id}"

    return missing


@pytest.fixture(scope="module")
def template(example) -> Template:
    return Template(example.template.to_json())


@pytest.fixture(scope="module")
def definitions(template: Template) -> dict[str, dict[str, Any]]:
    found = state_machine_definitions(template, Resolver(ACCOUNT, REGION, missing=placeholder(template)))
    assert found, "the stack has a state machine"
    return found


@pytest.fixture(scope="module")
def backup(example, definitions) -> dict[str, Any]:
    """The backup workflow's definition."""
    return definitions[example.logical_id(example.stack.workflow.state_machine)]


def validate(definition: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(json.dumps(definition, indent=2), encoding="utf-8")
    return subprocess.run(
        [ASL_VALIDATOR, "--json-path", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def function_arn(example, function: Any) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{example.logical_id(function)}"


# --- valid ASL ---------------------------------------------------------------------------------------


def test_every_state_machine_definition_is_valid_asl(definitions, tmp_path: Path):
    for logical_id, definition in definitions.items():
        result = validate(definition, tmp_path / f"{logical_id}.asl.json")
        assert result.returncode == 0, f"{logical_id}:\n{result.stdout}{result.stderr}"


def test_the_validator_rejects_a_broken_next(backup, tmp_path: Path):
    # Proves the check above can fail: a Next that names no state is the mistake it exists for.
    broken = copy.deepcopy(backup)
    start = broken["States"][broken["StartAt"]]
    assert "Next" in start
    start["Next"] = "No such state"
    result = validate(broken, tmp_path / "broken.asl.json")
    assert result.returncode != 0, result.stdout + result.stderr
    assert "No such state" in result.stdout + result.stderr


# --- the shape that matters ----------------------------------------------------------------------------


def component_maps(backup: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Parallel's Map states by the component whose items they take ($.work.<component>)."""
    [parallel] = [state for state in backup["States"].values() if state["Type"] == "Parallel"]
    maps = {}
    for branch in parallel["Branches"]:
        assert len(branch["States"]) == 1, "a branch is its component's Map and nothing else"
        state = branch["States"][branch["StartAt"]]
        assert state["Type"] == "Map"
        assert state["ItemsPath"].startswith("$.work.")
        maps[state["ItemsPath"].removeprefix("$.work.")] = state
    assert len(maps) == len(parallel["Branches"]), "no two branches take the same items"
    return maps


def test_the_parallel_has_one_map_per_component(backup):
    assert list(component_maps(backup)) == list(COMPONENTS)
    assert set(COMPONENTS) == {"etcd", "databases", "volumes"}


def test_the_maps_back_up_at_most_plan_concurrency_items_at_once(example, backup):
    maps = component_maps(backup)
    assert maps["databases"]["MaxConcurrency"] == example.stack.plan.concurrency
    assert {state["MaxConcurrency"] for state in maps.values()} == {example.stack.plan.concurrency}


def test_each_item_task_retries_the_transient_errors_and_catches_the_rest(example, backup):
    backup_item = function_arn(example, example.stack.functions.backup_item)
    for component, state in component_maps(backup).items():
        if component == "volumes":
            continue  # its snapshot loop: the test below
        processor = state["ItemProcessor"]
        task = processor["States"][processor["StartAt"]]
        assert task["Type"] == "Task"
        assert task["Resource"] == backup_item, component
        # CDK's own retry of Lambda's service errors (Lambda.ServiceException, ...) comes beside ours.
        ours = [retry for retry in task["Retry"] if not all(e.startswith("Lambda.") for e in retry["ErrorEquals"])]
        assert len(ours) == 1, component
        assert set(ours[0]["ErrorEquals"]) == TRANSIENT, component
        assert len(ours[0]["ErrorEquals"]) == len(TRANSIENT)
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert not retried & {name for name in ERROR_TYPES if name not in TRANSIENT}, "a wrong password is final"
        assert "States.ALL" not in retried
        [catch] = task["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] == "$.error"
        # The caught failure is recorded, and the Map goes on with the other items.
        recorded = processor["States"][catch["Next"]]
        assert recorded["Type"] == "Pass"
        assert recorded.get("End") is True


def test_volumes_are_started_then_waited_for_and_looked_at_until_done(example, backup):
    snapshots = function_arn(example, example.stack.functions.snapshot_volumes)
    processor = component_maps(backup)["volumes"]["ItemProcessor"]
    states = processor["States"]
    start = states[processor["StartAt"]]
    assert (start["Resource"], start["Parameters"]["phase"]) == (snapshots, "start")
    # Never retried by us: a second start would make a second set of snapshots.
    assert all(all(e.startswith("Lambda.") for e in retry["ErrorEquals"]) for retry in start.get("Retry", []))
    wait = states[start["Next"]]
    assert (wait["Type"], wait["SecondsPath"]) == ("Wait", "$.poll_seconds")  # no Lambda waits
    look = states[wait["Next"]]
    assert (look["Resource"], look["Parameters"]["phase"]) == (snapshots, "look")
    ours = [retry for retry in look["Retry"] if not all(e.startswith("Lambda.") for e in retry["ErrorEquals"])]
    assert [set(retry["ErrorEquals"]) for retry in ours] == [TRANSIENT]
    choice = states[look["Next"]]
    [done] = choice["Choices"]
    assert (done["Variable"], done["BooleanEquals"]) == ("$.done", True)
    assert choice["Default"] == start["Next"], "not done: wait and look again"
    assert states[done["Next"]]["Type"] == "Pass"
    for task in (start, look):
        [catch] = task["Catch"]
        assert (catch["ErrorEquals"], catch["ResultPath"]) == (["States.ALL"], "$.error")
        assert states[catch["Next"]]["Type"] == "Pass"


@pytest.mark.parametrize("machine", ["backup", "restore", "restore-test"])
def test_each_state_machine_may_invoke_only_its_own_functions(example, template: Template, machine: str):
    from infra.functions import BACKUP_SPECS

    state_machine = {
        "backup": example.stack.workflow.state_machine,
        "restore": example.stack.restores.state_machine,
        "restore-test": example.stack.restores.test_machine,
    }[machine]
    machine_id = example.logical_id(state_machine)
    role_id, _ = template.resources[machine_id]["Properties"]["RoleArn"]["Fn::GetAtt"]
    statements = [
        statement
        for _, policy in template.of_type("AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoking = [
        statement
        for statement in statements
        if any(action.startswith("lambda:") for action in _listed(statement["Action"]))
    ]
    assert [_listed(statement["Action"]) for statement in invoking] == [["lambda:InvokeFunction"]]
    everything = example.stack.functions.functions
    functions = [everything[spec.name] for spec in BACKUP_SPECS] if machine == "backup" else [everything["restore"]]
    arns = [{"Fn::GetAtt": [example.logical_id(function), "Arn"]} for function in functions]
    versions = [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
    resources = _listed(invoking[0]["Resource"])
    assert sorted(map(json.dumps, resources)) == sorted(map(json.dumps, arns + versions))
    assert all(statement["Effect"] == "Allow" and "NotAction" not in statement for statement in statements)
    assert not any(action in ("lambda:*", "*") for statement in statements for action in _listed(statement["Action"]))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_restore_checks_then_verifies_everything_before_it_restores_anything(example, definitions):
    restore = definitions[example.logical_id(example.stack.restores.state_machine)]
    states = restore["States"]
    restore_function = function_arn(example, example.stack.functions.restore)
    order, name = [], restore["StartAt"]
    while name in states and "Next" in states[name]:
        order.append(name)
        name = states[name]["Next"]
    order.append(name)
    assert order == ["Check the input", "Verify every artifact", "Restore every item", "Report",
                     "Was every item restored?"]  # fmt: skip
    check = states["Check the input"]
    assert (check["Resource"], check["Parameters"]["phase"], check["Parameters"]["input.$"]) == (
        restore_function, "check", "$"
    )  # fmt: skip
    assert "Catch" not in check, "a bad input fails the execution at its first step, with every problem"
    verify, items = states["Verify every artifact"], states["Restore every item"]
    assert (verify["ItemsPath"], items["ItemsPath"]) == ("$.verify", "$.restore")
    assert verify["MaxConcurrency"] == items["MaxConcurrency"] == example.stack.plan.concurrency
    for state in (verify, items):
        [step] = state["ItemProcessor"]["States"].values()
        assert step["Resource"] == restore_function
        # Only Lambda's own service errors are retried (CDK's default): a restore is never retried blindly.
        assert all(error.startswith("Lambda.") for retry in step.get("Retry", []) for error in retry["ErrorEquals"])
        assert "Catch" not in step  # an item that fails is reported in its outcome; the Map goes on
    choice = states["Was every item restored?"]
    [when] = choice["Choices"]
    assert (when["Variable"], when["StringEquals"]) == ("$.report.status", "restored")
    failed = states[choice["Default"]]
    assert (failed["Type"], failed["Error"], failed["CausePath"]) == ("Fail", "RestoreFailed", "$.report.message")
