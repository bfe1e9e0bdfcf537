"""Re-read stored artifacts and runs and check every byte against its record.

Verification never stops at the first problem: it lists every one it finds,
each saying where (file, frame, offset) and what is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from smokejumper.catalog import (
    ARTIFACT_RECORD,
    MANIFEST,
    ArtifactRecord,
    DataFile,
    FrameEntry,
    RunManifest,
    parse_record,
    read_artifact_record,
)
from smokejumper.errors import IntegrityError, NotFoundError, SmokejumperError
from smokejumper.frames import FrameInfo, decompress_frame
from smokejumper.store import Store, join_key
from smokejumper.store.base import READ_CHUNK

Progress = Callable[[int], None]
"""Called with the number of bytes just checked."""


@dataclass
class VerifyReport:
    url: str
    kind: Literal["artifact", "run"]
    problems: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def total_bytes(store: Store) -> int:
    """Bytes a verify of this artifact or run directory will read (for progress bars)."""
    return sum(store.size(key) for key in store.list_keys() if not key.endswith(".json"))


def index_problems(data_file: DataFile, actual_size: int) -> list[str]:
    """Check that the frame index tiles the file exactly, before reading any data."""
    problems = []
    name = data_file.name
    if actual_size != data_file.size:
        shape = "truncated" if actual_size < data_file.size else "longer than recorded"
        problems.append(f"{name}: {shape}: is {actual_size} bytes, record says {data_file.size}")
    position = 0
    for number, frame in enumerate(data_file.frames, 1):
        label = f"{name}: frame {number} {frame.name!r}"
        if frame.offset > position:
            problems.append(
                f"{label}: bytes {position}..{frame.offset - 1} are in no frame (a frame is missing from the index)"
            )
        elif frame.offset < position:
            problems.append(f"{label}: starts at {frame.offset}, inside the previous frame (ends at {position})")
        position = max(position, frame.offset + frame.length)
    if position < data_file.size:
        problems.append(f"{name}: bytes {position}..{data_file.size - 1} are in no frame (a frame is missing)")
    if position > data_file.size:
        problems.append(f"{name}: frames extend to byte {position}, past the recorded size {data_file.size}")
    if sum(frame.uncompressed_size for frame in data_file.frames) != data_file.uncompressed_size:
        problems.append(f"{name}: frame sizes do not add up to the recorded uncompressed size")
    return problems


def _read_exactly(stream: BinaryIO, length: int, on_bytes: Callable[[bytes], None]) -> Iterator[bytes]:
    while length > 0:
        chunk = stream.read(min(READ_CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)
        on_bytes(chunk)
        yield chunk


def verify_data_file(
    store: Store, artifact_dir: str, data_file: DataFile, progress: Progress | None = None
) -> list[str]:
    """Stream the file once, checking each frame and the whole-file digests."""
    key = join_key(artifact_dir, data_file.name)
    try:
        actual_size = store.size(key)
    except NotFoundError:
        return [f"{data_file.name}: missing (record lists it, store has no {key})"]
    problems = index_problems(data_file, actual_size)
    file_digest = hashlib.sha256()
    # Only records of schema version 1 carry a digest of the whole decompressed content.
    content_digest = hashlib.sha256() if data_file.uncompressed_sha256 is not None else None
    read = 0

    def on_bytes(chunk: bytes) -> None:
        nonlocal read
        file_digest.update(chunk)
        read += len(chunk)
        if progress:
            progress(len(chunk))

    frames_ok = True
    with store.open_read(key) as stream:
        for number, entry in enumerate(sorted(data_file.frames, key=lambda frame: frame.offset), 1):
            if entry.offset >= actual_size and read == actual_size:
                frames_ok = False
                problems.append(
                    f"{data_file.name}: frame {number} {entry.name!r} (offset {entry.offset}): missing, "
                    f"the file ends at byte {actual_size}"
                )
                continue
            if entry.offset != read:  # index gap or overlap, already reported
                frames_ok = False
                break
            frame = FrameInfo(**entry.model_dump())
            chunks = _read_exactly(stream, entry.length, on_bytes)
            try:
                for out in decompress_frame(chunks, frame):
                    if content_digest is not None:
                        content_digest.update(out)
            except IntegrityError as exc:
                frames_ok = False
                problems.append(f"{data_file.name}: {exc.message}")
                for _ in chunks:  # skip the rest of the bad frame, keep checking the next ones
                    pass
        for chunk in iter(lambda: stream.read(READ_CHUNK), b""):
            on_bytes(chunk)
    if file_digest.hexdigest() != data_file.sha256 and read == data_file.size:
        problems.append(f"{data_file.name}: sha256 of the file does not match the record")
    if frames_ok and content_digest is not None and content_digest.hexdigest() != data_file.uncompressed_sha256:
        problems.append(f"{data_file.name}: sha256 of the decompressed content does not match the record")
    return problems


def verify_artifact(
    store: Store, artifact_dir: str = "", progress: Progress | None = None
) -> tuple[ArtifactRecord, list[str]]:
    record, _digest = read_artifact_record(store, artifact_dir)
    problems = []
    for data_file in record.files:
        problems.extend(verify_data_file(store, artifact_dir, data_file, progress))
    return record, problems


def verify_run(store: Store, progress: Progress | None = None) -> tuple[RunManifest, VerifyReport]:
    """Verify a run directory: manifest, every artifact it lists, every byte."""
    manifest = parse_record(RunManifest, store.get_bytes(MANIFEST), f"{store.url}/{MANIFEST}")
    report = VerifyReport(store.url, "run")
    for ref in manifest.artifacts:
        if ref.status != "succeeded":
            continue  # a failed artifact has no data to check; the manifest already says so
        record_key = join_key(ref.path, ARTIFACT_RECORD)
        try:
            data = store.get_bytes(record_key)
        except NotFoundError:
            report.problems.append(f"{ref.path}: listed in the manifest, but {record_key} does not exist")
            continue
        if ref.record_sha256 and hashlib.sha256(data).hexdigest() != ref.record_sha256:
            report.problems.append(f"{ref.path}: {ARTIFACT_RECORD} differs from the one the manifest recorded")
        try:
            record, problems = verify_artifact(store, ref.path, progress)
        except SmokejumperError as exc:
            report.problems.append(f"{ref.path}: {exc.message}")
            continue
        report.artifacts.append(ref.path)
        report.bytes_checked += record.size
        report.problems.extend(f"{ref.path}/{problem}" for problem in problems)
    return manifest, report


def verify_location(store: Store, progress: Progress | None = None) -> VerifyReport:
    """Verify whatever the store is rooted at: an artifact directory or a run directory."""
    if store.exists(ARTIFACT_RECORD):
        record, problems = verify_artifact(store, "", progress)
        report = VerifyReport(store.url, "artifact", problems, [""], record.size)
        return report
    if store.exists(MANIFEST):
        return verify_run(store, progress)[1]
    raise NotFoundError(
        f"nothing to verify at {store.url}: it holds neither {ARTIFACT_RECORD} nor {MANIFEST}",
        hint="point at an artifact directory (…/runs/RUN_ID/databases/NAME) or a run (…/runs/RUN_ID)",
    )


__all__ = ["FrameEntry", "VerifyReport", "total_bytes", "verify_artifact", "verify_location", "verify_run"]
