#!/usr/bin/env python3
"""CDK entry point: load the backup plan and build its stack.

    cdk synth                              # plans/example.yaml (cdk.json context "plan")
    cdk deploy -c plan=plans/prod.yaml     # another plan

A plan with mistakes stops here with every problem and its line, not a traceback.
"""

from __future__ import annotations

import os
import sys

# jsii prints a Node end-of-life banner at every start: Node 20 is what these machines have and it
# works (the CDK CLI pins aws-cdk in package.json); the banner only buries real messages.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # after the variable above, which jsii reads when it starts
from smokejumper.plan import Plan, PlanError, load_plan

from infra.nag import add_nag_checks
from infra.replica import add_replica_stack
from infra.stack import SmokejumperStack, stack_name

DEFAULT_PLAN = "plans/example.yaml"


def environment(app: cdk.App, plan: Plan) -> cdk.Environment:
    """The plan's account and region, else those pinned in cdk.json's context.

    Never looked up from credentials: synthesis must work offline and give the
    same template on every machine.
    """
    return cdk.Environment(
        account=plan.deployment.account or app.node.try_get_context("account"),
        region=plan.deployment.region or app.node.try_get_context("region"),
    )


def main() -> int:
    app = cdk.App()
    plan_path = app.node.try_get_context("plan") or DEFAULT_PLAN
    try:
        plan = load_plan(plan_path)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    env = environment(app, plan)
    primary = SmokejumperStack(app, stack_name(plan), plan=plan, env=env)
    # The replica's region (and account): in the plan's account deployed first by `cdk deploy --all`; in
    # another, deployed there first (README: "A replica in another account").
    add_replica_stack(app, plan, primary)
    add_nag_checks(app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
