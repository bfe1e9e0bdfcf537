"""`smokejumper backup ...`: one source into an artifact directory, or a whole plan as a run.

Every engine goes through the same flow: parse the target, open the store
(refusing one that already holds an artifact), hand both to the engine's
source (`sources.base`), show its progress, print the record.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from smokejumper.cli.console import (
    byte_progress,
    counted,
    err,
    human_size,
    json_option,
    kms_key_option,
    out,
    plan_option,
    print_json,
    secrets_option,
    section_progress,
    store_option,
)
from smokejumper.errors import SmokejumperError, UsageError
from smokejumper.store import Store, open_store

TO_HELP = "Artifact directory to create: file:///DIR or s3://BUCKET/PREFIX."
PG_DSN_HELP = (
    "Database URL: postgresql://USER@HOST:PORT/DB?sslmode=verify-full&sslrootcert=CA.pem. "
    "The password comes from PGPASSWORD (or the URL; never put it on a shared command line)."
)
MYSQL_DSN_HELP = (
    "Database URL: mysql://USER@HOST:PORT/DB?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem. "
    "The password comes from MYSQL_PWD (or the URL; never put it on a shared command line)."
)
ENGINE_NAMES = {"postgres": "PostgreSQL", "mysql": "MySQL"}


@click.group()
def backup() -> None:
    """Back up one source into an artifact directory, or a whole plan as a run."""


def database_target(dsn: str, engine: str, command: str) -> Any:
    """The DSN's database, which must be of `engine` (the other engine's command is named if not)."""
    from smokejumper.sources.dsn import parse_dsn

    target = parse_dsn(dsn)
    if target.engine != engine:
        other = next(name for name in ENGINE_NAMES if name != engine)
        raise UsageError(
            f"{target.redacted()} is not a {ENGINE_NAMES[engine]} URL", hint=f"use `smokejumper {command} {other}`"
        )
    return target


def new_artifact_store(to_url: str, kms_key: str | None) -> Store:
    """The store a backup writes its artifact to: refused if one is already there (nothing is overwritten)."""
    store = open_store(to_url, kms_key_id=kms_key)
    if store.exists("artifact.json"):
        raise UsageError(f"{store.url} already holds an artifact", hint="choose a new --to directory")
    return store


def back_up(source: Any, target: Any, to_url: str, *, name: str, kms_key: str | None, as_json: bool) -> None:
    """The one backup flow of every engine's command."""
    store = new_artifact_store(to_url, kms_key)
    err.print(f"backing up {target.redacted()} to {store.url}", markup=False)
    if source.component == "etcd":
        with byte_progress("snapshot", 0, enabled=not as_json) as advance:
            result = source.backup(target, store, "", name=name, on_progress=lambda _what, _rows, size: advance(size))
    else:
        with section_progress(enabled=not as_json) as on_progress:
            result = source.backup(target, store, "", name=name, on_progress=on_progress)
    print_record(store, result.record, as_json=as_json)


def print_record(store: Store, record: Any, *, as_json: bool) -> None:
    """A backup's result (its artifact record), in a line for people or in full as JSON."""
    if as_json:
        print_json({"url": store.url, **record.model_dump(mode="json")})
        return
    if record.engine == "etcd":
        point = record.snapshot_point
        out.print(
            f"[green]✓[/] {escape(store.url)}: revision {point.get('revision')}, {point.get('key_count')} keys, "
            f"{human_size(point.get('snapshot_size', 0))} in {human_size(record.size)}, trailer verified"
        )
        return
    data = record.files[0]
    # A table dumped in parts (PostgreSQL streams) has one frame per part.
    tables = sum(frame.meta.get("kind") == "table" and frame.meta.get("part", 1) == 1 for frame in data.frames)
    rows = sum(frame.rows or 0 for frame in data.frames)
    seconds = (record.finished_at - record.started_at).total_seconds()
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


@backup.command("postgres")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=PG_DSN_HELP)
@click.option("--to", "to_url", required=True, help=TO_HELP)
@click.option("--name", help="Name recorded in the artifact (default: the database name).")
@click.option("--lock-timeout", default=10.0, show_default=True, help="Seconds to wait for table locks.")
@click.option(
    "--streams",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="COPY streams sharing the one snapshot (each is a connection); tables over 256 MiB are split between "
    "them by page ranges on PostgreSQL 14+. 1: only the dump's own connection.",
)
@kms_key_option
@json_option
def backup_postgres(
    dsn: str, to_url: str, name: str | None, lock_timeout: float, streams: int, kms_key: str | None, as_json: bool
) -> None:
    """Dump one PostgreSQL database, consistently and online, as plain SQL.

    One read-only snapshot covers every table; writers are never blocked. The
    artifact is dump.sql.zst (one zstd frame per table) plus artifact.json.
    Owners and GRANTs are kept, as pg_dump keeps them; the restore decides
    whether to apply them (--no-owner, --no-privileges).
    `zstd -dc dump.sql.zst | psql -d EMPTY_DB` restores it without smokejumper.

    \b
    Examples:
      PGPASSWORD=... smokejumper backup postgres \\
          --dsn 'postgresql://backup@db.internal:5432/ccdb?sslmode=verify-full&sslrootcert=rds-ca.pem' \\
          --to s3://my-backups/adhoc/ccdb
      smokejumper backup postgres --dsn postgresql://postgres@127.0.0.1/ccdb --to file:///tmp/ccdb
    """
    from smokejumper.sources.base import source_for
    from smokejumper.sources.postgres.dump import DumpOptions

    target = database_target(dsn, "postgres", "backup")
    source = source_for("postgres", options=DumpOptions(lock_timeout_ms=int(lock_timeout * 1000), streams=streams))
    back_up(source, target, to_url, name=name or target.database, kms_key=kms_key, as_json=as_json)


