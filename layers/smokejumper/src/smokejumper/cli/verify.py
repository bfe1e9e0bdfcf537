"""`smokejumper verify URL`: re-read an artifact or a run and check every byte against its record."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from smokejumper.cli.console import byte_progress, err, human_size, json_option, out, print_json
from smokejumper.store import open_store


@click.command()
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
