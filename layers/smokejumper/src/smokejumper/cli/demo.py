"""`smokejumper demo`: the whole product on one machine, on emulated AWS."""

from __future__ import annotations

from pathlib import Path

import click

from smokejumper.cli.console import out


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the demo leaves a local copy of its backups to explore with the other commands.",
)
@click.option(
    "--postgres",
    "postgres_dsn",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A PostgreSQL server the demo may create two databases on (smokejumper_demo_*).",
)
@click.option(
    "--mysql",
    "mysql_dsn",
    default="mysql://root@127.0.0.1:3306/mysql",
    show_default=True,
    help="A MySQL/MariaDB server the demo may create two databases on (smokejumper_demo_*).",
)
@click.option("--keep-databases", is_flag=True, help="Leave the demo's databases for a look around.")
def demo(workdir: Path, postgres_dsn: str, mysql_dsn: str, keep_databases: bool) -> None:
    """Run the whole product on one machine: emulated AWS (moto), no account needed.

    Uses the example plan embedded in the package; real PostgreSQL and MySQL
    servers for a backup and restore each (it creates databases
    smokejumper_demo_ccdb and smokejumper_demo_restored on both, and drops them
    at the end unless --keep-databases); and a private etcd it starts on a free
    loopback port (snapshot, offline inspection, a restore kit run for real;
    the kit is left in WORKDIR/etcd-restore-kit). Safe to run again.

    \b
    Example:
      smokejumper demo && smokejumper runs list --store demo-output/store
    """
    from smokejumper.demo import run_demo

    run_demo(workdir, out, postgres_dsn, mysql_dsn, keep_databases=keep_databases)
