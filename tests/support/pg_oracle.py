"""Oracles for PostgreSQL round trips, judged by PostgreSQL's own tools and catalog.

Nothing here uses smokejumper code: a backup/restore is correct when *these*
say the restored database is the same as the source.

- ``schema_dump(db)``: ``pg_dump --schema-only --no-owner --no-privileges``,
  normalised only where the output describes the dump run rather than the
  database (see ``normalize_schema_dump``); ``owners=True`` /
  ``privileges=True`` keep the ``ALTER ... OWNER TO`` / GRANT, REVOKE and
  ALTER DEFAULT PRIVILEGES lines (drop the matching ``--no-...`` flag).
- ``table_checksums(db)``: per table, row count and an order-independent
  content digest computed server-side from each row's text form.
- ``sequence_states(db)``: ``last_value`` and ``is_called`` of every sequence.
- ``assert_same_database(source, restored)``: all three, with readable diffs
  (``owners``/``privileges`` as for ``schema_dump``).
- ``object_owners(db)`` / ``object_acls(db)``: who owns each user object, and
  which objects have an ACL of their own or default privileges.
- ``psql_restore(sql, db)``: feed SQL to plain ``psql -v ON_ERROR_STOP=1``.
- ``pg_restore_round_trip(source, target, *flags)``: ``pg_dump -Fc | pg_restore``,
  the reference for ``--no-owner``/``--no-privileges``.

A ``db`` is anything with ``host``, ``port``, ``user`` and ``dbname``
(``tests.support.services.PostgresDatabase``). Authentication is the test
server's trust auth; no password is ever passed.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections import Counter
from typing import Protocol

import pg8000.native

from tests.support.sql_client import feed_sql

PSQL_TIMEOUT = 300


class PgTarget(Protocol):
    host: str
    port: int
    user: str
    dbname: str


def _conn_args(db: PgTarget) -> list[str]:
    return ["-h", db.host, "-p", str(db.port), "-U", db.user]


def _env() -> dict[str, str]:
    # Our explicit -h/-p/-U/-d win over PG* variables, but a stray PGOPTIONS
    # (search_path, timezone...) or PGSERVICE could still change what we see.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def _connect(db: PgTarget) -> pg8000.native.Connection:
    return pg8000.native.Connection(db.user, host=db.host, port=db.port, database=db.dbname, timeout=120)


# --- schema -------------------------------------------------------------------

_RESTRICT_LINE = re.compile(r"^\\(un)?restrict [A-Za-z0-9]+$")
_TOOL_VERSION_LINE = re.compile(r"^-- Dumped (from database|by pg_dump) version .*$")


def normalize_schema_dump(text: str) -> str:
    """Remove what describes the dump *run*, never what describes the database.

    1. ``\\restrict KEY`` / ``\\unrestrict KEY`` (pg_dump 13.22+, 14.19+,
       15.14+, 16.10+, 17.6+; CVE-2025-8714): psql meta-commands bracketing
       the script with a key drawn at random on every run, so two dumps of
       the *same* database differ. They guard psql against a malicious
       server and carry no schema. (``--restrict-key`` could pin the key,
       but older pg_dump rejects that option; stripping works everywhere.)
    2. ``-- Dumped from database version X`` / ``-- Dumped by pg_dump version Y``:
       comments naming the server and client builds; a restore onto another
       minor version must not count as a schema difference.
    3. With each removed line goes the one blank line that follows it, so a
       dump from a pg_dump without ``\\restrict`` normalises to the same text.
       Nothing else is touched: whitespace inside function bodies, view
       text and string literals stays exactly as pg_dump printed it.

    The database name never needs removing: without ``--create`` pg_dump
    emits no CREATE/ALTER/COMMENT ON DATABASE, and names no database
    elsewhere (``test_schema_dump_does_not_name_the_database`` checks it).
    """
    kept: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if _RESTRICT_LINE.match(line) or _TOOL_VERSION_LINE.match(line):
            if index < len(lines) and lines[index] == "":
                index += 1
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def pg_dump(db: PgTarget, *args: str) -> bytes:
    """Raw ``pg_dump`` output (plain format unless ``args`` say otherwise)."""
    command = ["pg_dump", *_conn_args(db), "--encoding=UTF8", "--lock-wait-timeout=30s", *args, "-d", db.dbname]
    done = subprocess.run(command, capture_output=True, env=_env(), timeout=PSQL_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pg_dump {db.dbname} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def schema_dump(db: PgTarget, *, owners: bool = False, privileges: bool = False) -> str:
    """``pg_dump --schema-only --no-owner --no-privileges``, normalised for comparison.

    ``--encoding=UTF8`` pins the ``client_encoding`` line whatever the
    environment says. Ownership and grants are left out unless asked for
    (``owners``: without ``--no-owner``; ``privileges``: without
    ``--no-privileges``): a restore that leaves them out on purpose
    (``no_owner``/``no_privileges``) legitimately differs there, and a
    source whose objects all belong to the test's superuser says the same
    either way. Sequence *values* are not schema (they are in
    ``sequence_states``); sequence *options* are.
    """
    flags = [flag for flag, kept in (("--no-owner", owners), ("--no-privileges", privileges)) if not kept]
    raw = pg_dump(db, "--schema-only", *flags)
    return normalize_schema_dump(raw.decode("utf-8"))


def schema_diff(source: str, restored: str, *, context: int = 3) -> str:
    """Unified diff of two schema dumps ('' when identical)."""
    return "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True),
            restored.splitlines(keepends=True),
            fromfile="source (pg_dump --schema-only)",
            tofile="restored (pg_dump --schema-only)",
            n=context,
        )
    )


# --- data ---------------------------------------------------------------------

# Every output function a row's text form depends on is pinned, so that the
# digest depends on the stored values and nothing else. extra_float_digits=1
# (the default since PG 12) prints the shortest text that reads back to the
# exact same float, so it is lossless; hex bytea prints every byte.
_SESSION_SETTINGS = (
    "SET bytea_output = 'hex'",
    "SET extra_float_digits = 1",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET TimeZone = 'UTC'",
    "SET lc_monetary = 'C'",  # money's text form follows the locale
    "SET search_path = pg_catalog",
    "SET statement_timeout = 0",
)

_USER_RELATIONS = """
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relispopulated
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind::text = ANY (CAST(:kinds AS text[]))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1
"""

# md5 of each row's text form, split into two 64-bit halves, each summed as
# numeric (exact, no overflow). Summation is commutative, so the physical
# order of rows does not matter, and unlike XOR it counts duplicate rows.
# It streams: no sort, no 1 GB string_agg limit, constant memory, so it works
# on bench-sized tables too. ROW(r.*) rather than r: a column named like the
# alias would otherwise shadow the whole-row reference.
_DIGEST = """
SELECT count(*),
       coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
