"""Parallel COPY streams that share the dump's snapshot.

The dump's own connection exports its snapshot (`pg_export_snapshot()`);
each helper connection opens a REPEATABLE READ READ ONLY transaction on that
very snapshot (`SET TRANSACTION SNAPSHOT`), so every stream sees the same
database. The work is cut into parts: a table, or, for a table larger than
`split_bytes` on PostgreSQL 14+ (which scans a ctid range without reading
the rest of the table), one range of its pages. Parts are processed in
waves, one part per stream: the dump's connection writes the first part of
a wave straight into the artifact while the helpers compress theirs into
spool files, which are then copied in after it, in order. So the frames
keep the tables' order, and a spool holds at most one part.

A helper takes its table's lock with NOWAIT, as pg_dump's workers do: the
dump's connection already holds ACCESS SHARE on every table, so a helper
could only wait behind someone's queued ACCESS EXCLUSIVE request, which
itself waits for the dump, forever. A helper that cannot have the lock
hands the part back, and the dump's connection copies it itself.
"""

from __future__ import annotations

import contextlib
import queue
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import pg8000.native

from smokejumper.frames import FrameInfo, FrameWriter
from smokejumper.sources.postgres.schema import Table

# A spool stays in memory up to this size, then moves to a temporary file.
SPOOL_IN_MEMORY = 16 * 1024 * 1024
# PostgreSQL 14 added TID range scans: before it, a ctid range reads the whole table.
TID_RANGE_SCAN_VERSION = 140000
LOCK_NOT_AVAILABLE = "55P03"
CLOSE_ERRORS = (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError)
# What pg_export_snapshot() returns, e.g. 00000003-0000001B-1: checked before it is put in SQL
# (SET TRANSACTION SNAPSHOT takes no parameters).
SNAPSHOT_ID = re.compile(r"^[0-9A-F]+(-[0-9A-F]+)+$")

Connect = Callable[[], pg8000.native.Connection]


@dataclass(frozen=True)
class Part:
    """What one COPY dumps: a whole table, or the pages [first_page, end_page) of it (end None: to the end)."""

    table: Table
    number: int = 1
    count: int = 1
    first_page: int = 0
    end_page: int | None = None

    @property
    def whole(self) -> bool:
        return self.count == 1

    def copy_sql(self) -> str:
        columns = ", ".join(self.table.columns)
        if self.whole:
            return f"COPY {self.table.qualified} ({columns}) TO STDOUT"
        # ONLY: COPY of a table never includes its inheritance children's rows, and neither may a part.
        condition = f"ctid >= '({self.first_page},0)'::pg_catalog.tid"
        if self.end_page is not None:
            condition += f" AND ctid < '({self.end_page},0)'::pg_catalog.tid"
        return f"COPY (SELECT {columns} FROM ONLY {self.table.qualified} WHERE {condition}) TO STDOUT"

    def meta(self) -> dict[str, object]:
        """What the artifact records about the part (nothing for a whole table)."""
        if self.whole:
            return {}
        return {"part": self.number, "parts": self.count, "pages": [self.first_page, self.end_page]}


