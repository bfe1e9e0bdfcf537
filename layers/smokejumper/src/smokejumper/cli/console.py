"""What every command shares: the two consoles, sizes and counts in words, progress, JSON, common options.

Results go to stdout (`out`: text, or JSON with --json for scripts); progress,
warnings and errors go to stderr (`err`). rich's progress bars and tables are
imported where they are shown: a backup's start-up is part of its time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

# emoji=False: ARNs hold ":secret:", which rich would otherwise print as an emoji.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

STORE_HELP = "Where the plan's backups are: s3://BUCKET/PLAN or file:///DIR (env: SMOKEJUMPER_STORE)."
store_option = click.option("--store", "store_url", envvar="SMOKEJUMPER_STORE", required=True, help=STORE_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
kms_key_option = click.option(
    "--kms-key", envvar="SMOKEJUMPER_KMS_KEY_ID", help="KMS key for S3 server-side encryption."
)


def plan_option(help_text: str) -> Any:
    """--plan FILE: the backup plan (YAML); `help_text` says what the command takes from it."""
    return click.option(
        "--plan", "plan_file", required=True, type=click.Path(dir_okay=False, path_type=Path), help=help_text
    )


secrets_option = click.option(
    "--secrets",
    "secrets_file",
    envvar="SMOKEJUMPER_SECRETS",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file from secret ARN to the secret's value, instead of Secrets Manager (env: SMOKEJUMPER_SECRETS).",
)


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def counted(number: int, noun: str) -> str:
    """`1 table`, `2 tables`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def byte_progress(description: str, total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when a person is watching; a no-op otherwise."""
    if not enabled or not err.is_terminal:
        yield lambda _done: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

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


@contextmanager
def section_progress(*, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A source's progress (what, rows, bytes): one line per table on stderr, a live counter on a terminal."""
    if not enabled:
        yield lambda _name, _rows, _size: None
        return
    if not err.is_terminal:
        yield lambda name, rows, size: err.print(f"  {name}: {counted(rows, 'row')}, {human_size(size)}", markup=False)
        return
    from rich.progress import BarColumn, Progress

    with Progress("{task.description}", BarColumn(), "{task.completed} done", console=err, transient=True) as progress:
        task = progress.add_task("sections", total=None)

        def advance(name: str, rows: int, size: int) -> None:
            progress.console.print(f"  {name}: {counted(rows, 'row')}, {human_size(size)}", markup=False)
            progress.advance(task)

        yield advance