FROM (SELECT md5(ROW(r.*)::text) AS h FROM {only}{table} AS r) AS rows
"""

NOT_POPULATED = "<materialized view not populated>"


def _begin_snapshot(conn: pg8000.native.Connection) -> None:
    for statement in _SESSION_SETTINGS:
        conn.run(statement)
    conn.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _relations(conn: pg8000.native.Connection, kinds: list[str]) -> list[tuple[str, str, bool]]:
    return [(name, kind, populated) for name, kind, populated in conn.run(_USER_RELATIONS, kinds=kinds)]


def _fold(total: str) -> str:
    return f"{int(total) % 2**64:016x}"


def table_checksums(db: PgTarget) -> dict[str, tuple[int, str]]:
    """``{"schema.table": (row_count, digest)}`` for every user table, one snapshot.

    Keys are ``format('%I.%I')`` names (quoted only where SQL needs it).

    Which relations:
    - ordinary tables (``relkind 'r'``) with ``FROM ONLY``: their own rows,
      never an inheritance child's;
    - every partition, at every level, as the ordinary table it is: the
      digest of each leaf proves rows landed in the same partition;
    - each partitioned parent (``'p'``, no storage of its own) *as the whole*
      (``SELECT FROM parent`` = all its partitions): count is the sum of its
      leaves. Redundant with the leaves but names the table a reader knows;
    - materialized views (``'m'``): their data is restored by a REFRESH and
      must match; an unpopulated one is ``(0, NOT_POPULATED)`` (reading it
      would fail) so populated vs not is compared as well.
    Excluded: system schemas, TOAST, temp schemas, extension member tables
    (``CREATE EXTENSION`` recreates them), views and foreign tables (no data).

    The digest is over each row's text form (``record_out``), which is
    injective for a given row type: NULL is an empty field, '' is ``""``,
    '\\N' is ``"\\\\N"``; floats print ``-0``, ``NaN``, ``Infinity``; bytea
    prints every byte in hex; arrays, jsonb, ranges and composites print
    their full structure. Output settings are pinned (``_SESSION_SETTINGS``).
    """
    conn = _connect(db)
    try:
        _begin_snapshot(conn)
        result: dict[str, tuple[int, str]] = {}
        for name, kind, populated in _relations(conn, ["r", "p", "m"]):
            if kind == "m" and not populated:
                result[name] = (0, NOT_POPULATED)
                continue
            only = "" if kind == "p" else "ONLY "
            [[count, high, low]] = conn.run(_DIGEST.format(only=only, table=name))
            result[name] = (int(count), _fold(high) + _fold(low))
        conn.run("COMMIT")
        return result
    finally:
        conn.close()


def table_rows(db: PgTarget, table: str, *, limit: int | None = None) -> list[str]:
    """Row text forms of one table (``schema.table`` as in ``table_checksums``), sorted."""
    conn = _connect(db)
    try:
        _begin_snapshot(conn)
        [[kind]] = conn.run("SELECT relkind::text FROM pg_class WHERE oid = CAST(:t AS regclass)", t=table)
        only = "" if kind == "p" else "ONLY "
        suffix = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = conn.run(
            f'SELECT t FROM (SELECT ROW(r.*)::text AS t FROM {only}{table} AS r) AS rows ORDER BY t COLLATE "C"{suffix}'
        )
        conn.run("COMMIT")
        return [row[0] for row in rows]
    finally:
        conn.close()


def sequence_states(db: PgTarget) -> dict[str, tuple[int, bool]]:
    """``{"schema.sequence": (last_value, is_called)}`` for every sequence.

    Includes serial and identity sequences (they are ordinary ``relkind 'S'``
    relations, owned by their column). Read from the sequence tuple itself,
    which is what ``nextval`` continues from and what pg_dump's ``setval``
    restores. With ``CACHE n`` > 1 the tuple holds the end of the last range
    handed to a session, not the last value a session used: a restore that
    copies the tuple is exact.
    """
    conn = _connect(db)
    try:
        _begin_snapshot(conn)
        result: dict[str, tuple[int, bool]] = {}
        for name, _kind, _populated in _relations(conn, ["S"]):
            [[last_value, is_called]] = conn.run(f"SELECT last_value, is_called FROM {name}")
            result[name] = (int(last_value), bool(is_called))
        conn.run("COMMIT")
        return result
    finally:
        conn.close()


# --- the verdict --------------------------------------------------------------

MAX_DIFF_LINES = 300
ROW_SAMPLE_LIMIT = 5000


def _clip(text: str, width: int = 160) -> str:
    return text if len(text) <= width else f"{text[:width]}... ({len(text)} chars)"


def _row_difference(source: PgTarget, restored: PgTarget, table: str) -> list[str]:
    left = Counter(table_rows(source, table, limit=ROW_SAMPLE_LIMIT + 1))
    right = Counter(table_rows(restored, table, limit=ROW_SAMPLE_LIMIT + 1))
    if sum(left.values()) > ROW_SAMPLE_LIMIT or sum(right.values()) > ROW_SAMPLE_LIMIT:
        return ["    (too many rows to list the difference)"]
    lines = [f"    - {_clip(row)}" for row in sorted((left - right).elements())[:10]]
    lines += [f"    + {_clip(row)}" for row in sorted((right - left).elements())[:10]]
    return lines


def database_differences(
    source: PgTarget, restored: PgTarget, *, owners: bool = False, privileges: bool = False
) -> list[str]:
    """Human-readable differences between two databases ([] when the same); see ``schema_dump`` for the flags."""
    problems: list[str] = []

    flags = {"owners": owners, "privileges": privileges}
    diff = schema_diff(schema_dump(source, **flags), schema_dump(restored, **flags))
    if diff:
        lines = diff.splitlines()
        shown = "\n".join(lines[:MAX_DIFF_LINES])
        more = f"\n... {len(lines) - MAX_DIFF_LINES} more diff lines" if len(lines) > MAX_DIFF_LINES else ""
        problems.append(f"schema differs:\n{shown}{more}")

    want, got = table_checksums(source), table_checksums(restored)
    for table in sorted(want.keys() - got.keys()):
        problems.append(f"table {table}: missing from restored database ({want[table][0]} rows in source)")
    for table in sorted(got.keys() - want.keys()):
        problems.append(f"table {table}: only in restored database ({got[table][0]} rows)")
    for table in sorted(want.keys() & got.keys()):
        if want[table] != got[table]:
            (n_want, d_want), (n_got, d_got) = want[table], got[table]
            detail = [f"table {table}: source {n_want} rows digest {d_want}, restored {n_got} rows digest {d_got}"]
            if NOT_POPULATED not in (d_want, d_got):
                detail += ["  rows only in source (-) / only in restored (+):"]
                detail += _row_difference(source, restored, table)
            problems.append("\n".join(detail))

    seq_want, seq_got = sequence_states(source), sequence_states(restored)
    for name in sorted(seq_want.keys() | seq_got.keys()):
        if seq_want.get(name) != seq_got.get(name):
            problems.append(
                f"sequence {name}: source (last_value, is_called) = {seq_want.get(name)},"
                f" restored = {seq_got.get(name)}"
            )
    return problems


def assert_same_database(
    source: PgTarget, restored: PgTarget, *, owners: bool = False, privileges: bool = False
) -> None:
    """Schema dump, per-table data and sequence states all equal, or AssertionError saying how.

    ``owners``/``privileges``: the schema dumps include ownership/grants (see ``schema_dump``).
    """
    problems = database_differences(source, restored, owners=owners, privileges=privileges)
    if problems:
        header = f"database {restored.dbname} is not a faithful copy of {source.dbname}:"
        raise AssertionError("\n".join([header, *problems]))


# --- owners and ACLs, from the catalog ----------------------------------------

_USER_NAMESPACE = "{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname NOT LIKE 'pg\\_%'"
_NOT_IN_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass"
    " AND d.objid = {oid} AND d.deptype = 'e')"
)

# (kind, name, owner, acl) of every user object that can have an owner or an ACL:
# schemas, relations, functions, standalone types (no row or array types), and columns (acl only).
_OBJECTS = f"""
SELECT 'schema', format('%I', n.nspname), n.nspowner, n.nspacl::text FROM pg_catalog.pg_namespace n
  WHERE {_USER_NAMESPACE.format(n="n")} AND {_NOT_IN_EXTENSION.format(catalog="pg_namespace", oid="n.oid")}
