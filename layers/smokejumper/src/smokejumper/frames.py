"""Independent zstd frames, one per logical section of an artifact.

A dump is a sequence of zstd frames written back to back. The standard
`zstd -d` decompresses the whole file (concatenated frames are one valid
stream), while the frame index (offset, length, sha256 of each frame) lets a
reader fetch and check one section with a ranged read.

The sha256 digests cover the stored (compressed) bytes: each frame's and the
whole file's. Decompression is deterministic, so they bind the content too,
and every frame carries zstd's own content checksum (XXH64, checked by any
zstd decoder) against a fault while decompressing. Digests of the
uncompressed bytes are no longer computed (two more sha256 passes over every
byte, a third of a PostgreSQL backup's CPU, for nothing the stored digests
miss); records written with them are still checked against them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import IO, Any, Protocol

import zstandard

from smokejumper.errors import IntegrityError

DEFAULT_LEVEL = 3
APPEND_CHUNK = 1024 * 1024


class Sink(Protocol):
    """Anything with write(bytes): a store writer, a file."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class FrameInfo:
    """Where one frame lies in the compressed file and what it holds."""

    name: str
    offset: int
    length: int
    sha256: str
    uncompressed_size: int
    uncompressed_sha256: str | None = None  # only in records written before 0.2
    rows: int | None = None
    # What the engine needs to use this section alone (e.g. a table's COPY header length).
    meta: dict[str, Any] = field(default_factory=dict)


class FrameSection:
    """The open frame being written: feed it uncompressed bytes."""

    def __init__(self, compressor: zstandard.ZstdCompressor, emit: Callable[[bytes], None]) -> None:
        self._compress = compressor.compressobj()
        self._emit = emit
        self.uncompressed_size = 0
        self.rows: int | None = None
        self.meta: dict[str, Any] = {}

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.uncompressed_size += size
        out = self._compress.compress(data)
        if out:
            self._emit(out)
        return size

    def _finish(self) -> None:
        self._emit(self._compress.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))


class FrameWriter:
    """Writes named frames to a sink and keeps their index.

    The file's overall sha256 covers every frame in order, so a reader can
    check the whole file as well as each section.
    """

    def __init__(self, sink: Sink, *, level: int = DEFAULT_LEVEL) -> None:
        self._sink = sink
        # The frame checksum lets plain `zstd -d` detect corruption too.
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self.frames: list[FrameInfo] = []
        self.size = 0
        self._digest = hashlib.sha256()
        self.uncompressed_size = 0
        self._open = False

    @contextmanager
    def frame(self, name: str) -> Iterator[FrameSection]:
        """Write one frame; the index entry is added only if the block succeeds."""
        if self._open:
            raise RuntimeError("frames do not nest: close the open frame first")
        self._open = True
        offset = self.size
        frame_digest = hashlib.sha256()

        def emit(data: bytes) -> None:
            self._sink.write(data)
            frame_digest.update(data)
            self._digest.update(data)
            self.size += len(data)

        section = FrameSection(self._compressor, emit)
        try:
            yield section
            section._finish()
        finally:
            self._open = False
        self.uncompressed_size += section.uncompressed_size
        self.frames.append(
            FrameInfo(
                name=name,
                offset=offset,
                length=self.size - offset,
                sha256=frame_digest.hexdigest(),
                uncompressed_size=section.uncompressed_size,
                rows=section.rows,
                meta=section.meta,
            )
        )

    def append(self, frame: FrameInfo, source: IO[bytes]) -> FrameInfo:
        """Copy in a frame another FrameWriter wrote to `source` (its only frame), checking its bytes.

        Lets frames be compressed in parallel, each into its own spool, and
        still land in this file in order.
        """
        if self._open:
            raise RuntimeError("frames do not nest: close the open frame first")
        source.seek(0)
        offset = self.size
        frame_digest = hashlib.sha256()
        while data := source.read(APPEND_CHUNK):
            self._sink.write(data)
            frame_digest.update(data)
            self._digest.update(data)
            self.size += len(data)
        if (self.size - offset, frame_digest.hexdigest()) != (frame.length, frame.sha256):
            raise IntegrityError(f"frame {frame.name!r}: its spool does not hold the bytes that were written to it")
        self.uncompressed_size += frame.uncompressed_size
        self.frames.append(replace(frame, offset=offset))
        return self.frames[-1]

    def write_frame(
        self, name: str, data: bytes, *, rows: int | None = None, meta: dict[str, Any] | None = None
    ) -> FrameInfo:
        with self.frame(name) as section:
            section.write(data)
            section.rows = rows
            section.meta = meta or {}
        return self.frames[-1]

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


OUTPUT_CHUNK = 1024 * 1024


class _HashingReader:
    """A file-like view of an iterator of chunks that hashes and counts what is read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.digest = hashlib.sha256()
        self.seen = 0

    def read(self, size: int = -1) -> bytes:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        if size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        self.digest.update(data)
        self.seen += len(data)
        return data


def decompress_frame(chunks: Iterable[bytes], frame: FrameInfo) -> Iterator[bytes]:
    """Decompress one frame's bytes, checking length, sha256 and content against the index.

    Yields decompressed data in pieces of at most 1 MiB, whatever the
    compression ratio (a table of zeros compresses ~10,000:1), so memory stays
    bounded. Raises IntegrityError (after the last piece at the latest) if
    anything does not match the index. Callers that must not act on bad data
    verify first, then decompress again.
    """
    where = f"frame {frame.name!r} (offset {frame.offset}, length {frame.length})"
    source = _HashingReader(chunks)
    # zstd checks each frame's content checksum itself; a sha256 of the content only for old records.
    uncompressed_digest = hashlib.sha256() if frame.uncompressed_sha256 is not None else None
    produced = 0
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, closefd=False)
    try:
        while out := reader.read(OUTPUT_CHUNK):
            if uncompressed_digest is not None:
                uncompressed_digest.update(out)
            produced += len(out)
            yield out
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{where}: not valid zstd data ({exc})") from exc
    while source.read(OUTPUT_CHUNK):  # anything zstd did not need still counts toward the length
        pass
    if source.seen != frame.length:
        raise IntegrityError(f"{where}: read {source.seen} bytes, index says {frame.length} (truncated file?)")
    if source.digest.hexdigest() != frame.sha256:
        raise IntegrityError(
            f"{where}: sha256 mismatch: index says {frame.sha256[:16]}…, data has {source.digest.hexdigest()[:16]}…"
        )
    if produced != frame.uncompressed_size:
        raise IntegrityError(f"{where}: decompressed {produced} bytes, index says {frame.uncompressed_size}")
    if uncompressed_digest is not None and uncompressed_digest.hexdigest() != frame.uncompressed_sha256:
        raise IntegrityError(f"{where}: decompressed content does not match the index")
