"""MySQL/MariaDB as a source (see smokejumper.sources.base): a consistent dump, and its restore."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pymysql

from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import UsageError
from smokejumper.sources.base import DatabaseRestore, Progress
from smokejumper.sources.database import DatabaseSource
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.sources.mysql.connection import connect
from smokejumper.sources.mysql.dump import DumpOptions, dump_database
from smokejumper.sources.mysql.restore import restore_database
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store


class MysqlSource(DatabaseSource):
    engine: ClassVar[str] = "mysql"

    def default_options(self) -> DumpOptions:
        return DumpOptions()

    def create_database_if_missing(self, target: DatabaseTarget) -> bool:
        connection = connect(replace(self._checked(target), database=""))  # "": no default database
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (target.database,))
                if cursor.fetchone():
                    return False
                quoted = "`" + target.database.replace("`", "``") + "`"
                cursor.execute(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4")
            return True
        finally:
            connection.close()

    def connect(self, target: DatabaseTarget) -> pymysql.connections.Connection:
        return connect(target)

    def dump(
        self,
        connection: pymysql.connections.Connection,
        writer: ArtifactWriter,
        target: DatabaseTarget,
        on_progress: Progress | None,
    ) -> None:
        dump_database(connection, writer, options=self.options, on_table=on_progress)

    def drop_database_if_exists(self, target: DatabaseTarget) -> None:
        connection = connect(replace(self._checked(target), database=""))
        try:
            with connection.cursor() as cursor:
                cursor.execute("DROP DATABASE IF EXISTS `" + target.database.replace("`", "``") + "`")
        finally:
            connection.close()

    def restore_into(
        self,
        store: Store,
        artifact_dir: str,
        connection: pymysql.connections.Connection,
        request: DatabaseRestore,
        on_progress: Progress | None,
    ) -> RestoreSummary:
        if request.no_owner or request.no_privileges:
            raise UsageError(
                "--no-owner and --no-privileges are PostgreSQL options",
                hint="a MySQL dump keeps DEFINERs only when taken with --definers",
            )
        return restore_database(
            store.child(artifact_dir) if artifact_dir else store,
            connection,
            tables=list(request.tables) or None,
            clean=request.clean,
            on_frame=on_progress,
        )
