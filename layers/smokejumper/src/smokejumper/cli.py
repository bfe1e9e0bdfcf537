"""The `smokejumper` command line.

Results go to stdout (as text, or JSON with --json for scripts); progress,
warnings and errors go to stderr. Exit codes: 0 ok, 1 operation failed,
2 bad input (plan, URL, flags), 3 integrity problem (verify found damage),
70 internal error (a bug: please report it).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from smokejumper import __version__
from smokejumper.catalog import list_runs, read_manifest, run_dir, uncommitted_run_ids
from smokejumper.errors import SmokejumperError
from smokejumper.store import Store, open_store

INTERNAL_ERROR = 70

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def byte_progress(description: str, total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when a person is watching; a no-op otherwise."""
    if not enabled or not err.is_terminal:
        yield lambda _done: None
        return
    columns = (
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.advance(task, done)


STORE_HELP = "Where the plan's backups are: s3://BUCKET/PLAN or file:///DIR (env: SMOKEJUMPER_STORE)."
store_option = click.option("--store", "store_url", envvar="SMOKEJUMPER_STORE", required=True, help=STORE_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="smokejumper")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Backups of etcd, Cloud Foundry databases and Kubernetes volumes, from which a
    platform reduced to a smoking hole can be rebuilt.

    \b
    Examples:
      smokejumper plan check plans/example.yaml
      smokejumper runs list --store s3://my-backups/example
      smokejumper runs show latest --store s3://my-backups/example
      smokejumper verify s3://my-backups/example/runs/20261125T020000Z-3f9a
      smokejumper demo                      # everything on emulated AWS, no account needed
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --- plan -------------------------------------------------------------------


@cli.group()
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


# --- runs -------------------------------------------------------------------


@cli.group()
def runs() -> None:
    """List and inspect backup runs in a store."""


@runs.command("list")
@store_option
@json_option
def runs_list(store_url: str, as_json: bool) -> None:
    """List committed runs, newest first, with status and size.

    A run exists only once its manifest is written; directories of runs that
    died before committing are counted separately.

    \b
    Examples:
      smokejumper runs list --store s3://my-backups/example
      smokejumper runs list --store file:///var/backups/example --json
    """
    store = open_store(store_url)
    found = list_runs(store)
    uncommitted = uncommitted_run_ids(store)
    if as_json:
        print_json(
            {
                "store": store.url,
                "runs": [
                    {
                        "run_id": run.run_id,
                        "status": run.status,
                        "trigger": run.trigger,
                        "started_at": run.started_at,
                        "finished_at": run.finished_at,
                        "artifacts": len(run.artifacts),
                        "failed_artifacts": sum(ref.status != "succeeded" for ref in run.artifacts),
                        "size": run.size,
                    }
                    for run in found
                ],
                "uncommitted": uncommitted,
            }
        )
        return
    if not found:
        out.print(f"no runs in {store.url}", markup=False)
    else:
        table = Table(title=escape(f"runs in {store.url}"), title_justify="left")
        for column in ("run", "status", "trigger", "started (UTC)", "took", "artifacts", "size"):
            table.add_column(column, justify="right" if column in ("artifacts", "size", "took") else "left")
        for run in found:
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
            )
        out.print(table)
    if uncommitted:
        err.print(f"{len(uncommitted)} uncommitted run director{'y' if len(uncommitted) == 1 else 'ies'} (no manifest)")


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
    store = open_store(store_url)
    manifest = read_manifest(store, run_id)
    location = f"{store.url.rstrip('/')}/{run_dir(manifest.run_id)}"
    if as_json:
        print_json({"url": location, **manifest.model_dump(mode="json")})
        return
    colour = "green" if manifest.status == "succeeded" else "red"
    out.print(f"run [bold]{manifest.run_id}[/] of plan {manifest.plan}: [{colour}]{manifest.status}[/]")
    out.print(f"  started  {manifest.started_at.isoformat()}  ({manifest.trigger})")
    out.print(f"  finished {manifest.finished_at.isoformat()}")
    out.print(f"  location {location}", markup=False)
    table = Table()
    for column in ("artifact", "engine", "status", "size"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for ref in manifest.artifacts:
        status = "[green]succeeded[/]" if ref.status == "succeeded" else f"[red]failed[/]: {escape(ref.error or '')}"
        table.add_row(ref.path, ref.engine, status, human_size(ref.size))
    out.print(table)


# --- verify -----------------------------------------------------------------


@cli.command()
@click.argument("url")
@json_option
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on a terminal.")
def verify(url: str, as_json: bool, progress: bool) -> None:
    """Re-read an artifact or a whole run and check every byte against its record.

    URL is an artifact directory (holding artifact.json) or a run directory
    (holding manifest.json). Every sha256, the frame index and each zstd
    frame are checked; every problem found is listed. Exit code 3 if any.

    \b
    Examples:
      smokejumper verify s3://my-backups/example/runs/20261125T020000Z-3f9a
      smokejumper verify file:///restore/ccdb --json
    """
    from smokejumper.verify import total_bytes, verify_location

    store = open_store(url)
    with byte_progress("verifying", total_bytes(store), enabled=progress and not as_json) as advance:
        report = verify_location(store, advance)
    if as_json:
        print_json(
            {
                "url": report.url,
                "kind": report.kind,
                "ok": report.ok,
                "artifacts": report.artifacts,
                "bytes_checked": report.bytes_checked,
                "problems": report.problems,
            }
        )
    elif report.ok:
        what = "artifact" if report.kind == "artifact" else f"run ({len(report.artifacts)} artifacts)"
        out.print(f"[green]✓[/] {escape(report.url)}: {what} verified, {human_size(report.bytes_checked)} checked")
    else:
        err.print(f"[red]✗[/] {escape(report.url)}: {len(report.problems)} problem(s)")
        for problem in report.problems:
            err.print(f"  - {problem}", markup=False)
    if not report.ok:
        sys.exit(3)


# --- demo -------------------------------------------------------------------


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the demo leaves a local copy of its backups to explore with the other commands.",
)
def demo(workdir: Path) -> None:
    """Run the whole product on one machine: emulated AWS (moto), no account needed.

    Uses the example plan embedded in the package. Safe to run again: each run
    adds new backup runs.

    \b
    Example:
      smokejumper demo && smokejumper runs list --store demo-output/store
    """
    from smokejumper.demo import run_demo

    run_demo(workdir, out)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SmokejumperError as exc:
        err.print(f"[red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err.print(f"  hint: {exc.hint}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception:
        if debug:
            traceback.print_exc()
        else:
            err.print(
                f"internal error: {sys.exc_info()[1]!r}\n"
                "  this is a bug in smokejumper; run again with --debug for the traceback and report it",
                markup=False,
            )
        sys.exit(INTERNAL_ERROR)


__all__ = ["Store", "cli", "main"]
