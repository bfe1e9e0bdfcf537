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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

# rich.progress and rich.table are imported where they are used: a backup's start-up time is part of its
# time, and they are needed only for a person watching or for listings.
from rich.console import Console
from rich.markup import escape

from smokejumper import __version__
from smokejumper.catalog import list_runs, read_manifest, run_dir, uncommitted_run_ids
from smokejumper.errors import SmokejumperError, UsageError
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
        from rich.table import Table

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
    from rich.table import Table

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


# --- backup / restore --------------------------------------------------------

DSN_HELP = (
    "Database URL: postgresql://USER@HOST:PORT/DB?sslmode=verify-full&sslrootcert=CA.pem. "
    "The password comes from PGPASSWORD (or the URL; never put it on a shared command line)."
)


@cli.group()
def backup() -> None:
    """Back up one source into an artifact directory (a file:// or s3:// URL)."""


@cli.group()
def restore() -> None:
    """Restore one source from an artifact directory, verifying it first."""


@contextmanager
def table_progress(*, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """One line per table on stderr, and a live counter while a person watches."""
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
            progress.console.print(f"  {name}: {rows} rows, {human_size(size)}", markup=False)
            progress.advance(task)

        yield advance


def new_artifact_store(to_url: str, kms_key: str | None) -> Store:
    """The store a backup writes its artifact to: refused if one is already there (nothing is overwritten)."""
    store = open_store(to_url, kms_key_id=kms_key)
    if store.exists("artifact.json"):
        raise UsageError(f"{store.url} already holds an artifact", hint="choose a new --to directory")
    return store


@backup.command("postgres")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=DSN_HELP)
@click.option("--to", "to_url", required=True, help="Artifact directory to create: file:///DIR or s3://BUCKET/PREFIX.")
@click.option("--name", help="Name recorded in the artifact (default: the database name).")
@click.option("--lock-timeout", default=10.0, show_default=True, help="Seconds to wait for table locks.")
@click.option("--privileges", is_flag=True, help="Also dump owners and GRANTs (the restore then needs the same roles).")
@click.option(
    "--streams",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="COPY streams sharing the one snapshot (each is a connection); tables over 256 MiB are split between "
    "them by page ranges on PostgreSQL 14+. 1: only the dump's own connection.",
)
@click.option("--kms-key", envvar="SMOKEJUMPER_KMS_KEY_ID", help="KMS key for S3 server-side encryption.")
@json_option
def backup_postgres(
    dsn: str,
    to_url: str,
    name: str | None,
    lock_timeout: float,
    privileges: bool,
    streams: int,
    kms_key: str | None,
    as_json: bool,
) -> None:
    """Dump one PostgreSQL database, consistently and online, as plain SQL.

    One read-only snapshot covers every table; writers are never blocked. The
    artifact is dump.sql.zst (one zstd frame per table) plus artifact.json.
    `zstd -dc dump.sql.zst | psql -d EMPTY_DB` restores it without smokejumper.

    \b
    Examples:
      PGPASSWORD=... smokejumper backup postgres \\
          --dsn 'postgresql://backup@db.internal:5432/ccdb?sslmode=verify-full&sslrootcert=rds-ca.pem' \\
          --to s3://my-backups/adhoc/ccdb
      smokejumper backup postgres --dsn postgresql://postgres@127.0.0.1/ccdb --to file:///tmp/ccdb
    """
    from smokejumper.artifact import ArtifactWriter
    from smokejumper.sources.dsn import parse_dsn
    from smokejumper.sources.postgres.connection import connect
    from smokejumper.sources.postgres.dump import DumpOptions, dump_database

    target = parse_dsn(dsn)
    if target.engine != "postgres":
        raise UsageError(f"{target.redacted()} is not a PostgreSQL URL", hint="use `smokejumper backup mysql`")
    store = new_artifact_store(to_url, kms_key)
    connection = connect(target)
    try:
        writer = ArtifactWriter(store, "", engine="postgres", name=name or target.database)
        err.print(f"dumping {target.redacted()} to {store.url}", markup=False)
        with table_progress(enabled=not as_json) as on_table:
            record = dump_database(
                connection,
                writer,
                options=DumpOptions(lock_timeout_ms=int(lock_timeout * 1000), privileges=privileges, streams=streams),
                on_table=lambda table, rows, size: on_table(table.qualified, rows, size),
                connect=lambda: connect(target),
            )
    finally:
        connection.close()
    print_dump_summary(store, record, as_json=as_json)


