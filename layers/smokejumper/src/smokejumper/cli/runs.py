"""`smokejumper runs ...`: list and inspect a store's runs, and carry out retention."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from smokejumper.cli.console import err, human_size, json_option, out, plan_option, print_json, store_option
from smokejumper.store import open_store

if TYPE_CHECKING:
    from smokejumper.runs import PruneReport, RunDeletion


@click.group()
def runs() -> None:
    """List and inspect backup runs in a store; prune them by the plan's retention."""


@runs.command("list")
@store_option
@json_option
def runs_list(store_url: str, as_json: bool) -> None:
    """List committed runs, newest first, with status and size.

    A run exists only once its manifest is written; directories of runs that
    died before committing are counted separately, and so are directories
    whose manifest does not belong there (another plan's, or moved).

    \b
    Examples:
      smokejumper runs list --store s3://my-backups/example
      smokejumper runs list --store file:///var/backups/example --json
    """
    from smokejumper.catalog import scan_runs
    from smokejumper.restore_tests import read_verdict

    store = open_store(store_url)
    scan = scan_runs(store)
    verdicts = {run.run_id: read_verdict(store, run.run_id) for run in scan.runs}
    if as_json:
        print_json(
            {
                "store": store.url,
                "runs": [
                    {
                        "run_id": run.run_id,
                        "plan": run.plan,
                        "status": run.status,
                        "trigger": run.trigger,
                        "started_at": run.started_at,
                        "finished_at": run.finished_at,
                        "artifacts": len(run.artifacts),
                        "failed_artifacts": sum(ref.status != "succeeded" for ref in run.artifacts),
                        "size": run.size,
                        "restore_test": _tested(verdicts[run.run_id]),
                    }
                    for run in scan.runs
                ],
                "uncommitted": scan.uncommitted,
                "refused": [{"directory": refused.directory, "reason": refused.reason} for refused in scan.refused],
            }
        )
        return
    if not scan.runs:
        out.print(f"no runs in {store.url}", markup=False)
    else:
        from rich.table import Table

        table = Table(title=escape(f"runs in {store.url}"), title_justify="left")
        for column in ("run", "status", "trigger", "started (UTC)", "took", "artifacts", "size", "restore test"):
            # A run id is what people copy: never cut or wrapped, whatever the terminal's width.
            table.add_column(
                column,
                justify="right" if column in ("artifacts", "size", "took") else "left",
                no_wrap=column in ("run", "started (UTC)"),
                min_width=len(scan.runs[0].run_id) if column == "run" else None,
            )
        for run in scan.runs:
            failed = sum(ref.status != "succeeded" for ref in run.artifacts)
            status = "[green]succeeded[/]" if run.status == "succeeded" else f"[red]failed[/] ({failed} failed)"
            took = run.finished_at - run.started_at
            table.add_row(
                run.run_id,
                status,
                run.trigger,
                f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                f"{took.total_seconds():.0f}s",
                str(len(run.artifacts)),
                human_size(run.size),
                _tested_text(verdicts[run.run_id]),
            )
        out.print(table)
    if scan.uncommitted:
        count = len(scan.uncommitted)
        err.print(f"{count} uncommitted run director{'y' if count == 1 else 'ies'} (no manifest)")
    for refused in scan.refused:
        err.print(f"[yellow]not a run here:[/] {escape(refused.directory)}: {escape(refused.reason)}")


@runs.command("show")
@click.argument("run_id")
@store_option
@json_option
def runs_show(run_id: str, store_url: str, as_json: bool) -> None:
    """Show one run: its artifacts, their status, sizes and where they are.

    RUN_ID is a run id (20261125T020000Z-3f9a) or 'latest' (the newest
    successful run).

    \b
    Examples:
      smokejumper runs show latest --store s3://my-backups/example
      smokejumper runs show 20261125T020000Z-3f9a --store s3://my-backups/example --json
    """
    from smokejumper.catalog import read_manifest, run_dir
    from smokejumper.restore_tests import read_verdict

    store = open_store(store_url)
    manifest = read_manifest(store, run_id)
    location = f"{store.url.rstrip('/')}/{run_dir(manifest.run_id)}"
    verdict = read_verdict(store, manifest.run_id)
    if as_json:
        print_json({"url": location, **manifest.model_dump(mode="json"), "restore_test": verdict})
        return
    colour = "green" if manifest.status == "succeeded" else "red"
    out.print(f"run [bold]{manifest.run_id}[/] of plan {manifest.plan}: [{colour}]{manifest.status}[/]")
    out.print(f"  started  {manifest.started_at.isoformat()}  ({manifest.trigger})")
    out.print(f"  finished {manifest.finished_at.isoformat()}")
    out.print(f"  location {location}", markup=False)
    from rich.table import Table

    out.print(f"  restore test {_tested_text(verdict)}")
    tested = {item["path"]: item for item in (verdict or {}).get("items", [])}
    table = Table()
    for column in ("artifact", "engine", "status", "size", "restore test", "restore time"):
        table.add_column(column, justify="right" if column in ("size", "restore time") else "left")
    for ref in manifest.artifacts:
        if ref.status == "succeeded":
            status = "[green]succeeded[/]"
        else:
            status = f"[red]failed[/] ({escape(ref.error_type or 'error')}): {escape(ref.error or '')}"
        item = tested.get(ref.path, {})
        result = item.get("status", "-")
        if result == "failed":
            result = f"[red]failed[/]: {escape('; '.join(item.get('problems', [])))}"
        elif result == "passed":
            result = "[green]passed[/]"
        seconds = item.get("restore_seconds")
        table.add_row(
            ref.path, ref.engine, status, human_size(ref.size), result, "-" if seconds is None else f"{seconds:.1f}s"
        )
    out.print(table)


