"""Small real artifacts and runs for tests of the catalog, verify and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRef, RunManifest, new_run_id, run_dir, write_manifest
from smokejumper.store import Store, join_key

TABLES = {
    "public.orgs": b"".join(b"%d\torg-%d\n" % (i, i) for i in range(300)),
    "public.spaces": b"".join(b"%d\t%d\tspace-%d\n" % (i, i % 300, i) for i in range(2000)),
    "public.empty": b"",
}


def write_artifact(store: Store, artifact_dir: str, *, name: str = "ccdb", tables: dict[str, bytes] = TABLES) -> str:
    """A framed dump artifact; returns the sha256 of its artifact.json."""
    writer = ArtifactWriter(store, artifact_dir, engine="postgres", name=name)
    writer.source = {"server_version": "15.19", "database": name}
    with writer.data_file("dump.sql.zst") as frames:
        for table, data in tables.items():
            frames.write_frame(table, data, rows=data.count(b"\n"))
    _record, digest = writer.commit()
    return digest


def write_run(
    store: Store,
    *,
    started: datetime | None = None,
    databases: tuple[str, ...] = ("ccdb", "uaadb"),
    failed: tuple[str, ...] = (),
    plan: str = "example",
    run_id: str | None = None,
) -> RunManifest:
    """A committed run; `run_id` chooses the id (e.g. to order runs started in the same second)."""
    started = started or datetime.now(UTC)
    run_id = run_id or new_run_id(started)
    refs = []
    for name in databases:
        path = f"databases/{name}"
        if name in failed:
            refs.append(
                ArtifactRef(
                    path=path,
                    engine="postgres",
                    name=name,
                    status="failed",
                    error="connection lost",
                    error_type="SourceUnreachable",
                    seconds=30.0,
                )
            )
            continue
        digest = write_artifact(store, join_key(run_dir(run_id), path), name=name)
        size = store.size(join_key(run_dir(run_id), path, "dump.sql.zst"))
        refs.append(
            ArtifactRef(
                path=path,
                engine="postgres",
                name=name,
                status="succeeded",
                size=size,
                record_sha256=digest,
                seconds=1.5,
            )
        )
    manifest = RunManifest(
        plan=plan,
        run_id=run_id,
        status="failed" if failed else "succeeded",
        started_at=started,
        finished_at=started,
        artifacts=refs,
    )
    write_manifest(store, manifest)
    return manifest
