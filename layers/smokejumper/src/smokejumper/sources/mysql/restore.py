"""Restore a smokejumper MySQL dump into a database, verifying every byte before touching it.

Every frame the restore will use is checked (length, sha256) before the
first statement runs; each frame is checked again (sha256, zstd's content
checksum) as it is decompressed. The target must hold no tables, views, routines or events
unless `clean`, which drops them first.

MySQL cannot put DDL in a transaction, so unlike PostgreSQL a restore that
fails part-way (the server stops, a statement is refused) leaves the target
partly restored: the error says so, and running again with `--clean`
starts over. (The checks before the first statement are what make a bad
artifact change nothing.)

With `tables`, only those tables are restored: each is created from its
recorded `SHOW CREATE TABLE` when the target lacks it (its triggers are
created after its rows), else it must be empty (or `clean` empties it). A
target table with triggers is refused: loading rows (or --clean's DELETE)
would fire them. A table created so whose DEFAULT takes values from a
sequence needs that sequence in the target: a missing one is named before
anything changes (the sequence may serve other tables, so it is not
created behind the user's back).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Sequence

import pymysql

from smokejumper.artifact import read_frame, verify_stored_frames
from smokejumper.catalog import DataFile, FrameEntry, read_artifact_record
from smokejumper.errors import IntegrityError, SmokejumperError, UsageError
from smokejumper.sources.base import check_engine
from smokejumper.sources.mysql.artifact_format import DUMP_FILE, split_ddl_frame
from smokejumper.sources.mysql.connection import DRIVER_ERRORS, server_message
from smokejumper.sources.mysql.schema import quote_identifier, sequences_taken_from
from smokejumper.sources.results import Progress, RestoreSummary, TableResult
from smokejumper.store import Store, join_key

__all__ = ["RestoreError", "RestoreSummary", "restore_database"]


MAX_WARNINGS = 20


class RestoreError(SmokejumperError):
    """The restore did not complete."""

    error_type = "RestoreFailed"


def _data_file(store: Store) -> DataFile:
    record, _digest = read_artifact_record(store)
    check_engine(record.engine, "mysql", store.url)
    for data_file in record.files:
        if data_file.name == DUMP_FILE:
            return data_file
    raise IntegrityError(f"the artifact record lists no {DUMP_FILE}")


def select_frames(data_file: DataFile, tables: Sequence[str] | None) -> list[FrameEntry]:
    if not tables:
        return list(data_file.frames)
    by_name = {frame.name: frame for frame in data_file.frames if frame.meta.get("kind") == "table"}
    unknown = [name for name in tables if name not in by_name]
    if unknown:
        known = sorted(by_name)
        raise UsageError(
            f"not in this dump: {', '.join(unknown)}",
            hint=f"tables in the dump: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}",
        )
    chosen = sorted({by_name[name].offset: by_name[name] for name in tables}.values(), key=lambda f: f.offset)
    header = [frame for frame in data_file.frames if frame.meta.get("kind") == "header"]
    footer = [frame for frame in data_file.frames if frame.meta.get("kind") == "footer"]
    return header + chosen + footer


def _rows(connection: pymysql.connections.Connection, sql: str, args: object = None) -> list[tuple[object, ...]]:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute(sql, args)
        return [tuple(row) for row in cursor.fetchall()]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def existing_objects(connection: pymysql.connections.Connection) -> list[str]:
    """Tables, sequences, views, routines and events of the connection's database, as `kind name`."""
    kinds = {"VIEW": "view", "SEQUENCE": "sequence"}
    found = [
        f"{kinds.get(_text(kind), 'table')} {_text(name)}"
        for name, kind in _rows(
            connection,
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
            " ORDER BY TABLE_NAME",
        )
    ]
    found += [
        f"{_text(kind).lower()} {_text(name)}"
        for name, kind in _rows(
            connection,
            "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
        )
    ]
    found += [
        f"event {_text(name)}"
        for (name,) in _rows(
            connection, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()"
        )
    ]
    return found


