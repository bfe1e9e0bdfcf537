"""MySQL/MariaDB as a source (see smokejumper.sources.base): a consistent dump, and its restore."""

from __future__ import annotations

from typing import ClassVar

from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import UsageError
from smokejumper.sources.base import BackupResult, DatabaseRestore, Progress
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.sources.mysql.connection import connect
from smokejumper.sources.mysql.dump import DumpOptions, dump_database
from smokejumper.sources.mysql.restore import restore_database
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store


def _mysql(target: DatabaseTarget) -> DatabaseTarget:
    if target.engine != "mysql":
        raise UsageError(f"{target.redacted()} is not a MySQL database", hint="use the postgres source for it")
    return target


class MysqlSource:
    engine: ClassVar[str] = "mysql"
    component: ClassVar[str] = "databases"

    def __init__(self, *, options: DumpOptions | None = None) -> None:
        self.options = options or DumpOptions()

    def backup(
        self,
        target: DatabaseTarget,
        store: Store,
        artifact_dir: str,
        *,
        name: str,
        on_progress: Progress | None = None,
    ) -> BackupResult:
        connection = connect(_mysql(target))
        try:
            writer = ArtifactWriter(store, artifact_dir, engine=self.engine, name=name)
            dump_database(connection, writer, options=self.options, on_table=on_progress)
        finally:
            connection.close()
        return BackupResult.of(writer)

    def restore(
        self,
        store: Store,
        artifact_dir: str,
        request: DatabaseRestore,
        *,
        on_progress: Progress | None = None,
    ) -> RestoreSummary:
        if request.no_owner or request.no_privileges:
            raise UsageError(
                "--no-owner and --no-privileges are PostgreSQL options",
                hint="a MySQL dump keeps DEFINERs only when taken with --definers",
            )
        connection = connect(_mysql(request.target))
        try:
            return restore_database(
                store.child(artifact_dir) if artifact_dir else store,
                connection,
                tables=list(request.tables) or None,
                clean=request.clean,
                on_frame=on_progress,
            )
        finally:
            connection.close()
