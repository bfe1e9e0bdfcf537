"""`smokejumper local run`: the estate, the runs, the progress and the summary.

With no plan, the estate is made here: the example plan's ccdb on the given
PostgreSQL server, its credhub on the MySQL server (both seeded with small
Cloud Foundry-like data) and a private etcd seeded with Kubernetes-like
`/registry/...` keys; the example plan is pointed at them (hosts and TLS only;
names, schedules, retention and secret ARNs are the example's). Then two runs
start as they do in AWS: a "Backup Requested" event through the synthesized
rule (every component), and the etcd schedule's own target input. Then the
restore state machine restores the first run's databases into empty ones (an
input like the README's first), and the restore-test state machine tests it.

OUT/store holds the emulated bucket's runs as a file store: it is uploaded
into the emulated bucket before the runs (so retention sees earlier runs and a
second `local run` carries on where the first stopped) and written back after.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smokejumper import demo_engines as engines
from smokejumper.catalog import RunManifest, read_manifest
from smokejumper.cli.console import human_size
from smokejumper.demo import copy_tree, runnable_command
from smokejumper.offline.lambdas import Invocation
from smokejumper.offline.workflow import Execution, OfflineWorkflow
from smokejumper.plan import Plan, load_plan
from smokejumper.store import Store, open_store

# The demo's restore and restore test take seconds; the machines' own limit (12 h) is no wait for a demo.
RESTORE_WAIT = 600.0

# --- the estate ----------------------------------------------------------------------------------


@dataclass
class Estate:
    plan: Plan
    secrets: dict[str, Any]
    where: list[tuple[str, str]] = field(default_factory=list)  # (item, where it is), for the console


# --- the store on disk ---------------------------------------------------------------------------


def write_back(emulated: Store, local_root: Path) -> None:
    """The emulated bucket's current objects as a file store at `local_root` (replacing what was there)."""
    staging = local_root.with_name(local_root.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    copy_tree(emulated, open_store(str(staging)))
    if local_root.exists():
        shutil.rmtree(local_root)
    staging.rename(local_root)


# --- progress --------------------------------------------------------------------------------------


class Progress:
    """A line per step as the handlers finish (they run in the Map's threads)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()

    def __call__(self, invocation: Invocation) -> None:
        if invocation.function.endswith("-restore"):
            text = self._restore_step(invocation)
            with self._lock:
                self.console.print(text, highlight=False)
            return
        step = invocation.function.rsplit("-", 2)[-2:]
        kind = "-".join(step)
        item = invocation.event.get("item", {})
        path = f"{item.get('component')}/{item.get('name')}" if item else ""
        if invocation.error_type:
            text = (
                f"   [red]x[/] {kind:<11} {escape(path):<26} {invocation.error_type}: {escape(invocation.error or '')}"
            )
        elif kind == "start-run":
            result = invocation.result
            items = [f"{i['component']}/{i['name']}" for i in result["ticket"]["items"]]
            text = f"   [cyan]>[/] start-run   run {result['run_id']}: {', '.join(items)}"
            for skipped in result.get("skipped", []):
                text += f"\n     [yellow]left out[/] {escape(skipped['reason'])}"
        elif kind == "backup-item":
            ref = invocation.result["ref"]
            text = (
                f"   [green]+[/] backup-item {escape(path):<26} {human_size(ref['size']):>10}  "
                f"{invocation.seconds:5.2f} s"
            )
        else:
            result = invocation.result
            retention = result.get("retention", {})
            text = (
                f"   [cyan]=[/] commit-run  run {result['run_id']} {result['status']}, "
                f"retention deleted {retention.get('deleted', 0)} run(s)"
            )
        with self._lock:
            self.console.print(text, highlight=False)

    @staticmethod
    def _restore_step(invocation: Invocation) -> str:
        """A line for a step of the restore or the restore test (one function does them all, by phase)."""
        phase = invocation.event.get("phase", "")
        item = escape(str(invocation.event.get("item") or ""))
        if invocation.error_type:
            return f"   [red]x[/] {phase:<12} {item:<26} {invocation.error_type}: {escape(invocation.error or '')}"
        result = invocation.result
        if phase == "check":
            return f"   [cyan]>[/] restore      run {result['run_id']}: {len(result['restore'])} item(s)"
        if phase == "verify":
            return f"   [green]+[/] verified     {item:<26} {human_size(result['verified_bytes']):>10}"
        if phase == "restore":
            mark = "[green]+[/]" if result["status"] == "restored" else "[red]x[/]"
            rows = f"{result.get('rows', 0)} rows" if result.get("rows") else ""
            return f"   {mark} restored     {item:<26} {rows:>10}  {result['seconds']:5.2f} s"
        if phase == "test-start":
            return f"   [cyan]>[/] restore-test run {result['run_id']}: {len(result['items'])} item(s)"
        if phase == "test":
            mark = {"passed": "[green]+[/]", "skipped": "[yellow]-[/]"}.get(result["status"], "[red]x[/]")
            timing = f"restored in {result['restore_seconds']:.2f} s" if result.get("restore_seconds") else ""
            return f"   {mark} tested       {item:<26} {result['status']:<8} {timing}"
        return f"   [cyan]=[/] {phase:<12} {escape(str(result.get('status', '')))}"


# --- the runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    how: str
    execution: Execution
    manifest: RunManifest | None


def summary_table(reports: list[RunReport]) -> Table:
    table = Table(title="Runs", title_justify="left")
    for column in ("run", "item", "status", "size", "s", "artifact.json sha256"):
        table.add_column(column, no_wrap=column in ("run", "item"), overflow="fold")
    for report in reports:
        manifest = report.manifest
        if manifest is None:
            table.add_row(f"({report.how})", "-", escape(report.execution.error or report.execution.status), "", "", "")
            continue
        for ref in manifest.artifacts:
            table.add_row(
                manifest.run_id,
                ref.path,
                "ok" if ref.status == "succeeded" else f"[red]{ref.status}: {ref.error_type}[/]",
                human_size(ref.size),
                f"{ref.seconds:.2f}" if ref.seconds is not None else "",
                (ref.record_sha256 or "")[:12],
            )
    return table


def run_local(
    console: Console,
    out: Path,
    *,
    plan_path: Path | None,
    secrets_path: Path | None,
    postgres_dsn: str,
    mysql_dsn: str,
) -> list[RunReport]:
    """Everything `smokejumper local run` does; the reports of its runs."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smokejumper-local-")))
        demo: engines.DemoEstate | None = None
        restored = tested = None
        if plan_path is None:
            console.print("[bold]1. The estate[/]: the example plan's items, on this machine")
            demo = stack.enter_context(engines.demo_estate(postgres_dsn, mysql_dsn, scratch))
            estate = Estate(demo.plan, demo.secrets, demo.where())
        else:
            plan = load_plan(plan_path)
            secrets = json.loads(secrets_path.read_text(encoding="utf-8")) if secrets_path else {}
            estate = Estate(plan, secrets)
            console.print(f"[bold]1. The estate[/]: plan {plan.name} ({escape(str(plan_path))})")
        for item, where in estate.where:
            console.print(f"   {item}: {where}", markup=False)

        console.print("[bold]2. The stack[/]: synthesized (cdk-nag included) and created on emulated AWS")
        workflow = stack.enter_context(
            OfflineWorkflow(estate.plan, estate.secrets, out, on_invocation=Progress(console))
        )
        for part in workflow.stack.left_out:  # what moto cannot honour of the template (offline/stack.py says why)
            console.print(f"   left out offline: {part}", markup=False)
        created = len(workflow.stack.created)
        console.print(
            f"   {created} resources from {workflow.stack_name}.template.json "
            f"({len(workflow.stack.skipped)} left out offline: layer, VPC parts, dashboards); "
            f"state machine {workflow.state_machine_arn.rsplit(':', 1)[-1]}",
            markup=False,
        )
        replica = workflow.replica_stack
        if replica is not None:
            replica_region = replica.resolver.region
            for part in replica.left_out:
                console.print(f"   left out offline: {part}", markup=False)
            console.print(
                f"   and first, the replica's stack in {replica_region}: {len(replica.created)} resources; the "
                f"primary bucket replicates {workflow.plan.name}/ to it (moto stores the rule, never replicates)",
                markup=False,
            )
        local_root = out / "store"
        if local_root.exists():
            earlier = open_store(str(local_root))
            copy_tree(earlier, workflow.store())
            console.print(f"   the runs of earlier local runs uploaded from {local_root}", markup=False)

        reports: list[RunReport] = []
        console.print('[bold]3. A "Backup Requested" event[/], matched by the synthesized rule: every component')
        for arn in workflow.send_event({"plan": workflow.plan.name, "reason": "smokejumper local run"}):
            reports.append(_follow(workflow, "event", arn))
        etcd_schedules = [name for name in workflow.schedules() if name.endswith("-etcd")]
        if etcd_schedules:
            console.print(f"[bold]4. The schedule {etcd_schedules[0]}[/] fires its target: etcd only")
            reports.append(_follow(workflow, "schedule", workflow.fire_schedule(etcd_schedules[0])))

        if demo is not None:
            console.print(
                "[bold]5. A restore from the console[/]: the restore state machine, with an input like the "
                "README's first (each database into a new, empty database on its own server)"
            )
            restored = _follow_restore(workflow, workflow.restore(demo.restore_input()))
        first = reports[0].manifest if reports else None
        if workflow.plan.restore_tests is not None and first is not None:
            console.print(
                f"[bold]6. A restore test[/] of run {first.run_id} by the restore-test state machine (its schedule "
                "tests the latest good run)"
            )
            tested = _follow_restore(workflow, workflow.restore_test({"run_id": first.run_id}))

        events = workflow.completed_events()
        notifications = workflow.notifications()
        _write_json(out / "events.json", events)
        _write_json(out / "notifications.json", notifications)
        write_back(workflow.store(), local_root)

    console.print(summary_table(reports))
    for what, execution in (("Restore", restored), ("Restore test", tested)):
        if execution is not None:
            colour = "green" if execution.status == "SUCCEEDED" else "red"
            said = execution.output or {}
            text = (said.get("report") or said.get("verdict") or {}).get("message") or execution.cause or ""
            console.print(f"[bold]{what}[/]: [{colour}]{execution.status}[/] {escape(text)}")
    for message in notifications:
        console.print(f"[red]SNS[/] {escape(message['subject'])}\n{escape(message['message'])}")
    console.print(
        f'\n{len(events)} "Backup Run Completed" event(s) in {out / "events.json"}; '
        f"{len(notifications)} SNS message(s) in {out / 'notifications.json'}",
        markup=False,
    )
    console.print(f"Logs: {out / 'logs'}  |  template: {out / 'cdk.out'}", markup=False)
    command = runnable_command()
    newest = next((report.manifest.run_id for report in reports if report.manifest is not None), None)
    console.print("\n[bold green]Done.[/] The runs are in a file store; try:")
    console.print(f"   {command} runs list --store {local_root}", markup=False)
    if newest is not None:
        console.print(f"   {command} runs show {newest} --store {local_root}", markup=False)
        console.print(f"   {command} verify {local_root / 'runs' / newest}", markup=False)
    return reports


def _follow(workflow: OfflineWorkflow, how: str, arn: str) -> RunReport:
    try:
        execution = workflow.wait(arn)
    except KeyboardInterrupt:
        workflow.stop(arn)
        raise
    logs = workflow.out / "logs"
    _write_json(logs / f"{arn.rsplit(':', 1)[-1]}.history.json", workflow.history(arn))
    run_id = _run_id_of(execution)
    manifest = read_manifest(workflow.store(), run_id) if run_id else None
    return RunReport(how, execution, manifest)


def _follow_restore(workflow: OfflineWorkflow, arn: str) -> Execution:
    try:
        execution = workflow.wait(arn, timeout=RESTORE_WAIT)
    except KeyboardInterrupt:
        workflow.stop(arn)
        raise
    _write_json(workflow.out / "logs" / f"{arn.rsplit(':', 1)[-1]}.history.json", workflow.history(arn))
    return execution


def _run_id_of(execution: Execution) -> str | None:
    if execution.output and "summary" in execution.output:
        return str(execution.output["summary"]["run_id"])
    if execution.cause and execution.error == "BackupRunFailed":
        first = execution.cause.split()
        return first[2] if len(first) > 2 else None  # "Backup run RUN_ID of plan ..."
    return None


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")