def counted(number: int, noun: str) -> str:
    """`1 table`, `2 tables`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def print_dump_summary(store: Store, record: Any, *, as_json: bool) -> None:
    """A database dump's result (its artifact record), the same for every engine."""
    data = record.files[0]
    # A table dumped in parts (PostgreSQL streams) has one frame per part.
    tables = sum(frame.meta.get("kind") == "table" and frame.meta.get("part", 1) == 1 for frame in data.frames)
    rows = sum(frame.rows or 0 for frame in data.frames)
    seconds = (record.finished_at - record.started_at).total_seconds()
    if as_json:
        print_json({"url": store.url, **record.model_dump(mode="json")})
        return
    for name in record.snapshot_point.get("not_consistent", []):
        err.print(f"[yellow]warning:[/] table {escape(name)} is not transactional: not read from the snapshot")
    for what in record.snapshot_point.get("not_dumped", []):
        err.print(f"[yellow]warning:[/] not dumped: {escape(what)}")
    if note := record.snapshot_point.get("streams_note"):
        err.print(f"[yellow]note:[/] {escape(note)}")
    out.print(
        f"[green]✓[/] {escape(store.url)}: {counted(tables, 'table')}, {counted(rows, 'row')}, "
        f"{human_size(data.uncompressed_size)} of SQL in {human_size(data.size)}, {seconds:.1f}s"
    )


@backup.command("etcd")
@click.option("--endpoint", "endpoints", multiple=True, required=True, help="Client URL; repeat for each member.")
@click.option("--cacert", type=click.Path(dir_okay=False), help="CA bundle that signed the members' certificates.")
@click.option("--cert", type=click.Path(dir_okay=False), help="Client certificate (for --client-cert-auth).")
@click.option("--key", type=click.Path(dir_okay=False), help="Client certificate's private key.")
@click.option("--user", help="etcd user with the root role, when auth is on (password: ETCDCTL_PASSWORD).")
@click.option(
    "--tls-secret",
    metavar="ARN",
    help='Secrets Manager secret holding the CA, client cert and key as PEMs: {"ca", "cert", "key"}.',
)
@click.option("--to", "to_url", required=True, help="Artifact directory to create: file:///DIR or s3://BUCKET/PREFIX.")
@click.option("--name", default="etcd", show_default=True, help="Cluster name recorded in the artifact.")
@click.option("--timeout", type=float, help="Deadline in seconds for the whole snapshot stream (default: none).")
@click.option("--kms-key", envvar="SMOKEJUMPER_KMS_KEY_ID", help="KMS key for S3 server-side encryption.")
@json_option
def backup_etcd(
    endpoints: tuple[str, ...],
    cacert: str | None,
    cert: str | None,
    key: str | None,
    user: str | None,
    tls_secret: str | None,
    to_url: str,
    name: str,
    timeout: float | None,
    kms_key: str | None,
    as_json: bool,
) -> None:
    """Snapshot etcd (what `etcdctl snapshot save` takes), verified before it is kept.

    A healthy member is picked (a follower when there is one). The stream's
    sha256 trailer is checked before anything is committed; the artifact is
    snapshot.db.zst (`zstd -dc` gives the exact etcdctl file) plus artifact.json.

    \b
    Examples:
      smokejumper backup etcd --endpoint https://10.0.1.10:2379 --endpoint https://10.0.2.10:2379 \\
          --cacert ca.pem --cert backup.pem --key backup-key.pem --to s3://my-backups/adhoc/etcd
      smokejumper backup etcd --endpoint http://127.0.0.1:2379 --to file:///tmp/etcd
    """
    import os

    from smokejumper.artifact import ArtifactWriter
    from smokejumper.sources.etcd.client import EtcdEndpoint
    from smokejumper.sources.etcd.snapshot import backup_etcd as take_snapshot

    password = os.environ.get("ETCDCTL_PASSWORD") if user else None
    if tls_secret and (cacert or cert or key or user):
        raise UsageError(
            "--tls-secret replaces --cacert, --cert, --key and --user",
            hint="give one or the other (the secret may hold user and password too)",
        )
    store = new_artifact_store(to_url, kms_key)
    with ExitStack() as stack:
        if tls_secret:
            from smokejumper.sources.etcd.credentials import endpoints_from_secret, fetch_secret

            # Written to private temp files for the snapshot's time only (gRPC reads files).
            members = stack.enter_context(endpoints_from_secret(endpoints, fetch_secret(tls_secret)))
        else:
            members = [
                EtcdEndpoint(url, ca_file=cacert, cert_file=cert, key_file=key, user=user, password=password)
                for url in endpoints
            ]
        advance = stack.enter_context(byte_progress("snapshot", 0, enabled=not as_json))
        seen = 0

        def on_progress(received: int, _expected: int | None) -> None:
            nonlocal seen
            advance(received - seen)
            seen = received

        record = take_snapshot(
            members, ArtifactWriter(store, "", engine="etcd", name=name), timeout=timeout, on_progress=on_progress
        )
    if as_json:
        print_json({"url": store.url, **record.model_dump(mode="json")})
        return
    point = record.snapshot_point
    out.print(
        f"[green]✓[/] {escape(store.url)}: revision {point.get('revision')}, {point.get('key_count')} keys, "
        f"{human_size(point.get('snapshot_size', 0))} in {human_size(record.size)}, trailer verified"
    )


