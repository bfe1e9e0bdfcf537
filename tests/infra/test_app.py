"""app.py, the CDK entry point: the plan comes from context, and a bad plan stops synth cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk

import app

REPO = Path(__file__).resolve().parents[2]
BROKEN_PLAN = "tests/unit/plans/broken.yaml"
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"
LOCATED_PROBLEM = "databases[2].port: must be 1..65535, got 70000"


def quiet_env(**extra):
    return {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        **extra,
    }


def test_broken_plan_stops_the_app_with_located_problems(tmp_path):
    # The CDK CLI hands context to the app in CDK_CONTEXT_JSON; this is what `cdk synth -c plan=...` does.
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO,
        env=quiet_env(CDK_CONTEXT_JSON=json.dumps({"plan": BROKEN_PLAN}), CDK_OUTDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert LOCATED_PROBLEM in result.stderr
    assert "databases[1].engine: must be 'postgres' or 'mysql', got 'oracle'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_cdk_synth_takes_the_plan_from_the_command_line(tmp_path):
    assert CDK_CLI.exists(), "the CDK CLI is missing: `make setup` installs it (npm ci)"
    result = subprocess.run(
        [CDK_CLI, "synth", "--quiet", "-c", f"plan={BROKEN_PLAN}", "--output", str(tmp_path)],
        cwd=REPO,
        env=quiet_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert LOCATED_PROBLEM in result.stdout + result.stderr


def test_environment_prefers_the_plan_then_cdk_json(example_plan):
    pinned = cdk.App(context={"account": "222222222222", "region": "us-east-2"})
    assert app.environment(pinned, example_plan) == cdk.Environment(account="111111111111", region="eu-west-1")

    unpinned_plan = example_plan.model_copy(
        update={"deployment": example_plan.deployment.model_copy(update={"region": None})}
    )
    assert app.environment(pinned, unpinned_plan) == cdk.Environment(account="111111111111", region="us-east-2")


def test_cdk_json_pins_the_environment_and_the_default_plan():
    settings = json.loads((REPO / "cdk.json").read_text())
    assert settings["app"] == ".venv/bin/python app.py"
    assert settings["context"]["plan"] == app.DEFAULT_PLAN
    assert settings["context"]["account"].isdigit()
    assert settings["context"]["region"]
    assert settings["context"]["cli-telemetry"] is False
    assert settings["notices"] is False