def _execute(connection: pymysql.connections.Connection, statement: bytes) -> int:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        return int(cursor.execute(statement))


def _insert(connection: pymysql.connections.Connection, statement: bytes) -> tuple[int, int]:
    """Rows inserted and warnings raised by one INSERT line."""
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        rows = int(cursor.execute(statement))
        return rows, int(cursor.warning_count)


def _warnings(connection: pymysql.connections.Connection) -> list[str]:
    """The server's warnings about the last statement (e.g. a value truncated to fit a column)."""
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SHOW WARNINGS LIMIT 3")
        return [f"{_text(level)} {_text(code)}: {_text(message)}" for level, code, message in cursor.fetchall()]


def _clean(connection: pymysql.connections.Connection) -> None:
    """Drop every table, view, routine and event of the target (foreign keys off for the drops)."""
    _execute(connection, b"SET FOREIGN_KEY_CHECKS = 0")
    for description in existing_objects(connection):
        kind, name = description.split(" ", 1)
        keyword = {
            "table": "TABLE",
            "sequence": "SEQUENCE",
            "view": "VIEW",
            "function": "FUNCTION",
            "procedure": "PROCEDURE",
        }.get(kind, "EVENT")
        _execute(connection, f"DROP {keyword} IF EXISTS {quote_identifier(name)}".encode())


def _named(existing: Sequence[str], *kinds: str) -> dict[str, str]:
    """The names of the `existing_objects` of these kinds, each with its `kind name` description."""
    return {item.split(" ", 1)[1]: item for item in existing if item.split(" ", 1)[0] in kinds}


def _names_taken(frames: Sequence[FrameEntry], existing: Sequence[str]) -> list[str]:
    """Tables `--table` would create whose name a sequence or view of the target has (one namespace)."""
    others = _named(existing, "sequence", "view")
    return [
        f"{frame.meta['table']} ({others[frame.meta['table']]})"
        for frame in frames
        if frame.meta.get("kind") == "table" and frame.meta.get("table") in others
    ]