UNION ALL
SELECT 'relation ' || c.relkind::text, format('%I.%I', n.nspname, c.relname), c.relowner, c.relacl::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER_NAMESPACE.format(n="n")}
    AND {_NOT_IN_EXTENSION.format(catalog="pg_class", oid="c.oid")}
UNION ALL
SELECT 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname), NULL, a.attacl::text
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL AND {_USER_NAMESPACE.format(n="n")}
UNION ALL
SELECT 'function', p.oid::regprocedure::text, p.proowner, p.proacl::text
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE {_USER_NAMESPACE.format(n="n")} AND {_NOT_IN_EXTENSION.format(catalog="pg_proc", oid="p.oid")}
UNION ALL
SELECT 'type', t.oid::regtype::text, t.typowner, t.typacl::text
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd', 'r', 'c') AND t.typelem = 0
    AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c')
    AND {_USER_NAMESPACE.format(n="n")} AND {_NOT_IN_EXTENSION.format(catalog="pg_type", oid="t.oid")}
"""


def object_owners(db: PgTarget) -> dict[str, str]:
    """``{"kind name": owner}`` for every user schema, relation, function and standalone type.

    Extension members are left out (``CREATE EXTENSION`` makes them, as the restoring role).
    """
    conn = _connect(db)
    try:
        conn.run("SET search_path = pg_catalog")
        return {
            f"{kind} {name}": owner
            for kind, name, owner in conn.run(
                f"SELECT kind, name, pg_catalog.pg_get_userbyid(owner) FROM ({_OBJECTS}) o(kind, name, owner, acl)"
                " WHERE owner IS NOT NULL"
            )
        }
    finally:
        conn.close()


def object_acls(db: PgTarget) -> dict[str, str]:
    """``{"kind name": acl}`` of every user object (columns included) whose ACL is not its default (NULL),
    and ``{"default privileges N": acl}`` for each ``pg_default_acl`` entry."""
    conn = _connect(db)
    try:
        conn.run("SET search_path = pg_catalog")
        found = {
            f"{kind} {name}": acl
            for kind, name, acl in conn.run(
                f"SELECT kind, name, acl FROM ({_OBJECTS}) o(kind, name, owner, acl) WHERE acl IS NOT NULL"
            )
        }
        for index, (acl,) in enumerate(conn.run("SELECT defaclacl::text FROM pg_catalog.pg_default_acl ORDER BY 1")):
            found[f"default privileges {index}"] = acl
        return found
    finally:
        conn.close()


# --- restoring with the reference client ----------------------------------------


def psql_restore(sql: bytes | str | os.PathLike[str], db: PgTarget, *, timeout: float = PSQL_TIMEOUT) -> str:
    """Run SQL through ``psql -X -v ON_ERROR_STOP=1 -q -d DB`` on stdin; return its stdout.

    ``bytes``/``str`` are SQL text (a ``str`` is never taken for a path);
    a ``Path`` is a file, decompressed with ``zstd -dc`` when it ends in
    ``.zst``. Raises ``RuntimeError`` with psql's stderr if psql fails,
    which with ON_ERROR_STOP means at the first failing statement.
    """
    command = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", *_conn_args(db), "-d", db.dbname]
    return feed_sql(command, sql, env=_env(), timeout=timeout, client=f"psql into {db.dbname}")


_RESET_SQL = r"""
DO $reset$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
        EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', name);
    END LOOP;
    FOR name IN
        SELECT nspname FROM pg_catalog.pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND nspname NOT LIKE 'pg\_%'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', name);
    END LOOP;
