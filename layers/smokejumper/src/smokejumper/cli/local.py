"""`smokejumper local run`: the synthesized backup workflow, executed on emulated AWS on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from smokejumper.cli.console import out as out_console


@click.group()
def local() -> None:
    """The deployed workflow, on one machine: emulated AWS (moto), real databases and etcd."""


@local.command("run")
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A plan whose items this machine reaches; default: the example plan pointed at a local estate.",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --plan: a JSON file from secret ARN to value, put into the emulated Secrets Manager.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the store, the logs, the events and the synthesized template are left.",
)
@click.option(
    "--postgres",
    "postgres_dsn",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="Without --plan: a PostgreSQL server to seed a small ccdb on (smokejumper_demo_* databases).",
)
@click.option(
    "--mysql",
    "mysql_dsn",
    default="mysql://root@127.0.0.1:3306/mysql",
    show_default=True,
    help="Without --plan: a MySQL/MariaDB server to seed a small credhub on (smokejumper_demo_* databases).",
)
def run(plan_path: Path | None, secrets_path: Path | None, out: Path, postgres_dsn: str, mysql_dsn: str) -> None:
    """Execute the backup state machine that `cdk synth` writes, on emulated AWS.

    The plan's stack is synthesized (cdk-nag included) and its resources are
    created on moto from the template: bucket, key, policies, lease table,
    topic, functions, schedules, rule and the state machine, whose definition
    is the template's own. Each Lambda invocation calls the real handler in
    this process. Two runs start as in AWS: a "Backup Requested" event matched
    by the synthesized rule (every component), then the etcd schedule's target.

    Without --plan, it seeds a small ccdb on PostgreSQL, a credhub on MySQL and
    starts a private etcd with Kubernetes-like keys; the databases are dropped
    and etcd stopped at the end (also on Ctrl-C). OUT/store is left as a file
    store, and carried into the next run:

    \b
    Examples:
      smokejumper local run
      smokejumper runs list --store demo-output/store
      smokejumper verify demo-output/store/runs/RUN_ID
    """
    from smokejumper.offline.runner import run_local

    reports = run_local(
        out_console, out, plan_path=plan_path, secrets_path=secrets_path, postgres_dsn=postgres_dsn, mysql_dsn=mysql_dsn
    )
    if any(report.execution.status != "SUCCEEDED" for report in reports):
        raise SystemExit(1)
