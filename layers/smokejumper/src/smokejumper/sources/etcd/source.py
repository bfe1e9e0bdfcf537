"""etcd as a source (see smokejumper.sources.base): a verified snapshot, and the restore kit made from one."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import ClassVar

from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.base import BackupResult, EtcdRestore, Progress
from smokejumper.sources.etcd.client import EtcdEndpoint
from smokejumper.sources.etcd.credentials import endpoints_from_secret
from smokejumper.sources.etcd.offline import FetchedSnapshot, fetch_artifact_snapshot, scratch_directory
from smokejumper.sources.etcd.restore_kit import RestoreKit, write_restore_kit
from smokejumper.sources.etcd.snapshot import backup_etcd
from smokejumper.store import Store
from smokejumper.targets import EtcdTarget


class EtcdSource:
    engine: ClassVar[str] = "etcd"
    component: ClassVar[str] = "etcd"

    def __init__(self, *, timeout: float | None = None) -> None:
        # Deadline of the snapshot stream as a whole (None: none; connecting has its own).
        self.timeout = timeout

    def backup(
        self,
        target: EtcdTarget,
        store: Store,
        artifact_dir: str,
        *,
        name: str,
        on_progress: Progress | None = None,
    ) -> BackupResult:
        seen = 0

        def snapshot_progress(received: int, _expected: int | None) -> None:
            nonlocal seen
            if on_progress:
                on_progress("snapshot", 0, received - seen)
            seen = received

        with ExitStack() as stack:
            if target.secret is not None:
                # Written to private temp files for the snapshot's time only (gRPC reads files).
                endpoints = stack.enter_context(endpoints_from_secret(target.endpoints, target.secret))
            else:
                endpoints = [
                    EtcdEndpoint(
                        url,
                        ca_file=target.ca_file,
                        cert_file=target.cert_file,
                        key_file=target.key_file,
                        user=target.user,
                        password=target.password,
                    )
                    for url in target.endpoints
                ]
            writer = ArtifactWriter(store, artifact_dir, engine=self.engine, name=name)
            backup_etcd(endpoints, writer, timeout=self.timeout, on_progress=snapshot_progress)
        return BackupResult.of(writer)

    def restore(
        self,
        store: Store,
        artifact_dir: str,
        request: EtcdRestore,
        *,
        on_progress: Progress | None = None,
    ) -> RestoreKit:
        artifact = store.child(artifact_dir) if artifact_dir else store
        with scratch_directory() as scratch:
            fetched = fetch_artifact_snapshot(
                artifact,
                Path(scratch),
                progress=(lambda size: on_progress("fetching", 0, size)) if on_progress else None,
            )
            return restore_kit_from(fetched, request)


def restore_kit_from(fetched: FetchedSnapshot, request: EtcdRestore) -> RestoreKit:
    """The kit for a snapshot on local disk; what its artifact record says of it goes into kit.json."""
    source = dict(request.source)
    if fetched.record is not None:
        source |= {
            "cluster": fetched.record.name,
            "taken at": fetched.record.snapshot_point.get("taken_at"),
            "cluster id": fetched.record.source.get("cluster_id"),
        }
    # Checks the trailer and reads every page before it writes anything.
    return write_restore_kit(
        fetched.path,
        list(request.members),
        request.out,
        data_dir=request.data_dir,
        bump_revision=request.bump_revision,
        cluster_token=request.cluster_token,
        source=source,
    )
