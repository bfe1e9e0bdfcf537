"""The one protocol every source implements, and the registry that finds a source by engine.

A source backs up one item (a database, an etcd cluster; EBS volumes next)
into an artifact directory of a store and returns the committed record with
the sha256 of its artifact.json (what a run's manifest holds); it restores
from such a directory. It connects to its target itself but never opens a
store: it is handed one. The CLI, the Lambda handlers and the runs module
pick a source with `source_for(engine)` and call these two methods, so no
caller holds logic another lacks.

Engine modules are imported on first use: the etcd source loads gRPC, which
a PostgreSQL backup should not pay for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from smokejumper.errors import UsageError

if TYPE_CHECKING:
    from smokejumper.artifact import ArtifactWriter
    from smokejumper.catalog import ArtifactRecord
    from smokejumper.sources.dsn import DatabaseTarget
    from smokejumper.store import Store

Progress = Callable[[str, int, int], None]
"""Called as work is done: (what, rows, bytes) - a table dumped or restored, a piece of a snapshot."""


@dataclass(frozen=True)
class BackupResult:
    """A committed artifact: its record, and the sha256 of its artifact.json for the run's manifest."""

    record: ArtifactRecord
    record_sha256: str

    @classmethod
    def of(cls, writer: ArtifactWriter) -> BackupResult:
        """What `writer` committed (a source calls this after its engine's dump returned)."""
        if writer.record is None or writer.record_sha256 is None:
            raise AssertionError("the artifact was not committed")
        return cls(writer.record, writer.record_sha256)


@dataclass(frozen=True)
class DatabaseRestore:
    """Restore a database dump into `target` (which must be empty unless `clean`)."""

    target: DatabaseTarget
    tables: tuple[str, ...] = ()
    clean: bool = False
    # pg_restore's names: leave out ALTER ... OWNER TO, or GRANT/REVOKE (PostgreSQL only).
    no_owner: bool = False
    no_privileges: bool = False


@dataclass(frozen=True)
class EtcdRestore:
    """Write an etcd restore kit (snapshot, per-member scripts, runbook) into the new directory `out`."""

    members: tuple[Any, ...]  # sources.etcd.restore_kit.Member
    out: Path
    data_dir: str = "/var/lib/etcd"
    bump_revision: int = 1_000_000_000
    cluster_token: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """What PostgreSQL, MySQL and etcd (and EBS volumes next) implement, with the same signatures."""

    engine: ClassVar[str]
    component: ClassVar[str]  # the plan's section: "databases", "etcd" or "volumes"

    def backup(
        self,
        target: Any,
        store: Store,
        artifact_dir: str,
        *,
        name: str,
        on_progress: Progress | None = None,
    ) -> BackupResult:
        """Back up `target` into `artifact_dir` of `store`; nothing is left there on failure."""
        ...

    def restore(
        self,
        store: Store,
        artifact_dir: str,
        request: Any,
        *,
        on_progress: Progress | None = None,
    ) -> Any:
        """Restore from the artifact at `artifact_dir` of `store`, checking every byte first."""
        ...


# engine -> "module:Class"; imported when first asked for.
_REGISTRY: dict[str, str] = {
    "postgres": "smokejumper.sources.postgres.source:PostgresSource",
    "mysql": "smokejumper.sources.mysql.source:MysqlSource",
    "etcd": "smokejumper.sources.etcd.source:EtcdSource",
    "ebs": "smokejumper.sources.volumes.source:VolumesSource",
}
ENGINES: tuple[str, ...] = tuple(_REGISTRY)


def source_class(engine: str) -> type[Source]:
    """The source class for `engine`; UsageError naming the known engines for any other."""
    location = _REGISTRY.get(engine)
    if location is None:
        raise UsageError(f"no source for engine {engine!r}", hint=f"known engines: {', '.join(ENGINES)}")
    module, _, name = location.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def source_for(engine: str, **options: Any) -> Source:
    """A source for `engine`, with its engine-specific options (defaults where not given)."""
    return source_class(engine)(**options)


def check_engine(record_engine: str, engine: str, where: str) -> None:
    """Refuse an artifact of another engine, naming the command that restores it."""
    if record_engine == engine:
        return
    if record_engine in _REGISTRY:
        hint = f"it is restored with `smokejumper restore {record_engine}`"
        if record_engine == "etcd":
            hint = "an etcd snapshot is restored with `smokejumper etcd restore-kit --from ...`"
    else:
        hint = f"smokejumper has no restore for {record_engine!r} artifacts"
    raise UsageError(f"{where} holds a {record_engine} artifact, not a {engine} one", hint=hint)


__all__ = [
    "ENGINES",
    "BackupResult",
    "DatabaseRestore",
    "EtcdRestore",
    "Progress",
    "Source",
    "check_engine",
    "source_class",
    "source_for",
]
