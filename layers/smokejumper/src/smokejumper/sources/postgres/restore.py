"""Restore a smokejumper PostgreSQL dump into a database, all or nothing.

Every frame the restore will use is verified (sha256, zstd frame shape,
decompressed digest) before the target is touched. The restore then runs in
ONE transaction: a failure at any point, including a checksum that no longer
matches on the second read, leaves the target exactly as it was.

The target must hold no user tables unless `clean` is set, which drops the
user schemas the target has (and recreates `public`) inside that same
transaction. With `tables`, only those tables' data is loaded, into tables
that must already exist; `clean` then empties just those tables first.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pg8000.native

from smokejumper.artifact import read_frame
from smokejumper.catalog import DataFile, FrameEntry, read_artifact_record
from smokejumper.errors import IntegrityError, SmokejumperError, UsageError
from smokejumper.sources.postgres.dump import COPY_TERMINATOR, DRIVER_ERRORS, DUMP_FILE, server_message
from smokejumper.sources.postgres.schema import USER_SCHEMA, not_in_extension, rows
from smokejumper.store import Store, join_key


class RestoreError(SmokejumperError):
    """The restore did not happen; the target is unchanged."""


@dataclass
class TableResult:
    name: str
    rows: int
    bytes: int


@dataclass
class RestoreSummary:
    database: str
    tables: list[TableResult] = field(default_factory=list)
    seconds: float = 0.0
    verified_bytes: int = 0

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def bytes(self) -> int:
        return sum(table.bytes for table in self.tables)


Progress = Callable[[str, int, int], None]
"""Called as each frame is applied: (what, rows, bytes)."""


def _frames(store: Store, artifact_dir: str) -> tuple[DataFile, str]:
    record, _digest = read_artifact_record(store, artifact_dir)
    if record.engine != "postgres":
        raise UsageError(
            f"{store.url}/{artifact_dir}".rstrip("/") + f" holds a {record.engine} artifact, not a PostgreSQL dump",
            hint=f"use `smokejumper restore {record.engine}`",
        )
    for data_file in record.files:
        if data_file.name == DUMP_FILE:
            return data_file, join_key(artifact_dir, DUMP_FILE)
    raise IntegrityError(f"the artifact record lists no {DUMP_FILE}")


def select_frames(data_file: DataFile, tables: Sequence[str] | None) -> list[FrameEntry]:
    """The frames a restore needs, in file order: all of them, or the named tables' data."""
    if not tables:
        return list(data_file.frames)
    by_name: dict[str, FrameEntry] = {}
    for frame in data_file.frames:
        if frame.meta.get("kind") == "table":
            by_name[frame.name] = frame
            by_name[f"{frame.meta['schema']}.{frame.meta['table']}"] = frame
    chosen, unknown = [], []
    for name in tables:
        frame = by_name.get(name) or by_name.get(f"public.{name}")
        if frame is None:
            unknown.append(name)
        elif frame not in chosen:
            chosen.append(frame)
    if unknown:
        known = sorted(frame.name for frame in data_file.frames if frame.meta.get("kind") == "table")
        raise UsageError(
            f"not in this dump: {', '.join(unknown)}",
            hint=f"tables in the dump: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}",
        )
    header = [frame for frame in data_file.frames if frame.meta.get("kind") == "header"]
    return header + sorted(chosen, key=lambda frame: frame.offset)


