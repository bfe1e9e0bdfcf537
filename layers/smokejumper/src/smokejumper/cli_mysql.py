"""`smokejumper backup mysql` and `smokejumper restore mysql`: the same shape as PostgreSQL's."""

from __future__ import annotations

import click

from smokejumper.cli import (
    backup,
    err,
    json_option,
    new_artifact_store,
    print_dump_summary,
    print_restore_summary,
    restore,
    table_progress,
)
from smokejumper.errors import UsageError
from smokejumper.sources.dsn import DatabaseTarget, parse_dsn
from smokejumper.store import open_store

MYSQL_DSN_HELP = (
    "Database URL: mysql://USER@HOST:PORT/DB?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem. "
    "The password comes from MYSQL_PWD (or the URL; never put it on a shared command line)."
)


def _target(dsn: str, command: str) -> DatabaseTarget:
    target = parse_dsn(dsn)
    if target.engine != "mysql":
        raise UsageError(f"{target.redacted()} is not a MySQL URL", hint=f"use `smokejumper {command} postgres`")
    return target


@backup.command("mysql")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=MYSQL_DSN_HELP)
@click.option("--to", "to_url", required=True, help="Artifact directory to create: file:///DIR or s3://BUCKET/PREFIX.")
@click.option("--name", help="Name recorded in the artifact (default: the database name).")
@click.option("--definers", is_flag=True, help="Keep DEFINER clauses (the restore then needs those accounts).")
@click.option("--kms-key", envvar="SMOKEJUMPER_KMS_KEY_ID", help="KMS key for S3 server-side encryption.")
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
    from smokejumper.artifact import ArtifactWriter
    from smokejumper.sources.mysql.connection import connect
    from smokejumper.sources.mysql.dump import DumpOptions, dump_database

    target = _target(dsn, "backup")
    store = new_artifact_store(to_url, kms_key)
    connection = connect(target)
    try:
        writer = ArtifactWriter(store, "", engine="mysql", name=name or target.database)
        err.print(f"dumping {target.redacted()} to {store.url}", markup=False)
        with table_progress(enabled=not as_json) as on_table:
            record = dump_database(connection, writer, options=DumpOptions(definers=definers), on_table=on_table)
    finally:
        connection.close()
    print_dump_summary(store, record, as_json=as_json)


@restore.command("mysql")
@click.option("--from", "from_url", required=True, help="Artifact directory: file:///DIR or s3://BUCKET/PREFIX.")
@click.option("--dsn", envvar="SMOKEJUMPER_DSN", required=True, help=MYSQL_DSN_HELP)
@click.option("--table", "tables", multiple=True, help="Restore only this table (created if absent); repeatable.")
@click.option("--clean", is_flag=True, help="Drop what the target has first (with --table: empty those tables).")
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
    from smokejumper.sources.mysql.connection import connect
    from smokejumper.sources.mysql.restore import restore_database

    target = _target(dsn, "restore")
    store = open_store(from_url)
    connection = connect(target)
    try:
        with table_progress(enabled=not as_json) as on_frame:
            summary = restore_database(store, connection, tables=list(tables) or None, clean=clean, on_frame=on_frame)
    finally:
        connection.close()
    print_restore_summary(summary, as_json=as_json)