def _sequences_lacking(frames: Sequence[FrameEntry], existing: Sequence[str]) -> list[str]:
    """For each table `--table` will create: the sequences its DEFAULTs need that the target lacks."""
    sequences, tables = _named(existing, "sequence"), _named(existing, "table")
    lacking = []
    for frame in frames:
        if frame.meta.get("kind") != "table" or frame.meta.get("table") in tables:
            continue
        missing = [name for name in sequences_taken_from(_create_statement(frame)) if name not in sequences]
        if missing:
            lacking.append(f"{frame.meta['table']} (sequence {', '.join(missing)})")
    return lacking


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a table frame (each one INSERT statement), without their newline."""
    tail = b""
    for chunk in chunks:
        data = tail + chunk if tail else chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        raise IntegrityError("a table frame does not end with a newline")


def _apply_ddl(connection: pymysql.connections.Connection, store: Store, key: str, frame: FrameEntry) -> None:
    try:
        statements = split_ddl_frame(b"".join(read_frame(store, key, frame)), list(frame.meta["lengths"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"frame {frame.name!r} does not match its index: {exc}") from exc
    for statement in statements:
        _execute(connection, statement)


def _create_statement(frame: FrameEntry) -> bytes:
    if "create_base64" in frame.meta:
        return base64.b64decode(frame.meta["create_base64"])
    return str(frame.meta["create"]).encode()


def restore_database(
    store: Store,
    connection: pymysql.connections.Connection,
    *,
    tables: Sequence[str] | None = None,
    clean: bool = False,
    on_frame: Progress | None = None,
) -> RestoreSummary:
    """Restore the dump at `store` into the connection's database (see the module docstring)."""
    started = time.monotonic()
    data_file = _data_file(store)
    key = join_key(DUMP_FILE)
    frames = select_frames(data_file, tables)
    database = _text(_rows(connection, "SELECT DATABASE()")[0][0])
    summary = RestoreSummary(database)

    existing = existing_objects(connection)
    existing_tables = _named(existing, "table")
    if not tables and existing and not clean:
        shown = ", ".join(existing[:5]) + (" …" if len(existing) > 5 else "")
        raise RestoreError(
            f"database {database} is not empty: it has {len(existing)} objects ({shown})",
            hint="restore into an empty database, or pass --clean to drop them first (this destroys them)",
        )
    if tables:
        # Rows loaded into a table with triggers would fire them (and --clean's DELETE too):
        # a restore must not add audit rows or rewrite values on the way in.
        fired = _rows(
            connection,
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = DATABASE() ORDER BY 1, 2",
        )
        chosen = {frame.meta.get("table") for frame in frames}
        in_the_way = [f"{_text(table)}.{_text(name)}" for table, name in fired if _text(table) in chosen]
        if in_the_way:
            raise RestoreError(
                f"the target's tables have triggers that loading rows would fire: {', '.join(in_the_way)}",
                hint="drop those triggers for the restore and create them again after it, or restore into a new "
                "database and copy the rows",
            )
    if tables:
        taken = _names_taken(frames, existing)
        if taken:
            raise RestoreError(
                f"tables to create have the names of other objects of {database}: {', '.join(taken)}",
                hint="drop or rename those objects, or restore into another database",
            )
        lacking = _sequences_lacking(frames, existing)
        if lacking:
            raise RestoreError(
                f"tables to create take their DEFAULT from sequences {database} lacks: {'; '.join(lacking)}",
                hint="create those sequences first (the dump's pre-data frame has their CREATE SEQUENCE and "
                "SETVAL), or restore the whole dump into an empty database",
            )
    if tables and not clean:
        for frame in frames:
            name = frame.meta.get("table")
            if name in existing_tables and _rows(connection, f"SELECT 1 FROM {quote_identifier(name)} LIMIT 1"):
                raise RestoreError(f"table {name} already has rows", hint="pass --clean to empty it before loading")

    summary.verified_bytes = verify_stored_frames(store, key, frames)

    current = "the restore"
    try:
        if clean and not tables:
            current = "cleaning the target"
            _clean(connection)
        for frame in frames:
            kind = frame.meta.get("kind")
            current = f"frame {frame.name!r}"
            if kind == "table":
                name = str(frame.meta["table"])
                created = False
                if tables:
                    if name not in existing_tables:
                        _execute(connection, _create_statement(frame))
                        created = True
                    elif clean:
                        _execute(connection, f"DELETE FROM {quote_identifier(name)}".encode())
                rows = 0
                for line in _lines(read_frame(store, key, frame)):
                    inserted, warned = _insert(connection, line)
                    rows += inserted
                    if warned and len(summary.warnings) < MAX_WARNINGS:
                        # Loading is not strict (zero dates must load): say what the server changed.
                        summary.warnings += [f"table {name}: {warning}" for warning in _warnings(connection)]
                if created:  # a table --table created gets its triggers back, after its rows
                    for statement in frame.meta.get("triggers_base64", []):
                        _execute(connection, base64.b64decode(statement))
                summary.tables.append(TableResult(name, rows, frame.uncompressed_size, created))
                if on_frame:
                    on_frame(name, rows, frame.uncompressed_size)
            else:
                _apply_ddl(connection, store, key, frame)
                if on_frame:
                    on_frame(frame.name, 0, frame.uncompressed_size)
    except DRIVER_ERRORS as exc:
        raise RestoreError(
            f"restore into {database} failed at {current}: {server_message(exc)}; "
            "MySQL cannot roll back DDL, so the database is partly restored",
            hint="fix the cause, then run again with --clean to start over",
        ) from exc
    except IntegrityError as exc:
        raise IntegrityError(
            f"{exc.message}; the database is partly restored",
            hint="restore from another run with --clean (`smokejumper runs list`)",
        ) from exc
    summary.seconds = time.monotonic() - started
    return summary