def verify_frames(store: Store, key: str, frames: Sequence[FrameEntry]) -> int:
    """Check every frame's stored bytes (length and sha256) before anything is applied.

    Matching compressed bytes decompress to exactly what was dumped, so this
    pass need not decompress; the content digests are checked again while
    the frames are applied, inside the restore's transaction.
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


def _copy_rows(chunks: Iterator[bytes], header_length: int) -> Iterator[bytes]:
    """The COPY data of a table frame: without its COPY header line and the `\\.` terminator."""
    skip = header_length
    tail = b""
    for chunk in chunks:
        if skip:
            taken = min(skip, len(chunk))
            chunk = chunk[taken:]
            skip -= taken
        data = tail + chunk
        # Hold back what could be the terminator until the frame ends.
        cut = max(0, len(data) - len(COPY_TERMINATOR))
        if cut:
            yield data[:cut]
        tail = data[cut:]
    if tail != COPY_TERMINATOR:
        raise IntegrityError("a table frame does not end with the COPY terminator")


def user_tables(connection: pg8000.native.Connection) -> list[str]:
    return [
        name
        for (name,) in rows(
            connection,
            "SELECT c.oid::regclass::text FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMA}"
            f"   AND {not_in_extension('pg_class', 'c.oid')} ORDER BY 1",
        )
    ]


def _clean_database(connection: pg8000.native.Connection) -> None:
    """Drop every user schema (extensions and all) and give back an empty public schema."""
    for (schema,) in rows(
        connection,
        f"SELECT quote_ident(nspname) FROM pg_catalog.pg_namespace WHERE {USER_SCHEMA} ORDER BY nspname",
    ):
        connection.run(f"DROP SCHEMA {schema} CASCADE")
    connection.run("CREATE SCHEMA public")
    connection.run("COMMENT ON SCHEMA public IS 'standard public schema'")
    connection.run("GRANT USAGE ON SCHEMA public TO PUBLIC")
    # PostgreSQL 15+: public belongs to the database owner.
    connection.run(
        "DO $$BEGIN IF current_setting('server_version_num')::int >= 150000 THEN"
        " EXECUTE 'ALTER SCHEMA public OWNER TO pg_database_owner'; END IF; END$$"
    )
    # Before 15, everyone could create in public.
    connection.run(
        "DO $$BEGIN IF current_setting('server_version_num')::int < 150000 THEN"
        " EXECUTE 'GRANT CREATE ON SCHEMA public TO PUBLIC'; END IF; END$$"
    )


def restore_database(
    store: Store,
    connection: pg8000.native.Connection,
    *,
    artifact_dir: str = "",
    tables: Sequence[str] | None = None,
    clean: bool = False,
    on_frame: Progress | None = None,
) -> RestoreSummary:
    started = time.monotonic()
    data_file, key = _frames(store, artifact_dir)
    frames = select_frames(data_file, tables)
    # Names in the dump and in these checks are all schema-qualified.
    connection.run("SELECT pg_catalog.set_config('search_path', '', false)")
    database = rows(connection, "SELECT current_database()")[0][0]
    summary = RestoreSummary(database)

    existing = user_tables(connection)
    if tables:
        missing = [frame.name for frame in frames if frame.meta.get("kind") == "table" and frame.name not in existing]
        if missing:
            raise RestoreError(
                f"database {database} has no table {', '.join(missing)}",
                hint="--table loads data into existing tables; restore the whole dump into an empty database instead",
            )
    elif existing and not clean:
        shown = ", ".join(existing[:5]) + (" …" if len(existing) > 5 else "")
        raise RestoreError(
            f"database {database} is not empty: it has {len(existing)} tables or views ({shown})",
            hint="restore into an empty database, or pass --clean to drop its schemas first (this destroys them)",
        )

    summary.verified_bytes = verify_frames(store, key, frames)

    try:
        connection.run("BEGIN")
        if clean and not tables:
            _clean_database(connection)
        for frame in frames:
            kind = frame.meta.get("kind")
            if kind == "table":
                target = frame.name
                if tables and clean:
                    connection.run(f"TRUNCATE {target}")
                elif tables and rows(connection, f"SELECT EXISTS (SELECT 1 FROM {target})")[0][0]:
                    raise RestoreError(
                        f"table {target} already has rows", hint="pass --clean to empty it before loading"
                    )
                columns = ", ".join(frame.meta["columns"])
                data = _copy_rows(read_frame(store, key, frame), int(frame.meta["header_length"]))
                connection.run(f"COPY {target} ({columns}) FROM STDIN", stream=data)
                summary.tables.append(TableResult(target, connection.row_count, frame.uncompressed_size))
                if on_frame:
                    on_frame(target, connection.row_count, frame.uncompressed_size)
            else:
                sql = b"".join(read_frame(store, key, frame)).decode()
                connection.run(sql)
                if on_frame:
                    on_frame(frame.name, 0, frame.uncompressed_size)
        connection.run("COMMIT")
    except DRIVER_ERRORS as exc:
        _rollback(connection)
        raise RestoreError(f"restore into {database} failed, nothing was changed: {server_message(exc)}") from exc
    except BaseException:
        _rollback(connection)
        raise
    summary.seconds = time.monotonic() - started
    return summary


def _rollback(connection: pg8000.native.Connection) -> None:
    # If the connection is gone, the server has rolled back already.
    with contextlib.suppress(*DRIVER_ERRORS):
        connection.run("ROLLBACK")