@backup.command("mysql")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=MYSQL_DSN_HELP)
@click.option("--to", "to_url", required=True, help=TO_HELP)
@click.option("--name", help="Name recorded in the artifact (default: the database name).")
@click.option("--definers", is_flag=True, help="Keep DEFINER clauses (the restore then needs those accounts).")
@kms_key_option
@json_option
def backup_mysql(dsn: str, to_url: str, name: str | None, definers: bool, kms_key: str | None, as_json: bool) -> None:
    """Dump one MySQL/MariaDB database, consistently and online, as plain SQL.

    One consistent-snapshot transaction (what mysqldump --single-transaction
    uses) covers every InnoDB table, with no global lock; tables of other
    engines (MyISAM, Aria) are named as not consistent. Tables, views,
    triggers, routines and events are included; DEFINERs are dropped unless
    --definers. The artifact is dump.sql.zst (one zstd frame per table) plus
    artifact.json; `zstd -dc dump.sql.zst | mysql --comments EMPTY_DB`
    restores it without smokejumper.

    \b
    Examples:
      MYSQL_PWD=... smokejumper backup mysql \\
          --dsn 'mysql://backup@ccdb.internal:3306/ccdb?ssl-mode=VERIFY_IDENTITY&ssl-ca=rds-ca.pem' \\
          --to s3://my-backups/adhoc/ccdb
      smokejumper backup mysql --dsn mysql://root@127.0.0.1/ccdb --to file:///tmp/ccdb
    """
    from smokejumper.sources.base import source_for
    from smokejumper.sources.mysql.dump import DumpOptions

    target = database_target(dsn, "mysql", "backup")
    source = source_for("mysql", options=DumpOptions(definers=definers))
    back_up(source, target, to_url, name=name or target.database, kms_key=kms_key, as_json=as_json)


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
@click.option("--to", "to_url", required=True, help=TO_HELP)
@click.option("--name", default="etcd", show_default=True, help="Cluster name recorded in the artifact.")
@click.option("--timeout", type=float, help="Deadline in seconds for the whole snapshot stream (default: none).")
@kms_key_option
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
    from smokejumper.sources.base import source_for
    from smokejumper.targets import EtcdTarget

    if tls_secret and (cacert or cert or key or user):
        raise UsageError(
            "--tls-secret replaces --cacert, --cert, --key and --user",
            hint="give one or the other (the secret may hold user and password too)",
        )
    if tls_secret:
        from smokejumper.secrets import SecretsManagerSecrets

        target = EtcdTarget(name, tuple(endpoints), secret=SecretsManagerSecrets().json(tls_secret))
    else:
        password = os.environ.get("ETCDCTL_PASSWORD") if user else None
        target = EtcdTarget(
            name, tuple(endpoints), ca_file=cacert, cert_file=cert, key_file=key, user=user, password=password
        )
    back_up(source_for("etcd", timeout=timeout), target, to_url, name=name, kms_key=kms_key, as_json=as_json)


# --- a whole plan ------------------------------------------------------------------------


