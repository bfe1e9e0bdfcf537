"""Writing one artifact directory: framed data files, then artifact.json.

This is the path every source takes: source -> stream -> zstd frames ->
sha256 -> store -> artifact record. The record is written last, so a
directory without artifact.json is not an artifact, whatever else it holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from smokejumper.catalog import (
    ArtifactRecord,
    DataFile,
    FrameEntry,
    write_artifact_record,
)
from smokejumper.errors import IntegrityError
from smokejumper.frames import DEFAULT_LEVEL, FrameInfo, FrameWriter, decompress_frame
from smokejumper.store import Store, join_key


class ArtifactWriter:
    """Collects an artifact's data files and commits its record.

    `source` and `snapshot_point` are filled in by the engine as it learns
    them (server version, LSN, revision ...).
    """

    def __init__(self, store: Store, artifact_dir: str, *, engine: str, name: str) -> None:
        self.store = store
        self.artifact_dir = artifact_dir
        self.engine = engine
        self.name = name
        self.source: dict[str, Any] = {}
        self.snapshot_point: dict[str, Any] = {}
        self.started_at = datetime.now(UTC)
        self.files: list[DataFile] = []
        self.record: ArtifactRecord | None = None
        self.record_sha256: str | None = None  # of artifact.json, once committed: what the run's manifest holds

    @contextmanager
    def data_file(
        self, filename: str, *, expected_size: int | None = None, level: int = DEFAULT_LEVEL
    ) -> Iterator[FrameWriter]:
        """Stream one framed data file; it is committed when the block ends without error."""
        key = join_key(self.artifact_dir, filename)
        with self.store.writer(key, expected_size=expected_size) as out:
            frames = FrameWriter(out, level=level)
            yield frames
        stored = out.result
        assert stored is not None
        if (stored.size, stored.sha256) != (frames.size, frames.sha256):
            # Would mean the store wrote other bytes than it was given.
            raise IntegrityError(f"{self.store.url}/{key}: stored bytes differ from the bytes written")
        self.files.append(
            DataFile(
                name=filename,
                size=frames.size,
                sha256=frames.sha256,
                uncompressed_size=frames.uncompressed_size,
                frames=[FrameEntry(**vars(frame)) for frame in frames.frames],
            )
        )

    def commit(self) -> tuple[ArtifactRecord, str]:
        """Write artifact.json; returns the record and its sha256 (for the run manifest)."""
        record = ArtifactRecord(
            engine=self.engine,
            name=self.name,
            source=self.source,
            snapshot_point=self.snapshot_point,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            files=self.files,
        )
        digest = write_artifact_record(self.store, self.artifact_dir, record)
        self.record, self.record_sha256 = record, digest
        return record, digest


def read_frame(store: Store, key: str, frame: FrameEntry) -> Iterator[bytes]:
    """One frame's decompressed bytes, fetched with a ranged read and checked against the index
    (IntegrityError after the last piece at the latest)."""
    chunks = store.iter_chunks(key, start=frame.offset, length=frame.length)
    return decompress_frame(chunks, FrameInfo(**frame.model_dump()))


def verify_stored_frames(store: Store, key: str, frames: Sequence[FrameEntry]) -> int:
    """Check every frame's stored bytes (length and sha256) before anything is applied; returns bytes checked.

    Matching compressed bytes decompress to exactly what was dumped, so this
    pass need not decompress; `read_frame` checks each frame again (sha256 and
    zstd's content checksum) while a restore applies it.
    """
    problems = []
    for frame in frames:
        digest = hashlib.sha256()
        seen = 0
        for chunk in store.iter_chunks(key, start=frame.offset, length=frame.length):
            digest.update(chunk)
            seen += len(chunk)
        where = f"frame {frame.name!r} (offset {frame.offset}, length {frame.length})"
        if seen != frame.length:
            problems.append(f"{where}: read {seen} bytes, index says {frame.length} (truncated file?)")
        elif digest.hexdigest() != frame.sha256:
            problems.append(f"{where}: sha256 mismatch (damaged or altered)")
    if problems:
        raise IntegrityError(
            "the dump is damaged, nothing was restored:\n  " + "\n  ".join(problems),
            hint="restore from another run (`smokejumper runs list`), or check the copy with `smokejumper verify`",
        )
    return sum(frame.length for frame in frames)
