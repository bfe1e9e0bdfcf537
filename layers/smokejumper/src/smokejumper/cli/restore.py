"""`smokejumper restore ...`: a database from an artifact directory, every byte checked first.

One flow for every engine: parse the target, open the artifact's store, hand
both to the engine's source (`sources.base`), print the summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from smokejumper.cli.backup import MYSQL_DSN_HELP, PG_DSN_HELP, database_target
from smokejumper.cli.console import (
    counted,
    err,
    human_size,
    json_option,
    out,
    plan_option,
    print_json,
    secrets_option,
    section_progress,
    store_option,
)
from smokejumper.store import open_store

if TYPE_CHECKING:
    from smokejumper.plan import Plan
    from smokejumper.restores import Stores

FROM_HELP = "Artifact directory: file:///DIR or s3://BUCKET/PREFIX."
CLEAN_HELP = "Drop what the target has first (with --table: empty those tables)."
RUN_STORE_HELP = (
    "The plan's store: s3://BUCKET/PLAN or file:///DIR (env: SMOKEJUMPER_STORE). The run is read from it unless "
    'the input says "store": "replica"; what the restore writes for you (etcd kit, PV/PVC YAML, restore.json) '
    "goes to it either way."
)
REPLICA_STORE_HELP = (
    "The plan's replica, s3://REPLICA_BUCKET/PLAN (or file:///DIR): read, in the replica's region, only for an "
    'input with "store": "replica", which needs it; never written.'
)


@click.group()
def restore() -> None:
    """Restore a run's items as the console does (`run`), or one database from an artifact directory."""


def restore_from(engine: str, from_url: str, request: Any, *, as_json: bool) -> None:
    """The one restore flow of every database engine's command."""
    from smokejumper.sources.base import source_for

    store = open_store(from_url)
    with section_progress(enabled=not as_json) as on_progress:
        summary = source_for(engine).restore(store, "", request, on_progress=on_progress)
    print_restore_summary(summary, as_json=as_json)


def print_restore_summary(summary: Any, *, as_json: bool) -> None:
    """A database restore's result (sources.results.RestoreSummary), the same for every engine."""
    if as_json:
        print_json(
            {
                "database": summary.database,
                "rows": summary.rows,
                "bytes": summary.bytes,
                "seconds": round(summary.seconds, 3),
                "tables": [vars(table) for table in summary.tables],
                "warnings": summary.warnings,
            }
        )
        return
    for warning in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    out.print(
        f"[green]✓[/] restored {counted(len(summary.tables), 'table')}, {counted(summary.rows, 'row')},"
        f" {human_size(summary.bytes)} "
        f"into {escape(summary.database)} in {summary.seconds:.1f}s "
        f"(verified {human_size(summary.verified_bytes)} first)"
    )


@restore.command("postgres")
@click.option("--from", "from_url", required=True, help=FROM_HELP)
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=PG_DSN_HELP)
@click.option(
    "--table", "tables", multiple=True, help="Restore only this table (SCHEMA.TABLE; created if absent); repeatable."
)
@click.option("--clean", is_flag=True, help=CLEAN_HELP)
@click.option("--no-owner", is_flag=True, help="Do not set owners (objects belong to the restoring user).")
@click.option("--no-privileges", is_flag=True, help="Do not restore GRANTs, REVOKEs and default privileges.")
@json_option
def restore_postgres(
    from_url: str,
    dsn: str,
    tables: tuple[str, ...],
    clean: bool,
    no_owner: bool,
    no_privileges: bool,
    as_json: bool,
) -> None:
    """Restore a PostgreSQL dump: verify every frame first, then load in one transaction.

    A damaged artifact changes nothing. The target database must have no tables
    unless --clean is given. Owners and GRANTs are restored as they were (the
    roles must exist); --no-owner and --no-privileges leave them out, as
    pg_restore's options of those names do. With --table, only those tables
    are restored (fetched with ranged reads): a table the target lacks is
    created with its keys, indexes, triggers and comments (foreign keys only
    to tables that exist; the others are listed as warnings); an existing one
    must be empty, or --clean empties it (together with the tables
    referencing it, which must then be named too).

    \b
    Examples:
      smokejumper restore postgres --from s3://my-backups/cf-prod/runs/20261125T020000Z-3f9a/databases/ccdb \\
          --dsn 'postgresql://admin@new-db:5432/ccdb?sslmode=verify-full'
      smokejumper restore postgres --from file:///tmp/ccdb --dsn postgresql://postgres@127.0.0.1/ccdb \\
          --table public.apps --clean --no-owner
    """
    from smokejumper.sources.base import DatabaseRestore

    target = database_target(dsn, "postgres", "restore")
    request = DatabaseRestore(target, tables, clean=clean, no_owner=no_owner, no_privileges=no_privileges)
    restore_from("postgres", from_url, request, as_json=as_json)


