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

A helper takes its locks without waiting, as pg_dump's workers do: the
dump's connection already holds ACCESS SHARE on every table (and, for a
split table, on its indexes, which planning a ctid range query locks), so a
helper could only wait behind someone's queued exclusive request (ALTER
TABLE, REINDEX), which itself waits for the dump: forever, and the server
cannot see that cycle. A helper that cannot have its locks at once hands the
part back, and the dump's connection copies it itself. Every helper wait is
also bounded by the dump's lock timeout.

On failure the helpers' sockets are shut down first: a COPY in progress then
ends at once instead of running to its end.
"""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import pg8000.native

from smokejumper.errors import SmokejumperError
from smokejumper.frames import FrameInfo, FrameWriter
from smokejumper.sources.postgres.schema import Table

# A spool stays in memory up to this size, then moves to a temporary file.
SPOOL_IN_MEMORY = 16 * 1024 * 1024
# PostgreSQL 14 added TID range scans: before it, a ctid range reads the whole table.
TID_RANGE_SCAN_VERSION = 140000
LOCK_NOT_AVAILABLE = "55P03"
# How long a helper waits for a lock before it hands the part back (ms).
PROBE_LOCK_TIMEOUT_MS = 200
CLOSE_ERRORS = (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError)
# What pg_export_snapshot() returns, e.g. 00000003-0000001B-1: checked before it is put in SQL
# (SET TRANSACTION SNAPSHOT takes no parameters).
SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")

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
        if self.whole:
            return f"COPY {self.table.qualified} ({', '.join(self.table.columns)}) TO STDOUT"
        return f"COPY ({self.select_sql()}) TO STDOUT"

    def select_sql(self) -> str:
        """The rows of a page range (planning it locks the table's indexes)."""
        # ONLY: COPY of a table never includes its inheritance children's rows, and neither may a part.
        condition = f"ctid >= '({self.first_page},0)'::pg_catalog.tid"
        if self.end_page is not None:
            condition += f" AND ctid < '({self.end_page},0)'::pg_catalog.tid"
        return f"SELECT {', '.join(self.table.columns)} FROM ONLY {self.table.qualified} WHERE {condition}"

    def meta(self) -> dict[str, object]:
        """What the artifact records about the part (nothing for a whole table)."""
        if self.whole:
            return {}
        return {"part": self.number, "parts": self.count, "pages": [self.first_page, self.end_page]}


def plan_parts(
    tables: list[Table], *, streams: int, split_bytes: int, block_size: int, server_version: int
) -> list[Part]:
    """The dump's parts, in table order; a table splits only when more than one stream can share it.

    How many parts: from the table's size with its TOAST data; where they
    lie: from its own pages (a TOAST value is read with the row that owns it).
    """
    parts: list[Part] = []
    for table in tables:
        count = -(-table.estimated_bytes // split_bytes) if split_bytes > 0 else 1
        if streams < 2 or server_version < TID_RANGE_SCAN_VERSION or count < 2:
            parts.append(Part(table))
            continue
        pages = max(table.heap_bytes // block_size, count)
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
    """A helper could not have the part's locks without waiting: the dump's connection copies it."""


class SnapshotExportError(SmokejumperError):
    """The dump's snapshot could not be exported for helper streams."""


Spooled = tuple[FrameInfo, IO[bytes]]
CopyPart = Callable[[pg8000.native.Connection, FrameWriter, Part], FrameInfo]
Prepare = Callable[[pg8000.native.Connection], None]


def hold_index_locks(connection: pg8000.native.Connection, parts: list[Part]) -> None:
    """Lock, for the dump's whole transaction, the indexes of every split table (planning a part locks them).

    Then a REINDEX or DROP INDEX waits for the dump, as an ALTER TABLE does,
    instead of standing between the dump's own connection and its next part.
    """
    for part in parts:
        if part.number == 1 and not part.whole:
            connection.run(f"EXPLAIN {part.select_sql()}")


class Helpers:
    """Helper connections on the dump's snapshot, each used by one thread at a time."""

    def __init__(
        self,
        connections: list[pg8000.native.Connection],
        *,
        level: int,
        lock_timeout_ms: int,
    ) -> None:
        self._idle: queue.SimpleQueue[pg8000.native.Connection] = queue.SimpleQueue()
        self._all = connections
        for connection in connections:
            self._idle.put(connection)
        self._level = level
        self._lock_timeout_ms = lock_timeout_ms
        self._futures: list[Future[Spooled]] = []
        self._pool = ThreadPoolExecutor(max_workers=len(connections), thread_name_prefix="copy-stream")

    @property
    def count(self) -> int:
        return len(self._all)

    def submit(self, part: Part, copy_part: CopyPart) -> Future[Spooled]:
        future = self._pool.submit(self._spool, part, copy_part)
        self._futures.append(future)
        return future

    def _spool(self, part: Part, copy_part: CopyPart) -> Spooled:
        connection = self._idle.get()
        try:
            self._take_locks(connection, part)
            # Closed by the caller once copied into the artifact, or by close().
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

    def _take_locks(self, connection: pg8000.native.Connection, part: Part) -> None:
        """The part's table lock, and its indexes' for a page range, at once or not at all (HandedBack)."""
        connection.run("SAVEPOINT part_locks")
        try:
            # Undone with the savepoint when the locks cannot be had; reset below when they can.
            connection.run(f"SET LOCAL lock_timeout = {PROBE_LOCK_TIMEOUT_MS}")
            connection.run(f"LOCK TABLE {part.table.qualified} IN ACCESS SHARE MODE NOWAIT")
            if not part.whole:
                connection.run(f"EXPLAIN {part.select_sql()}")
        except pg8000.native.DatabaseError as exc:
            detail = exc.args[0] if exc.args else {}
            if isinstance(detail, dict) and detail.get("C") == LOCK_NOT_AVAILABLE:
                connection.run("ROLLBACK TO SAVEPOINT part_locks")
                raise HandedBack(part.table.qualified) from exc
            raise
        connection.run("RELEASE SAVEPOINT part_locks")
        connection.run(f"SET LOCAL lock_timeout = {int(self._lock_timeout_ms)}")

    def close(self, *, abort: bool) -> None:
        """Stop the helpers and end their transactions. With `abort`, a COPY still running stops at once:
        its socket is shut down (closing a connection alone would let the stream run on to its end)."""
        if abort:
            for connection in self._all:
                with contextlib.suppress(OSError):
                    connection._usock.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for connection in self._all:
            # One already broken has nothing left to release.
            with contextlib.suppress(*CLOSE_ERRORS):
                connection.close()
        for future in self._futures:  # spools of parts never copied in (closing twice is harmless)
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result()[1].close()


def _open_helper(connect: Connect, snapshot_id: str, prepare: Prepare) -> pg8000.native.Connection:
    connection = connect()
    try:
        connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        connection.run(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
        prepare(connection)
    except BaseException:
        with contextlib.suppress(*CLOSE_ERRORS):
            connection.close()
        raise
    return connection


@contextmanager
def open_helpers(
    connection: pg8000.native.Connection,
    connect: Connect | None,
    streams: int,
    *,
    level: int,
    lock_timeout_ms: int,
    prepare: Prepare,
    opening_errors: tuple[type[BaseException], ...],
    explain: Callable[[BaseException], str],
) -> Iterator[tuple[Helpers | None, str | None]]:
    """Helpers for up to `streams - 1` more streams, or (None, why not) when there is to be only one.

    A helper that cannot connect (max_connections reached, say) is no reason to
    fail a backup: the dump goes on with the streams it has, and says so.
    """
    if streams < 2 or connect is None:
        yield None, None
        return
    # Not in a savepoint: a snapshot can be exported only from the top transaction.
    try:
        snapshot_id = connection.run("SELECT pg_catalog.pg_export_snapshot()")[0][0]
    except opening_errors as exc:
        raise SnapshotExportError(
            f"could not export the dump's snapshot for parallel streams: {explain(exc)}",
            hint="run with --streams 1",
        ) from exc
    if not SNAPSHOT_ID.fullmatch(snapshot_id):
        raise SnapshotExportError(f"pg_export_snapshot() returned {snapshot_id!r}, not a snapshot id")
    connections: list[pg8000.native.Connection] = []
    why_not = None
    for _ in range(streams - 1):
        try:
            connections.append(_open_helper(connect, snapshot_id, prepare))
        except opening_errors as exc:
            why_not = f"{len(connections) + 1} of {streams} streams: another could not start: {explain(exc)}"
            break
    if not connections:
        yield None, why_not
        return
    helpers = Helpers(connections, level=level, lock_timeout_ms=lock_timeout_ms)
    try:
        yield helpers, why_not
    except BaseException:
        helpers.close(abort=True)
        raise
    helpers.close(abort=False)
