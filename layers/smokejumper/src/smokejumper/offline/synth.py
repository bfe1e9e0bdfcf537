"""The plan's stacks synthesized in-process, as `cdk synth` would: app.py's environment, cdk.json's context, cdk-nag.

The primary stack, and the replica's stack when the plan has `storage.replica` (composed as app.py composes it).

In-process rather than through the CDK CLI because the CLI would also build
the Lambda layer (an 81 MiB bundle nothing offline runs: the handlers run
in-process from the installed library); asset bundling is the one thing
switched off, with the context key the CLI's own `--exclusively` uses.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from smokejumper.errors import SmokejumperError
from smokejumper.plan import Plan
from smokejumper.templates import Template


def repository_root() -> Path:
    """The smokejumper checkout (where app.py, cdk.json and infra/ are): from here, or from the package's place."""
    candidates = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "cdk.json").is_file() and (candidate / "infra" / "stack.py").is_file():
            return candidate
    raise SmokejumperError(
        "`local run` synthesizes the stack with the project's CDK app, and no smokejumper checkout was found",
        hint="run it from the repository (git clone ...; make demo), where app.py, cdk.json and infra/ are",
    )


@dataclass(frozen=True)
class SynthesizedStack:
    name: str
    template: Template
    region: str


def synthesize(plan: Plan, outdir: Path) -> tuple[SynthesizedStack, SynthesizedStack | None]:
    """The plan's stack and its replica's stack (None without one); the cloud assembly is written to `outdir`."""
    root = repository_root()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import aws_cdk as cdk

    from app import environment  # type: ignore[import-not-found]  # the repository's CDK entry point
    from infra.nag import add_nag_checks  # type: ignore[import-not-found]
    from infra.replica import add_replica_stack  # type: ignore[import-not-found]
    from infra.stack import SmokejumperStack, stack_name  # type: ignore[import-not-found]

    context = json.loads((root / "cdk.json").read_text(encoding="utf-8"))["context"]
    context["aws:cdk:bundling-stacks"] = []  # no layer build: see the module's docstring
    app = cdk.App(context=context, outdir=str(outdir))
    stack = SmokejumperStack(app, stack_name(plan), plan=plan, env=environment(app, plan))
    replica = add_replica_stack(app, plan, stack)
    add_nag_checks(app)
    try:
        assembly = app.synth()
    except RuntimeError as exc:  # jsii reports a failed validation (cdk-nag) this way
        raise SmokejumperError(f"synthesis of {stack.stack_name} failed: {str(exc)[:2000]}") from None

    def synthesized(built: cdk.Stack) -> SynthesizedStack:
        artifact = assembly.get_stack_by_name(built.stack_name)
        return SynthesizedStack(built.stack_name, Template(artifact.template), built.region)

    return synthesized(stack), synthesized(replica) if replica is not None else None