@restore.command("mysql")
@click.option("--from", "from_url", required=True, help=FROM_HELP)
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=MYSQL_DSN_HELP)
@click.option("--table", "tables", multiple=True, help="Restore only this table (created if absent); repeatable.")
@click.option("--clean", is_flag=True, help=CLEAN_HELP)
@json_option
def restore_mysql(from_url: str, dsn: str, tables: tuple[str, ...], clean: bool, as_json: bool) -> None:
    """Restore a MySQL dump: verify every frame first, then replay it.

    A damaged artifact changes nothing. The target database must have no
    tables, views, routines or events unless --clean is given. MySQL cannot
    roll back DDL: a restore that fails part-way leaves the target partly
    restored, and says so (run again with --clean). With --table, only those
    tables are restored (fetched with ranged reads); a missing one is created.

    \b
    Examples:
      smokejumper restore mysql --from s3://my-backups/cf-prod/runs/20261125T020000Z-3f9a/databases/ccdb \\
          --dsn 'mysql://admin@new-db:3306/ccdb?ssl-mode=VERIFY_IDENTITY'
      smokejumper restore mysql --from file:///tmp/ccdb --dsn mysql://root@127.0.0.1/ccdb --table apps --clean
    """
    from smokejumper.sources.base import DatabaseRestore

    target = database_target(dsn, "mysql", "restore")
    restore_from("mysql", from_url, DatabaseRestore(target, tables, clean=clean), as_json=as_json)


@restore.command("run")
@click.option(
    "--input",
    "input_file",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="The restore input (JSON, as the console's restore takes it; '-' for stdin).",
)
@plan_option("The backup plan the runs were made by (names, allowed servers, secrets).")
@click.option("--store", "store_url", envvar="SMOKEJUMPER_STORE", required=True, help=RUN_STORE_HELP)
@click.option("--replica-store", "replica_store_url", help=REPLICA_STORE_HELP)
@secrets_option
@json_option
def restore_run(
    input_file: Any,
    plan_file: Path,
    store_url: str,
    replica_store_url: str | None,
    secrets_file: Path | None,
    as_json: bool,
) -> None:
    """Restore databases, etcd clusters and PVCs of one run, as the console's restore does.

    The input is checked first, every problem listed at once (names the
    plan lacks, a run that does not exist or holds no good copy, a server
    the plan does not allow, a table not in the backup), then every
    artifact the restore reads is verified against its record; only then
    is anything touched. Databases are restored into their targets (a
    missing database is created; a non-empty one is refused unless
    "clean": true), an etcd cluster becomes a restore kit and a PVC a new
    EBS volume, both with what to do next written under the run's
    restores/ prefix. Exit code 0 if every item was restored, 1 if any
    failed, 2 for a bad input. The input's schema: smokejumper restore
    input-schema.

    The run is read from --store, or, when the input says "store":
    "replica", from the plan's replica (storage.replica) at --replica-store,
    in the replica's region, with credentials that may read it (for a
    replica in another account, that account's). The replica is never
    written: what the restore leaves for you goes to --store either way, a
    local directory (file:///DIR) when those credentials may not write the
    plan's bucket. "store": "replica" without --replica-store is refused,
    and so is --replica-store for an input that reads --store.

    \b
    Example (restore.json):
      {"run": "latest",
       "databases": [{"name": "ccdb", "target": {"host": "ccdb.abc.eu-west-1.rds.amazonaws.com",
                      "database": "ccdb_restore"}}]}
      smokejumper restore run --input restore.json --plan plans/cf-prod.yaml --store s3://my-backups/cf-prod

    \b
    From the replica (the input says "run": "20261125T020000Z-3f9a", "store": "replica", ...):
      smokejumper restore run --input restore.json --plan plans/cf-prod.yaml --store s3://my-backups/cf-prod \\
          --replica-store s3://smokejumper-cf-prod-replica-111111111111/cf-prod
    """
    import json

    from smokejumper.errors import UsageError
    from smokejumper.plan import load_plan
    from smokejumper.restores import run_restore
    from smokejumper.secrets import secrets_for

    try:
        data = json.load(input_file)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{input_file.name}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            hint="the README's examples can be pasted as they are",
        ) from None
    plan = load_plan(plan_file)

    def said(item: Any) -> None:
        if as_json:
            return
        if item.status == "restored":
            size = f", {counted(item.rows, 'row')}" if item.rows else ""
            out.print(f"[green]✓[/] {escape(item.component)}/{escape(item.name)}{size} in {item.seconds:.1f}s")
            for key, value in item.detail.items():
                out.print(f"    {key}: {value}", markup=False)
        else:
            what = f"{escape(item.component)}/{escape(item.name)}"
            err.print(f"[red]✗[/] {what}: {item.error_type}: {escape(item.error or '')}")

    stores = restore_stores(plan, data, store_url, replica_store_url)
    if stores.replica is not None and not as_json:
        out.print(f"reading the run from the replica {escape(stores.replica.url)}")
    report = run_restore(plan, stores, data, secrets=secrets_for(secrets_file), on_item=said)
    if as_json:
        print_json(report.to_json())
    else:
        out.print(f"{escape(report.message)}  (restore.json beside the run's restore output, in --store)")
    if report.status == "failed":
        raise SystemExit(1)


