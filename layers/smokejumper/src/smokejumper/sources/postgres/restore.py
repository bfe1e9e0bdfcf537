"""Restore a smokejumper PostgreSQL dump into a database, all or nothing.

Every frame the restore will use is verified (sha256, zstd frame shape,
decompressed digest) before the target is touched. The restore then runs in
ONE transaction: a failure at any point, including a checksum that no longer
matches on the second read, leaves the target exactly as it was.

The target must hold no user tables unless `clean` is set, which drops the
user schemas the target has (and recreates `public`) inside that same
transaction.

With `tables`, only those tables' frames are read and loaded:
- a named table the target lacks is created first from the DDL its frame
  records (`meta["ddl"]`, see `schema.TableDDL`): its sequences, CREATE
  TABLE, then after the data its keys, indexes, triggers, comments and
  sequence values. What it uses but does not create (schema, types,
  functions, collations, parent table) must exist: the restore checks that
  before touching anything and names what is missing. Its foreign keys are
  added only where the referenced table exists (or is created too); the
  others are skipped and listed in `RestoreSummary.warnings`.
- a named table the target has must be empty, unless `clean`: then all the
  named tables are emptied by ONE TRUNCATE (PostgreSQL accepts a table
  referenced by foreign keys only together with every table referencing
  it). If a referencing table is not named, the restore is refused first,
  naming it; it never truncates with CASCADE.

Owners and grants (dumps with `DumpOptions.privileges`, the default) are in
frames of their own, `owners` and `privileges`, after post-data; the
materialized view refreshes follow them (`post-privileges`). As pg_restore:
- `no_owner` leaves out the `ALTER ... OWNER TO`s: everything belongs to
  the restoring role;
- `no_privileges` leaves out the GRANT/REVOKEs and ALTER DEFAULT
  PRIVILEGES (even those FOR ROLE another role: they are ACLs). The
  refreshes then run before the owners are set, as the restoring role: an
  owner may lack, without its grants, the rights its view's query needs.
Each of those frames lists the roles it names; the restore checks the
target has those it will apply before touching anything, and names the
missing ones. A table that `tables` creates gets its owner and grants the
same way, from `meta["ddl"]`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import pg8000.native

from smokejumper.artifact import read_frame, verify_stored_frames
from smokejumper.catalog import ArtifactRecord, DataFile, FrameEntry, read_artifact_record
from smokejumper.errors import IntegrityError, SmokejumperError, UsageError
from smokejumper.sources.base import check_engine
from smokejumper.sources.postgres.artifact_format import COPY_TERMINATOR, DUMP_FILE
from smokejumper.sources.postgres.connection import DRIVER_ERRORS, server_message
from smokejumper.sources.postgres.schema import TABLE_DDL_VERSION, USER_SCHEMA, not_in_extension, rows
from smokejumper.sources.results import Progress, RestoreSummary, TableResult
from smokejumper.store import Store, join_key


class RestoreError(SmokejumperError):
    """The restore did not happen; the target is unchanged."""

    error_type = "RestoreFailed"


def _frames(store: Store, artifact_dir: str) -> tuple[DataFile, str, ArtifactRecord]:
    record, _digest = read_artifact_record(store, artifact_dir)
    check_engine(record.engine, "postgres", f"{store.url}/{artifact_dir}".rstrip("/"))
    for data_file in record.files:
        if data_file.name == DUMP_FILE:
            return data_file, join_key(artifact_dir, DUMP_FILE), record
    raise IntegrityError(f"the artifact record lists no {DUMP_FILE}")


def select_frames(data_file: DataFile, tables: Sequence[str] | None) -> list[FrameEntry]:
    """The frames a restore needs, in file order: all of them, or the named tables' data.

    A table dumped by several streams has one frame per part (meta "part"); naming the table takes them all.
    """
    if not tables:
        return list(data_file.frames)
    by_name: dict[str, list[FrameEntry]] = {}
    for frame in data_file.frames:
        if frame.meta.get("kind") == "table":
            by_name.setdefault(frame.name, []).append(frame)
            if frame.name != f"{frame.meta['schema']}.{frame.meta['table']}":
                by_name.setdefault(f"{frame.meta['schema']}.{frame.meta['table']}", []).append(frame)
    chosen: list[FrameEntry] = []
    unknown = []
    for name in tables:
        parts = by_name.get(name) or by_name.get(f"public.{name}")
        if parts is None:
            unknown.append(name)
        else:
            chosen.extend(part for part in parts if part not in chosen)
    if unknown:
        known = sorted({frame.name for frame in data_file.frames if frame.meta.get("kind") == "table"})
        raise UsageError(
            f"not in this dump: {', '.join(unknown)}",
            hint=f"tables in the dump: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}",
        )
    header = [frame for frame in data_file.frames if frame.meta.get("kind") == "header"]
    return header + sorted(chosen, key=lambda frame: frame.offset)


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


# How the restore looks up each kind of object a created table requires.
LOOKUP = {
    "schema": "to_regnamespace",
    "type": "to_regtype",
    "function": "to_regprocedure",
    "collation": "to_regcollation",
    "sequence": "to_regclass",
    "table": "to_regclass",
}


def _exists(connection: pg8000.native.Connection, kind: str, name: str) -> bool:
    return bool(rows(connection, f"SELECT {LOOKUP[kind]}(:name) IS NOT NULL", name=name)[0][0])


def _check_creatable(connection: pg8000.native.Connection, database: str, frames: Sequence[FrameEntry]) -> None:
    """Refuse, before anything is touched, to create tables whose DDL is unknown or needs what the target lacks."""
    undescribed = [frame.name for frame in frames if frame.meta.get("ddl", {}).get("version") != TABLE_DDL_VERSION]
    if undescribed:
        raise RestoreError(
            f"database {database} has no table {', '.join(undescribed)}, and this dump predates `--table`"
            " creating missing tables (its index records no DDL for them): create the table first",
            hint="create it by hand (its DDL is in the dump's pre-data), or restore the whole dump into an empty"
            " database",
        )
    created: set[str] = set()
    problems = []
    for frame in frames:
        missing = [
            f"{item['kind']} {item['name']}"
            for item in frame.meta["ddl"]["requires"]
            # A parent table restored by this same run (its frame comes first) will be there.
            if item["kind"] not in LOOKUP
            or not (item["name"] in created or _exists(connection, item["kind"], item["name"]))
        ]
        if missing:
            problems.append(f"{frame.name} needs {', '.join(missing)}")
        created.add(frame.name)
    if problems:
        raise RestoreError(
            f"cannot create the missing tables in {database}, nothing was changed: the target lacks what they use:\n  "
            + "\n  ".join(problems),
            hint="--table creates only the table itself: create those objects first, or restore the whole dump",
        )


def _check_truncatable(connection: pg8000.native.Connection, chosen: Sequence[str], emptied: Sequence[str]) -> None:
    """Refuse --clean when a table outside `chosen` has a foreign key to one of the tables to empty.

    TRUNCATE fails then (and CASCADE would silently empty the other table
    too); naming the referencing tables lets the user add them.
    """
    if not emptied:
        return
    outside: dict[str, list[str]] = {}
    for referenced, referencing in rows(
        connection,
        "SELECT DISTINCT k.confrelid::regclass::text, k.conrelid::regclass::text FROM pg_catalog.pg_constraint k"
        " WHERE k.contype = 'f'"
        "   AND k.confrelid IN (SELECT pg_catalog.to_regclass(n) FROM unnest(CAST(:names AS text[])) n)"
        " ORDER BY 1, 2",
        names=list(emptied),
    ):
        if referencing not in chosen:
            outside.setdefault(referenced, []).append(referencing)
    if outside:
        described = "; ".join(f"{table} is referenced by {', '.join(others)}" for table, others in outside.items())
        extra = sorted({other for others in outside.values() for other in others})
        raise RestoreError(
            f"--clean cannot empty these tables alone, nothing was changed: {described}"
            " (a foreign key needs the referencing tables emptied in the same TRUNCATE)",
            hint="add them to reload their data from the dump too: " + " ".join(f"--table {t}" for t in extra),
        )


def _run_ddl(connection: pg8000.native.Connection, table: str, statements: Sequence[str], what: str) -> None:
    for statement in statements:
        try:
            connection.run(statement)
        except DRIVER_ERRORS as exc:
            raise RestoreError(
                f"{what} {table} failed, nothing was changed: {server_message(exc)}",
                hint=_missing_role_hint(exc)
                or "the target must have what the table uses (types, functions, operator classes...)",
            ) from exc


SKIP_OWNERS = "--no-owner (leave out ALTER ... OWNER TO: everything then belongs to the restoring role)"
SKIP_PRIVILEGES = "--no-privileges (leave out GRANT/REVOKE and ALTER DEFAULT PRIVILEGES)"


def _missing_role_hint(exc: BaseException) -> str | None:
    """The hint for a statement that failed on a role the server lacks (SQLSTATE 42704, 'role "x" does not exist')."""
    detail = exc.args[0] if exc.args else None
    if isinstance(detail, dict) and detail.get("C") == "42704" and str(detail.get("M", "")).startswith("role "):
        return f"create the role first, or restore without what names it: {SKIP_OWNERS}, {SKIP_PRIVILEGES}"
    return None


def _privilege_frames(
    frames: list[FrameEntry], record: ArtifactRecord, *, no_owner: bool, no_privileges: bool
) -> list[FrameEntry]:
    """The frames of a whole restore with the owners and privileges frames left out as asked.

    Without the grants, the frames that follow them (materialized view
    refreshes) run before the owners are set: the owner of a view may need
    its grants to run the view's query, the restoring role does not.
    """
    kinds = {frame.meta.get("kind") for frame in frames}
    objects = record.source.get("objects") or {}
    if (no_owner or no_privileges) and "owners" in objects and "owners" not in kinds:
        raise RestoreError(
            "this dump predates owners and grants in frames of their own: they are in its post-data, and"
            " --no-owner/--no-privileges cannot leave them out; nothing was changed",
            hint="restore it without those flags (the target then needs the dump's roles), or dump again",
        )
    skipped = {"owners"} if no_owner else set()
    skipped |= {"privileges"} if no_privileges else set()
    kept = [frame for frame in frames if frame.meta.get("kind") not in skipped]
    if no_privileges:
        late = [frame for frame in kept if frame.meta.get("kind") == "post-privileges"]
        kept = [frame for frame in kept if frame not in late]
        at = next((i for i, frame in enumerate(kept) if frame.meta.get("kind") == "owners"), len(kept))
        kept[at:at] = late
    return kept


def _check_roles(connection: pg8000.native.Connection, database: str, named: dict[str, set[str]]) -> None:
    """Refuse, before anything is touched, a restore whose owners or grants name roles the server lacks.

    `named`: the roles named by the ownership ("owners") and privilege
    ("privileges") statements the restore will run.
    """
    wanted = sorted(named["owners"] | named["privileges"])
    if not wanted:
        return
    missing = [
        name
        for (name,) in rows(
            connection,
            "SELECT r FROM unnest(CAST(:names AS text[])) r"
            " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) ORDER BY 1",
            names=wanted,
        )
    ]
    if not missing:
        return
    ways = []
    if named["owners"] & set(missing):
        ways.append(SKIP_OWNERS)
    if named["privileges"] & set(missing):
        ways.append(SKIP_PRIVILEGES)
    plural = "s" if len(missing) > 1 else ""
    raise RestoreError(
        f"cannot restore into {database}, nothing was changed: the dump's owners and grants name"
        f" role{plural} this server lacks: {', '.join(missing)}",
        hint=f"create the role{plural} first, or restore without what names {'them' if plural else 'it'}: "
        + " and ".join(ways),
    )


def restore_database(
    store: Store,
    connection: pg8000.native.Connection,
    *,
    artifact_dir: str = "",
    tables: Sequence[str] | None = None,
    clean: bool = False,
    no_owner: bool = False,
    no_privileges: bool = False,
    on_frame: Progress | None = None,
) -> RestoreSummary:
    """Restore the dump in `artifact_dir` (all of it, or `tables`) in one transaction; see the module's doc.

    `no_owner` / `no_privileges` leave out the dump's owners / grants, as pg_restore's flags of those names.
    """
    started = time.monotonic()
    data_file, key, record = _frames(store, artifact_dir)
    frames = select_frames(data_file, tables)
    if not tables:
        frames = _privilege_frames(frames, record, no_owner=no_owner, no_privileges=no_privileges)
    # Names in the dump and in these checks are all schema-qualified.
    connection.run("SELECT pg_catalog.set_config('search_path', '', false)")
    database = rows(connection, "SELECT current_database()")[0][0]
    summary = RestoreSummary(database)

    existing = user_tables(connection)
    # One frame per table (its first part) for what is done once per table.
    chosen = [frame for frame in frames if frame.meta.get("kind") == "table" and frame.meta.get("part", 1) == 1]
    chosen = chosen if tables else []
    to_create = [frame for frame in chosen if frame.name not in existing]
    created = {frame.name for frame in to_create}
    reloaded = [frame.name for frame in chosen if frame.name not in created]
    if tables:
        _check_creatable(connection, database, to_create)
        if clean:
            _check_truncatable(connection, [frame.name for frame in chosen], reloaded)
    elif existing and not clean:
        shown = ", ".join(existing[:5]) + (" …" if len(existing) > 5 else "")
        raise RestoreError(
            f"database {database} is not empty: it has {len(existing)} tables or views ({shown})",
            hint="restore into an empty database, or pass --clean to drop its schemas first (this destroys them)",
        )
    # Whole restores: from the owners and privileges frames; tables created alone: from their DDL.
    named: dict[str, set[str]] = {"owners": set(), "privileges": set()}
    for phase, skipped in (("owners", no_owner), ("privileges", no_privileges)):
        if skipped:
            continue
        for frame in frames:
            if frame.meta.get("kind") == phase:
                named[phase].update(frame.meta.get("roles", []))
        for frame in to_create:
            named[phase].update(frame.meta["ddl"].get("roles", {}).get(phase, []))
    _check_roles(connection, database, named)

    summary.verified_bytes = verify_stored_frames(store, key, frames)

    try:
        connection.run("BEGIN")
        if clean and not tables:
            _clean_database(connection)
        for frame in to_create:
            _run_ddl(connection, frame.name, frame.meta["ddl"]["create"], "creating table")
        if clean and reloaded:
            # One statement: a table referenced by foreign keys can be emptied only with its referencing tables.
            connection.run(f"TRUNCATE {', '.join(reloaded)}")
        for frame in frames:
            kind = frame.meta.get("kind")
            if kind == "table":
                target = frame.name
                has_rows = f"SELECT EXISTS (SELECT 1 FROM {target})"
                first_part = frame.meta.get("part", 1) == 1
                if tables and not clean and first_part and target not in created and rows(connection, has_rows)[0][0]:
                    raise RestoreError(
                        f"table {target} already has rows", hint="pass --clean to empty it before loading"
                    )
                columns = ", ".join(frame.meta["columns"])
                data = _copy_rows(read_frame(store, key, frame), int(frame.meta["header_length"]))
                connection.run(f"COPY {target} ({columns}) FROM STDIN", stream=data)
                if first_part:
                    summary.tables.append(TableResult(target, 0, 0, created=target in created))
                summary.tables[-1].rows += connection.row_count
                summary.tables[-1].bytes += frame.uncompressed_size
                if on_frame:
                    part = f" (part {frame.meta['part']} of {frame.meta['parts']})" if "part" in frame.meta else ""
                    on_frame(target + part, connection.row_count, frame.uncompressed_size)
            else:
                sql = b"".join(read_frame(store, key, frame)).decode()
                connection.run(sql)
                if on_frame:
                    on_frame(frame.name, 0, frame.uncompressed_size)
        # As in the whole dump: keys, indexes and triggers after the data
        # (faster, and the table's triggers do not fire on its own rows).
        for frame in to_create:
            _run_ddl(connection, frame.name, frame.meta["ddl"]["post"], "completing table")
        for frame in to_create:
            for foreign_key in frame.meta["ddl"]["foreign_keys"]:
                referenced = foreign_key["references"]
                if referenced in created or _exists(connection, "table", referenced):
                    _run_ddl(connection, frame.name, foreign_key["statements"], "adding a foreign key to")
                else:
                    summary.warnings.append(
                        f"{frame.name}: foreign key {foreign_key['name']} not created:"
                        f" the target has no table {referenced}"
                    )
        # Last, as in the whole dump: the created tables' owners, then their grants.
        for frame in to_create:
            if not no_owner:
                _run_ddl(connection, frame.name, frame.meta["ddl"].get("owners", []), "setting the owner of")
            if not no_privileges:
                _run_ddl(connection, frame.name, frame.meta["ddl"].get("privileges", []), "granting on")
        connection.run("COMMIT")
    except DRIVER_ERRORS as exc:
        _rollback(connection)
        raise RestoreError(
            f"restore into {database} failed, nothing was changed: {server_message(exc)}",
            hint=_missing_role_hint(exc),
        ) from exc
    except BaseException:
        _rollback(connection)
        raise
    summary.seconds = time.monotonic() - started
    return summary


def _rollback(connection: pg8000.native.Connection) -> None:
    # If the connection is gone, the server has rolled back already.
    with contextlib.suppress(*DRIVER_ERRORS):
        connection.run("ROLLBACK")
