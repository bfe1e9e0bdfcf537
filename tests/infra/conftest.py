"""One CDK app, synthesized once per test session, holding a stack per plan variant.

Synthesis costs seconds (jsii starts a Node process), so every test reads the
same templates. The app gets cdk.json's context (feature flags, pinned account
and region) exactly as `cdk synth` would, and the cdk-nag checks as app.py adds
them, so a finding breaks the fixture just as it breaks `cdk synth`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from smokejumper.plan import Plan, load_plan

from infra.nag import add_nag_checks
from infra.stack import SmokejumperStack

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLAN = REPO / "plans" / "example.yaml"
IMPORTED_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-1111-2222-3333-444455556666"


def render(value: Any) -> str:
    """A resource value with CloudFormation functions written out: tokens as <Ref> / <GetAtt X.Arn>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<Ref {value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<GetAtt {'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value, sort_keys=True)


def synth_context() -> dict[str, Any]:
    """cdk.json's context, plus no asset bundling (tests never need the layer built)."""
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:bundling-stacks": []}


def build_stack(app: cdk.App, plan: Plan, construct_id: str | None = None) -> SmokejumperStack:
    return SmokejumperStack(
        app,
        construct_id or f"Smokejumper-{plan.name}",
        plan=plan,
        env=cdk.Environment(account="111111111111", region="eu-west-1"),
    )


def plain_variant(plan: Plan) -> Plan:
    """The example plan without Object Lock or archiving, with its own bucket name and an existing key."""
    data = plan.model_dump()
    data["name"] = "cf-plain"
    data["storage"] = {
        "bucket_name": "cf-plain-backups",
        "kms_key": IMPORTED_KEY_ARN,
        "noncurrent_expire_days": 7,
        "access_logs_expire_days": 90,
    }
    return Plan.model_validate(data)


@dataclass(frozen=True)
class Built:
    """A synthesized stack and the logical ids of the resources tests look at."""

    stack: SmokejumperStack
    template: Template

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)

    @property
    def bucket_id(self) -> str:
        return self.logical_id(self.stack.storage.bucket)

    @property
    def access_logs_id(self) -> str:
        return self.logical_id(self.stack.storage.access_logs_bucket)

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.template.to_json()["Resources"][logical_id]


@dataclass(frozen=True)
class Synthesized:
    app: cdk.App
    outdir: Path
    example: Built
    plain: Built


@pytest.fixture
def fresh_app(tmp_path: Path) -> cdk.App:
    """An empty app configured like the session's, for tests that must build their own stack."""
    return cdk.App(context=synth_context(), outdir=str(tmp_path / "cdk.out"))


@pytest.fixture(scope="session")
def stack_builder() -> Any:
    return build_stack


@pytest.fixture(scope="session")
def imported_key_arn() -> str:
    return IMPORTED_KEY_ARN


@pytest.fixture(scope="session")
def example_plan() -> Plan:
    return load_plan(EXAMPLE_PLAN)


@pytest.fixture(scope="session")
def synthesized(example_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(context=synth_context(), outdir=str(outdir))
    example = build_stack(app, example_plan)
    plain = build_stack(app, plain_variant(example_plan))
    add_nag_checks(app)
    # Both stacks share one app, so the first Template.from_stack synthesizes both.
    return Synthesized(
        app=app,
        outdir=outdir,
        example=Built(example, Template.from_stack(example)),
        plain=Built(plain, Template.from_stack(plain)),
    )


@pytest.fixture(scope="session")
def example(synthesized: Synthesized) -> Built:
    return synthesized.example


@pytest.fixture(scope="session")
def plain(synthesized: Synthesized) -> Built:
    return synthesized.plain
