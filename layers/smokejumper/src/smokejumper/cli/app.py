"""The root command and the entry point: every group registered, every error shown one way."""

from __future__ import annotations

import sys
import traceback

import click
from rich.markup import escape

from smokejumper import __version__
from smokejumper.cli import backup, demo, etcd, local, plans, restore, runs, verify, volumes
from smokejumper.cli.console import err
from smokejumper.errors import SmokejumperError

INTERNAL_ERROR = 70


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
      smokejumper backup run --plan my-plan.yaml --store s3://my-backups/cf-prod
      smokejumper runs list --store s3://my-backups/cf-prod
      smokejumper runs show latest --store s3://my-backups/cf-prod
      smokejumper verify s3://my-backups/cf-prod/runs/20261125T020000Z-3f9a
      smokejumper local run                 # the deployed workflow on emulated AWS, no account needed
      smokejumper demo                      # a tour: twelve nights, retention, restores
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for command in (
    plans.plan,
    runs.runs,
    verify.verify,
    backup.backup,
    restore.restore,
    etcd.etcd,
    volumes.volumes,
    local.local,
    demo.demo,
):
    cli.add_command(command)


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