def restore_stores(plan: Plan, data: Any, store_url: str, replica_store_url: str | None) -> Stores:
    """--store, and --replica-store for an input that reads the replica (refused for any other: no silent choice)."""
    from urllib.parse import urlsplit

    from smokejumper.errors import UsageError
    from smokejumper.restores import Stores, replica_url

    reads_primary = not isinstance(data, dict) or data.get("store", "primary") == "primary"
    if replica_store_url and reads_primary:
        raise UsageError(
            '--replica-store is read only for an input with "store": "replica"; this input reads the run from --store',
            hint='add "store": "replica" to the input to restore from the replica, or leave --replica-store out',
        )
    primary = open_store(store_url)
    replica = plan.storage.replica
    if not replica_store_url or replica is None:  # without storage.replica, Stores refuses "replica" itself
        where = replica_url(plan, plan.deployment.account) if replica is not None else ""
        return Stores(
            primary,
            no_replica=f"the replica is read at the URL --replica-store gives: add --replica-store {where} (what the "
            "restore writes still goes to --store)",
        )
    client = None
    if urlsplit(replica_store_url).scheme.lower() == "s3":
        from smokejumper.store.s3 import new_client

        # In the replica's own region: its bucket answers there, and the primary's region may be the one gone.
        client = new_client(replica.region)
    return Stores(primary, open_store(replica_store_url, s3_client=client))


@restore.command("input-schema")
def restore_input_schema() -> None:
    """Print the JSON Schema of the restore input (for editors, and to check an input before pasting it)."""
    from smokejumper.restores import input_schema

    print_json(input_schema())


@restore.command("test")
@plan_option("The backup plan (its restore_tests.scratch names the servers to restore into).")
@store_option
@click.option("--run", "run_id", help="The run to test (default: the latest good run).")
@secrets_option
@json_option
def restore_test(plan_file: Path, store_url: str, run_id: str | None, secrets_file: Path | None, as_json: bool) -> None:
    """Prove a run restores: each database into a scratch database, judged against the backup's records.

    Each database of the run is restored into smokejumper_rt_<item>_<run> on
    the plan's scratch server for its engine, read back, and compared table
    by table with what the backup recorded (row counts, and each table's
    content); the scratch database is dropped afterwards, also on failure.
    An etcd snapshot is verified offline (trailer, pages, the live key count
    against the one recorded at backup time). The verdict is written beside
    the run (restore-test.json); `runs list` and `runs show` show it, with
    each item's restore time. Exit code 0 if the run passed, 1 if not.

    \b
    Example:
      smokejumper restore test --plan plans/cf-prod.yaml --store s3://my-backups/cf-prod
    """
    from smokejumper.plan import load_plan
    from smokejumper.restore_tests import run_restore_test
    from smokejumper.secrets import secrets_for

    plan = load_plan(plan_file)

    def said(item: Any) -> None:
        if as_json:
            return
        mark = {"passed": "[green]✓[/]", "skipped": "[yellow]-[/]"}.get(item.status, "[red]✗[/]")
        timing = f" restored in {item.restore_seconds:.1f}s" if item.restore_seconds is not None else ""
        out.print(f"{mark} {escape(item.path)}: {item.status}{timing}")
        for problem in item.problems:
            out.print(f"    {problem}", markup=False)

    verdict = run_restore_test(
        plan, open_store(store_url), secrets=secrets_for(secrets_file), run_id=run_id, on_item=said
    )
    if as_json:
        print_json(verdict.to_json())
    else:
        out.print(f"restore test of run {verdict.run_id}: {verdict.status}")
    if verdict.status == "failed":
        raise SystemExit(1)
