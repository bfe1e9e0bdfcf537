"""`smokejumper plan ...`: check a backup plan, print its schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from smokejumper.cli.console import json_option, out, print_json


@click.group()
def plan() -> None:
    """Check backup plans (the YAML a stack is deployed from)."""


@plan.command("check")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def plan_check(plan_file: Path, as_json: bool) -> None:
    """Validate PLAN_FILE and summarize it; list every problem if it is broken.

    \b
    Examples:
      smokejumper plan check plans/example.yaml
      smokejumper plan check my-plan.yaml --json
    """
    from smokejumper.plan import PlanError, load_plan

    try:
        loaded = load_plan(plan_file)
    except PlanError as exc:
        if as_json:
            print_json({"ok": False, "plan": str(plan_file), "problems": [vars(p) for p in exc.problems]})
            sys.exit(exc.exit_code)
        raise
    summary = plan_summary(loaded)
    if as_json:
        print_json({"ok": True, "plan": str(plan_file), **summary})
        return
    out.print(f"[green]✓[/] {escape(str(plan_file))}: plan [bold]{loaded.name}[/] is valid")
    for label, value in summary["counts"].items():
        out.print(f"  {label:<18} {value}")


def plan_summary(loaded: Any) -> dict[str, Any]:
    return {
        "name": loaded.name,
        "counts": {
            "databases": len(loaded.databases),
            "etcd clusters": len(loaded.etcd),
            "volume selectors": len(loaded.volumes),
        },
    }


@plan.command("schema")
def plan_schema() -> None:
    """Print the plan's JSON Schema (for editors and CI linting of plan files)."""
    from smokejumper.plan import Plan

    print_json(Plan.model_json_schema())