@restore.command("postgres")
@click.option("--from", "from_url", required=True, help="Artifact directory: file:///DIR or s3://BUCKET/PREFIX.")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=DSN_HELP)
@click.option(
    "--table", "tables", multiple=True, help="Restore only this table (SCHEMA.TABLE; created if absent); repeatable."
)
@click.option("--clean", is_flag=True, help="Drop what the target has first (with --table: empty those tables).")
@json_option
def restore_postgres(from_url: str, dsn: str, tables: tuple[str, ...], clean: bool, as_json: bool) -> None:
    """Restore a PostgreSQL dump: verify every frame first, then load in one transaction.

    A damaged artifact changes nothing. The target database must have no tables
    unless --clean is given. With --table, only those tables are restored
    (fetched with ranged reads): a table the target lacks is created with its
    keys, indexes, triggers and comments (foreign keys only to tables that
    exist; the others are listed as warnings); an existing one must be empty,
    or --clean empties it (together with the tables referencing it, which
    must then be named too).

    \b
    Examples:
      smokejumper restore postgres --from s3://my-backups/cf-prod/runs/20261125T020000Z-3f9a/databases/ccdb \\
          --dsn 'postgresql://admin@new-db:5432/ccdb?sslmode=verify-full'
      smokejumper restore postgres --from file:///tmp/ccdb --dsn postgresql://postgres@127.0.0.1/ccdb \\
          --table public.apps --clean
    """
    from smokejumper.sources.dsn import parse_dsn
    from smokejumper.sources.postgres.connection import connect
    from smokejumper.sources.postgres.restore import restore_database

    target = parse_dsn(dsn)
    if target.engine != "postgres":
        raise UsageError(f"{target.redacted()} is not a PostgreSQL URL", hint="use `smokejumper restore mysql`")
    store = open_store(from_url)
    connection = connect(target)
    try:
        with table_progress(enabled=not as_json) as on_frame:
            summary = restore_database(store, connection, tables=list(tables) or None, clean=clean, on_frame=on_frame)
    finally:
        connection.close()
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


# --- demo -------------------------------------------------------------------


@cli.command()
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


def _register_subcommands() -> None:
    # Defined in their own modules, which import this one's helpers: register them once both exist.
    import smokejumper.cli_mysql  # noqa: F401  # adds `backup mysql` and `restore mysql`
    from smokejumper.cli_etcd import etcd

    cli.add_command(etcd)


_register_subcommands()


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
