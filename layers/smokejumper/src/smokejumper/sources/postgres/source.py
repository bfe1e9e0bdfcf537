"""PostgreSQL as a source (see smokejumper.sources.base): a consistent dump, and its restore."""

from __future__ import annotations

from typing import ClassVar

from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import UsageError
from smokejumper.sources.base import BackupResult, DatabaseRestore, Progress
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.sources.postgres.connection import connect
from smokejumper.sources.postgres.dump import DumpOptions, dump_database
from smokejumper.sources.postgres.restore import restore_database
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store


def _postgres(target: DatabaseTarget) -> DatabaseTarget:
    if target.engine != "postgres":
        raise UsageError(f"{target.redacted()} is not a PostgreSQL database", hint="use the mysql source for it")
    return target


class PostgresSource:
    engine: ClassVar[str] = "postgres"
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
        connection = connect(_postgres(target))
        try:
            writer = ArtifactWriter(store, artifact_dir, engine=self.engine, name=name)
            dump_database(
                connection, writer, options=self.options, on_table=on_progress, connect=lambda: connect(target)
            )
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
        connection = connect(_postgres(request.target))
        try:
            return restore_database(
                store,
                connection,
                artifact_dir=artifact_dir,
                tables=list(request.tables) or None,
                clean=request.clean,
                no_owner=request.no_owner,
                no_privileges=request.no_privileges,
                on_frame=on_progress,
            )
        finally:
            connection.close()