END
$reset$;
DROP SCHEMA public CASCADE;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
COMMENT ON SCHEMA public IS 'standard public schema';
GRANT USAGE ON SCHEMA public TO PUBLIC;
"""


def reset_database(db: PgTarget) -> None:
    """Empty a database back to what CREATE DATABASE gives, much faster than recreating it.

    Drops every extension (but plpgsql), every non-system schema, and the
    public schema, then recreates public exactly as PostgreSQL 15 creates it
    (owner pg_database_owner, its standard comment, USAGE for PUBLIC).
    ``test_reset_database_is_as_good_as_a_new_one`` proves the oracle cannot
    tell the difference. Only for throwaway test databases.
    """
    psql_restore(_RESET_SQL, db)


def pg_dump_round_trip(source: PgTarget, target: PgTarget) -> None:
    """The reference: ``pg_dump source | psql target`` (plain format)."""
    psql_restore(pg_dump(source), target)


def pg_restore_round_trip(source: PgTarget, target: PgTarget, *flags: str) -> None:
    """The reference for restores that leave things out: ``pg_dump -Fc source | pg_restore FLAGS -d target``.

    ``--single-transaction --exit-on-error``: all or nothing, failing at the first error (with pg_restore's
    stderr in the ``RuntimeError``), as our restore does.
    """
    archive = pg_dump(source, "--format=custom")
    command = ["pg_restore", *_conn_args(target), "--single-transaction", "--exit-on-error", *flags]
    command += ["-d", target.dbname]
    done = subprocess.run(command, input=archive, capture_output=True, env=_env(), timeout=PSQL_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pg_restore into {target.dbname} failed ({done.returncode}): {done.stderr.decode()}")
