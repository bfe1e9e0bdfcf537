"""An online etcd snapshot, verified while it streams, stored as one zstd frame.

What etcd sends on Maintenance.Snapshot is what `etcdctl snapshot save`
writes: the member's bbolt database, then the 32-byte sha256 of it. We
compress those bytes unchanged into `snapshot.db.zst` (one frame named
"snapshot"), so `zstd -dc snapshot.db.zst > snapshot.db` gives a file that
`etcdutl snapshot restore` takes as it is.

The trailer is checked while streaming: the sha256 of everything but the
last 32 bytes must equal those 32 bytes, and the number of bytes must be
what the member announced (`remaining_bytes` of the first message). Only the
last 32 bytes are ever held back, so memory stays bounded whatever the
database size. The check happens inside the data file's block: a stream that
breaks, ends early or fails its checksum raises there, the store writer
aborts, and nothing is stored (no data file, no artifact.json).

Revision and key count: the member's revision is read just before the stream
starts, and again right after it ends. The snapshot is cut when the member
starts the stream, so writes in between make it newer than the first
reading. If both readings agree nothing was written in the whole window and
the revision is exact (`revision_exact`); otherwise the snapshot's revision
lies in [revision, revision_after] (the stream itself does not say: etcd
3.5 and 3.6 send no header with it; the snapshot file knows, which is for
offline inspection to read). `key_count` is a count-only Range over the
whole keyspace *at* `revision` (MVCC answers for a past revision exactly),
so it counts the snapshot's live keys whenever the revision is exact, and
the keys at the lower bound otherwise.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.errors import IntegrityError, SmokejumperError
from smokejumper.frames import DEFAULT_LEVEL, FrameSection
from smokejumper.sources.etcd.client import (
    EtcdClient,
    EtcdEndpoint,
    EtcdSnapshotError,
    pick_healthy,
)

__all__ = ["SNAPSHOT_FILE", "SNAPSHOT_FRAME", "TRAILER_SIZE", "SnapshotProgress", "backup_etcd"]

SNAPSHOT_FILE = "snapshot.db.zst"
SNAPSHOT_FRAME = "snapshot"
TRAILER_SIZE = 32

SnapshotProgress = Callable[[int, int | None], None]
"""Called after each chunk with (bytes received, bytes expected or None)."""

FORMAT = "etcd snapshot: bbolt database + 32-byte sha256 trailer (as etcdctl snapshot save writes)"


@dataclass(frozen=True)
class StreamedSnapshot:
    """What the stream turned out to hold, once its trailer checked."""

    size: int  # every byte, trailer included
    db_sha256: str  # the trailer, which is the sha256 of the database bytes
    seconds: float


class _TrailerCheck:
    """sha256 of everything but the last 32 bytes, holding back only those 32 bytes."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.tail = b""
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        if len(data) >= TRAILER_SIZE:
            self._digest.update(self.tail)
            self._digest.update(memoryview(data)[:-TRAILER_SIZE])
            self.tail = data[-TRAILER_SIZE:]
        else:
            joined = self.tail + data
            self._digest.update(joined[:-TRAILER_SIZE])
            self.tail = joined[-TRAILER_SIZE:]

    @property
    def computed(self) -> bytes:
        return self._digest.digest()


