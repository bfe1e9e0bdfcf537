"""What the PostgreSQL and MySQL sources share: connect, dump or restore, close, the same way.

Each engine's source (`postgres.source`, `mysql.source`) supplies only its own
pieces: how to connect, how to dump into an artifact writer, how to restore
from an artifact directory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import UsageError
from smokejumper.sources.base import BackupResult, DatabaseRestore, Progress
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store

_ENGINE_NAMES = {"postgres": "PostgreSQL", "mysql": "MySQL"}


class DatabaseSource(ABC):
    """A source whose target is a database server (sources.base.Source)."""

    engine: ClassVar[str]
    component: ClassVar[str] = "databases"

    def __init__(self, *, options: Any = None) -> None:
        self.options = options if options is not None else self.default_options()

    # --- what each engine supplies -----------------------------------------------------------

    @abstractmethod
    def default_options(self) -> Any: ...

    @abstractmethod
    def connect(self, target: DatabaseTarget) -> Any: ...

    @abstractmethod
    def dump(
        self, connection: Any, writer: ArtifactWriter, target: DatabaseTarget, on_progress: Progress | None
    ) -> None: ...

    @abstractmethod
    def create_database_if_missing(self, target: DatabaseTarget) -> bool:
        """Create `target.database` on its server unless it exists (connecting without it); True if created."""

    @abstractmethod
    def drop_database_if_exists(self, target: DatabaseTarget) -> None:
        """Drop `target.database` on its server (connecting without it), if it is there."""

    @abstractmethod
    def restore_into(
        self, store: Store, artifact_dir: str, connection: Any, request: DatabaseRestore, on_progress: Progress | None
    ) -> RestoreSummary: ...

    # --- the protocol ---------------------------------------------------------------------------

    def _checked(self, target: DatabaseTarget) -> DatabaseTarget:
        if target.engine != self.engine:
            other = next(name for name in _ENGINE_NAMES if name != self.engine)
            raise UsageError(
                f"{target.redacted()} is not a {_ENGINE_NAMES[self.engine]} database",
                hint=f"use the {other} source for it",
            )
        return target

    def backup(
        self,
        target: DatabaseTarget,
        store: Store,
        artifact_dir: str,
        *,
        name: str,
        on_progress: Progress | None = None,
    ) -> BackupResult:
        connection = self.connect(self._checked(target))
        try:
            writer = ArtifactWriter(store, artifact_dir, engine=self.engine, name=name)
            self.dump(connection, writer, target, on_progress)
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
        connection = self.connect(self._checked(request.target))
        try:
            return self.restore_into(store, artifact_dir, connection, request, on_progress)
        finally:
            connection.close()