@backup.command("run")
@plan_option("The backup plan (YAML) whose items to back up.")
@store_option
@click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice(["etcd", "databases", "volumes"]),
    help="Back up only this component's items; repeatable (default: every component).",
)
@click.option("--item", "names", multiple=True, metavar="NAME", help="Back up only this item of the plan; repeatable.")
@secrets_option
@click.option("--no-prune", is_flag=True, help="Commit the run but do not apply the plan's retention afterwards.")
@click.option("--trigger", default="manual", show_default=True, help="Recorded in the manifest (schedule, event...).")
@kms_key_option
@json_option
def backup_run(
    plan_file: Path,
    store_url: str,
    components: tuple[str, ...],
    names: tuple[str, ...],
    secrets_file: Path | None,
    no_prune: bool,
    trigger: str,
    kms_key: str | None,
    as_json: bool,
) -> None:
    """Back up every item of a plan (or those asked for) as one run, then apply retention.

    Items are backed up several at once (the plan's `concurrency`), each into
    runs/RUN_ID/<component>/<name>/ of the store; the manifest is written last,
    with status failed if any item failed (the others are kept and
    verifiable). Credentials come from Secrets Manager, or from --secrets for
    runs outside AWS. Exit code 0 only if every item succeeded, 1 if any
    failed (each is named with its error type and cause), 2 for bad input.

    \b
    Examples:
      smokejumper backup run --plan plans/cf-prod.yaml --store s3://my-backups/cf-prod
      smokejumper backup run --plan plans/cf-prod.yaml --store s3://my-backups/cf-prod --component etcd
      smokejumper backup run --plan local.yaml --store file:///var/backups/local --secrets secrets.json \\
          --item ccdb --item credhub
    """
    from smokejumper.plan import load_plan
    from smokejumper.secrets import secrets_for

    plan = load_plan(plan_file)
    secrets = secrets_for(secrets_file)
    store = open_store(store_url, kms_key_id=kms_key)
    run_plan(plan, store, secrets, components=components, names=names, trigger=trigger, prune_after=not no_prune,
             as_json=as_json)  # fmt: skip


def run_plan(
    plan: Any,
    store: Store,
    secrets: Any,
    *,
    components: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    trigger: str = "manual",
    prune_after: bool = True,
    as_json: bool = False,
    now: Any = None,
) -> Any:
    """Run the plan's items into `store`, commit, prune, print; exit 1 if any item failed. Returns the manifest."""
    from smokejumper.cli.runs import print_deletion, print_prune_report, prune_json
    from smokejumper.runs import back_up_items, commit_run, prune, start_run
    from smokejumper.sources.volumes.retention import plan_snapshots

    ticket = start_run(plan, components=components, names=names, trigger=trigger, now=now)
    workers = min(plan.concurrency, len(ticket.items))
    err.print(
        f"run {ticket.run_id} of plan {plan.name}: {counted(len(ticket.items), 'item')} "
        f"({workers} at a time) to {store.url}",
        markup=False,
    )
    started = time.monotonic()
    results = back_up_items(
        plan, store, ticket, secrets, on_item=None if as_json else lambda item, ref: _print_item(item.path, ref)
    )
    manifest = commit_run(store, ticket, results)
    report = None
    if prune_after:
        try:
            report = prune(
                plan, store, now=now, on_deletion=None if as_json else print_deletion, snapshots=plan_snapshots(plan)
            )
        except SmokejumperError as exc:  # the run is committed; the sweep runs again after the next one
            err.print(f"[red]retention could not be carried out:[/] {escape(str(exc))}")
    seconds = time.monotonic() - started
    if as_json:
        document = {"url": f"{store.url.rstrip('/')}/runs/{manifest.run_id}", **manifest.model_dump(mode="json")}
        document["retention"] = prune_json(report) if report else None
        print_json(document)
    else:
        _print_summary(manifest, seconds)
        if report:
            print_prune_report(report, as_json=False)
    if manifest.status != "succeeded":
        failed = [ref for ref in manifest.artifacts if ref.status != "succeeded"]
        err.print(
            f"[red]run {manifest.run_id} failed:[/] {counted(len(failed), 'item')} of {len(manifest.artifacts)}: "
            + escape(", ".join(f"{ref.path} ({ref.error_type})" for ref in failed))
        )
        sys.exit(1)
    return manifest


def _print_item(path: str, ref: Any) -> None:
    if ref.status == "succeeded":
        err.print(f"  [green]✓[/] {escape(path)} ({ref.engine}): {human_size(ref.size)} in {ref.seconds:.1f}s")
    else:
        err.print(f"  [red]✗[/] {escape(path)} ({ref.engine}): {escape(ref.error_type)}: {escape(ref.error or '')}")


def _print_summary(manifest: Any, seconds: float) -> None:
    from rich.table import Table

    colour = "green" if manifest.status == "succeeded" else "red"
    title = f"run {manifest.run_id} of plan {escape(manifest.plan)}: [{colour}]{manifest.status}[/] in {seconds:.1f}s"
    table = Table(title=title, title_justify="left")
    for column in ("item", "engine", "status", "size", "took", "sha256", "cause"):
        table.add_column(column, justify="right" if column in ("size", "took") else "left")
    for ref in manifest.artifacts:
        good = ref.status == "succeeded"
        table.add_row(
            escape(ref.path),
            ref.engine,
            "[green]succeeded[/]" if good else f"[red]{escape(ref.error_type or 'failed')}[/]",
            human_size(ref.size) if good else "",
            f"{ref.seconds:.1f}s" if ref.seconds is not None else "",
            (ref.record_sha256 or "")[:12],
            "" if good else escape(ref.error or ""),
        )
    out.print(table)