def stream_snapshot(
    client: EtcdClient,
    section: FrameSection,
    *,
    timeout: float | None = None,
    on_progress: SnapshotProgress | None = None,
) -> StreamedSnapshot:
    """Copy the snapshot stream into `section`; raise unless it is complete and its trailer checks."""
    where = str(client.endpoint)
    check = _TrailerCheck()
    expected: int | None = None
    started = time.monotonic()
    for chunk in client.snapshot(timeout=timeout):
        blob = chunk.blob
        if expected is None and blob:
            # The first data message tells the database size: what it holds plus what remains.
            expected = len(blob) + chunk.remaining_bytes + TRAILER_SIZE
        section.write(blob)
        check.update(blob)
        if on_progress is not None:
            on_progress(check.size, expected)
    if expected is not None and check.size > expected:
        raise EtcdSnapshotError(
            f"snapshot stream from etcd at {where} sent {check.size} bytes, more than the {expected} it announced; "
            "nothing was stored",
            hint="something between here and the member altered the stream: retry, and check proxies in between",
        )
    if check.size < TRAILER_SIZE or (expected is not None and check.size != expected):
        announced = f" of {expected}" if expected is not None else ""
        raise EtcdSnapshotError(
            f"snapshot stream from etcd at {where} ended early: {check.size}{announced} bytes received; "
            "nothing was stored",
            hint="the member or something in between closed the stream: retry",
        )
    if check.computed != check.tail:
        raise IntegrityError(
            f"snapshot from etcd at {where} failed its checksum: the sha256 of its {check.size - TRAILER_SIZE} "
            f"database bytes is {check.computed.hex()[:16]}…, its trailer says {check.tail.hex()[:16]}…; "
            "nothing was stored",
            hint="the data was damaged on the member or on the way: retry; if it repeats, check the member "
            "(etcdctl check perf, its disk) or snapshot another member",
        )
    return StreamedSnapshot(check.size, check.tail.hex(), time.monotonic() - started)


def backup_etcd(
    endpoints: Sequence[EtcdEndpoint],
    writer: ArtifactWriter,
    *,
    timeout: float | None = None,
    level: int = DEFAULT_LEVEL,
    on_progress: SnapshotProgress | None = None,
) -> ArtifactRecord:
    """Snapshot a healthy member of the cluster behind `endpoints` into `writer`'s artifact and commit it.

    `timeout` is the deadline of the snapshot stream as a whole (None: no
    deadline; each endpoint's own `timeout` bounds connecting and the short
    calls). Raises EtcdConnectionError (no usable member: the cause is
    named), EtcdSnapshotError (the stream broke or ended early) or
    IntegrityError (the trailer did not match); in all three cases nothing
    is stored.
    """
    client, before = pick_healthy(endpoints)
    with client:
        key_count = client.count_keys(before.revision)
        members = client.members()
        writer.source = {
            **before.record(),
            "endpoints": [str(endpoint) for endpoint in endpoints],
            "member_name": next((m["name"] for m in members if m["id"] == f"{before.member_id:x}"), None),
            "members": members,
            "tls": client.endpoint.secure,
        }
        taken_at = datetime.now(UTC)
        expected_size = before.db_size // 3 or None  # a guess at the compressed size, for S3 part sizes
        with (
            writer.data_file(SNAPSHOT_FILE, expected_size=expected_size, level=level) as frames,
            frames.frame(SNAPSHOT_FRAME) as section,
        ):
            # Raising in here aborts the store write: a snapshot that fails its check is never stored.
            streamed = stream_snapshot(client, section, timeout=timeout, on_progress=on_progress)
            section.meta = {"kind": "etcd-snapshot"}
        # The snapshot is stored and checked; what follows only describes it, and must not lose it.
        revision_after = _revision_now(client)
    writer.snapshot_point = {
        "revision": before.revision,
        "revision_exact": revision_after == before.revision,
        "revision_after": revision_after,
        "raft_term": before.raft_term,
        "raft_index": before.raft_index,
        "key_count": key_count,
        "taken_at": taken_at.isoformat(),
        "seconds": round(streamed.seconds, 3),
        "format": FORMAT,
        "snapshot_size": streamed.size,
        "db_size": streamed.size - TRAILER_SIZE,
        "db_sha256": streamed.db_sha256,
        "trailer_verified": True,
    }
    record, _digest = writer.commit()
    return record


def _revision_now(client: EtcdClient) -> int | None:
    try:
        return client.status().revision
    except SmokejumperError:
        return None