def plan_parts(
    tables: list[Table], *, streams: int, split_bytes: int, block_size: int, server_version: int
) -> list[Part]:
    """The dump's parts, in table order; a table splits only when more than one stream can share it."""
    parts: list[Part] = []
    for table in tables:
        count = -(-table.estimated_bytes // split_bytes) if split_bytes > 0 else 1
        if streams < 2 or server_version < TID_RANGE_SCAN_VERSION or count < 2:
            parts.append(Part(table))
            continue
        pages = max(table.estimated_bytes // block_size, count)
        bounds = [pages * index // count for index in range(count)] + [None]
        # The last part is open-ended: the table may have grown since its size was read.
        parts.extend(Part(table, index + 1, count, bounds[index] or 0, bounds[index + 1]) for index in range(count))
    return parts


def waves(parts: list[Part], streams: int, split_bytes: int) -> Iterator[list[Part]]:
    """Groups of parts to copy at once. A large part that could not be split goes alone: a spool never
    holds more than one part of at most about `split_bytes` (a wave's first part is not spooled)."""
    wave: list[Part] = []
    for part in parts:
        shareable = part.table.estimated_bytes <= split_bytes or not part.whole
        if wave and (len(wave) == streams or not shareable):
            yield wave
            wave = []
        wave.append(part)
        if not shareable:
            yield wave
            wave = []
    if wave:
        yield wave


class HandedBack(Exception):
    """A helper could not lock the part's table without waiting: the dump's connection copies it."""


Spooled = tuple[FrameInfo, IO[bytes]]
CopyPart = Callable[[pg8000.native.Connection, FrameWriter, Part], None]


class Helpers:
    """Helper connections on the dump's snapshot, each used by one thread at a time."""

    def __init__(self, connect: Connect, snapshot_id: str, count: int, *, level: int) -> None:
        self._idle: queue.SimpleQueue[pg8000.native.Connection] = queue.SimpleQueue()
        self._all: list[pg8000.native.Connection] = []
        self._level = level
        try:
            for _ in range(count):
                connection = connect()
                self._all.append(connection)
                connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                connection.run(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
                connection.run("SET LOCAL statement_timeout = 0")
                connection.run("SELECT pg_catalog.set_config('search_path', '', true)")
                self._idle.put(connection)
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="copy-stream")

    def submit(self, part: Part, copy_part: CopyPart) -> Future[Spooled]:
        return self._pool.submit(self._spool, part, copy_part)

    def _spool(self, part: Part, copy_part: CopyPart) -> Spooled:
        connection = self._idle.get()
        try:
            _lock_nowait(connection, part.table)
            # Closed by the caller once copied into the artifact (or on failure here).
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            try:
                frames = FrameWriter(spool, level=self._level)
                copy_part(connection, frames, part)
            except BaseException:
                spool.close()
                raise
            return frames.frames[0], spool
        finally:
            self._idle.put(connection)

    def close(self) -> None:
        """End the helpers' transactions; closing their sockets also stops a COPY still running."""
        pool = getattr(self, "_pool", None)
        for connection in self._all:
            # One already broken has nothing left to release.
            with contextlib.suppress(*CLOSE_ERRORS):
                connection.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _lock_nowait(connection: pg8000.native.Connection, table: Table) -> None:
    connection.run("SAVEPOINT part_lock")
    try:
        connection.run(f"LOCK TABLE {table.qualified} IN ACCESS SHARE MODE NOWAIT")
    except pg8000.native.DatabaseError as exc:
        detail = exc.args[0] if exc.args else {}
        if isinstance(detail, dict) and detail.get("C") == LOCK_NOT_AVAILABLE:
            connection.run("ROLLBACK TO SAVEPOINT part_lock")
            raise HandedBack(table.qualified) from exc
        raise
    connection.run("RELEASE SAVEPOINT part_lock")


@contextmanager
def open_helpers(
    connection: pg8000.native.Connection,
    connect: Connect | None,
    streams: int,
    *,
    level: int,
    opening_errors: tuple[type[BaseException], ...],
    explain: Callable[[BaseException], str],
) -> Iterator[tuple[Helpers | None, str | None]]:
    """Helpers for `streams - 1` more streams, or (None, why not) when there is to be only one.

    A helper that cannot connect (max_connections reached, say) is no reason to
    fail a backup: the dump then runs on its own connection, and says so.
    """
    if streams < 2 or connect is None:
        yield None, None
        return
    # Not in a savepoint: a snapshot can be exported only from the top transaction.
    snapshot_id = connection.run("SELECT pg_catalog.pg_export_snapshot()")[0][0]
    if not SNAPSHOT_ID.match(snapshot_id):
        raise ValueError(f"pg_export_snapshot() returned {snapshot_id!r}, not a snapshot id")
    try:
        helpers = Helpers(connect, snapshot_id, streams - 1, level=level)
    except opening_errors as exc:
        why_not = f"one stream only: another could not start: {explain(exc)}"
    else:
        why_not = None
    if why_not is not None:
        yield None, why_not
        return
    try:
        yield helpers, None
    finally:
        helpers.close()
