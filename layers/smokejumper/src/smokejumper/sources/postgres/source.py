"""PostgreSQL as a source (see smokejumper.sources.base): a consistent dump, and its restore."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pg8000.native

from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.base import DatabaseRestore, Progress
from smokejumper.sources.database import DatabaseSource
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.sources.postgres.connection import connect
from smokejumper.sources.postgres.dump import DumpOptions, dump_database
from smokejumper.sources.postgres.restore import restore_database
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store


class PostgresSource(DatabaseSource):
    engine: ClassVar[str] = "postgres"

    def default_options(self) -> DumpOptions:
        return DumpOptions()

    def create_database_if_missing(self, target: DatabaseTarget) -> bool:
        # The server's maintenance database is there to connect to when the target is not.
        connection = connect(replace(self._checked(target), database="postgres"))
        try:
            found = connection.run("SELECT 1 FROM pg_catalog.pg_database WHERE datname = :name", name=target.database)
            if found:
                return False
            connection.run(f"CREATE DATABASE {pg8000.native.identifier(target.database)}")
            return True
        finally:
            connection.close()

    def connect(self, target: DatabaseTarget) -> pg8000.native.Connection:
        return connect(target)

    def dump(
        self,
        connection: pg8000.native.Connection,
        writer: ArtifactWriter,
        target: DatabaseTarget,
        on_progress: Progress | None,
    ) -> None:
        # The helper streams open connections of their own to the same database.
        dump_database(connection, writer, options=self.options, on_table=on_progress, connect=lambda: connect(target))

    def drop_database_if_exists(self, target: DatabaseTarget) -> None:
        connection = connect(replace(self._checked(target), database="postgres"))
        try:
            # FORCE (PostgreSQL 13+): a connection a failed restore left open must not keep the database.
            connection.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(target.database)} WITH (FORCE)")
        finally:
            connection.close()

    def restore_into(
        self,
        store: Store,
        artifact_dir: str,
        connection: pg8000.native.Connection,
        request: DatabaseRestore,
        on_progress: Progress | None,
    ) -> RestoreSummary:
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