def _tested(verdict: dict | None) -> dict | None:
    if verdict is None:
        return None
    return {"status": verdict.get("status"), "tested_at": verdict.get("tested_at")}


def _tested_text(verdict: dict | None) -> str:
    """The run's restore-test verdict in a few words ("not tested" when there is none)."""
    if verdict is None:
        return "not tested"
    colour = "green" if verdict.get("status") == "passed" else "red"
    return f"[{colour}]{verdict.get('status')}[/] {str(verdict.get('tested_at', ''))[:16]}"


@runs.command("prune")
@plan_option("The backup plan (YAML): its name and retention policy.")
@store_option
@click.option("--dry-run", is_flag=True, help="Say what would be deleted and why; delete nothing.")
@json_option
def runs_prune(plan_file: Path, store_url: str, dry_run: bool, as_json: bool) -> None:
    """Delete the runs the plan's retention does not keep, each with its reason.

    Grandfather-father-son: the newest good run of each of the last N days,
    weeks and months, and never fewer than min_keep good runs. Only runs of
    this plan whose manifest lies in its own directory are considered; a run
    directory with no manifest is deleted only after the plan's
    uncommitted_grace_hours (a backup may still be writing it). A run held by
    S3 Object Lock is kept and reported. On a versioned bucket a deletion
    leaves the old versions for the bucket's lifecycle to expire.

    \b
    Examples:
      smokejumper runs prune --plan my-plan.yaml --store s3://my-backups/cf-prod --dry-run
      smokejumper runs prune --plan my-plan.yaml --store file:///var/backups/cf-prod
    """
    from smokejumper.plan import load_plan
    from smokejumper.runs import prune
    from smokejumper.sources.volumes.retention import plan_snapshots

    plan = load_plan(plan_file)
    report = prune(plan, open_store(store_url), dry_run=dry_run, snapshots=plan_snapshots(plan))
    print_prune_report(report, as_json=as_json)


def prune_json(report: PruneReport) -> dict[str, object]:
    return {
        "plan": report.plan,
        "dry_run": report.dry_run,
        "now": report.now.isoformat(),
        "kept": [{"run_id": run_id, "reasons": list(reasons)} for run_id, reasons in report.kept],
        "deletions": [
            {
                "run_id": deletion.run_id,
                "committed": deletion.committed,
                "outcome": deletion.outcome,
                "detail": deletion.detail,
                "snapshots": deletion.snapshots,
                "reasons": list(deletion.reasons),
            }
            for deletion in report.deletions
        ],
        "refused": [{"directory": directory, "reason": reason} for directory, reason in report.refused],
        "waiting": report.waiting,
    }


def print_deletion(deletion: RunDeletion) -> None:
    colour = {"deleted": "green", "would delete": "cyan", "locked": "yellow", "failed": "red"}[deletion.outcome]
    what = deletion.run_id if deletion.committed else f"{deletion.run_id} (uncommitted)"
    detail = f" ({escape(deletion.detail)})" if deletion.detail else ""
    if deletion.snapshots:
        detail += f" + {deletion.snapshots} EBS snapshot(s)"
    err.print(f"  [{colour}]{deletion.outcome}[/] {escape(what)}{detail}: {escape('; '.join(deletion.reasons))}")


def print_prune_report(report: PruneReport, *, as_json: bool) -> None:
    if as_json:
        print_json(prune_json(report))
        return
    for deletion in report.deletions:
        print_deletion(deletion)
    for directory, reason in report.refused:
        err.print(f"  [yellow]left alone[/] {escape(directory)}: {escape(reason)}")
    verb = "would delete" if report.dry_run else "deleted"
    done = report.count("would delete" if report.dry_run else "deleted")
    summary = f"retention: kept {len(report.kept)}, {verb} {done}"
    if report.count("locked"):
        summary += f", {report.count('locked')} held by Object Lock"
    if report.count("failed"):
        summary += f", [red]{report.count('failed')} failed[/]"
    if report.waiting:
        summary += f", {len(report.waiting)} uncommitted within their grace period"
    out.print(summary)
