"""Oracles for MySQL/MariaDB round trips, judged by the server's own tools.

Nothing here uses smokejumper code: a backup/restore is correct when *these*
say the restored database is the same as the source.

- ``schema_dump(db)``: ``mysqldump --no-data`` with routines, triggers and
  events, normalised only where the text describes the dump run or a
  legitimately different restore (see ``normalize_schema_dump``).
- ``auto_increments(db)``: the AUTO_INCREMENT counters that normalisation
  takes out of the schema text, compared on their own (``AUTO_INCREMENT_POLICIES``).
- ``table_checksums(db)``: per base table, row count and ``CHECKSUM TABLE
  ... EXTENDED`` (what it sees and misses: ``table_checksums``' docstring).
- ``content_digest(db, table)``: a second opinion computed from the column
  *values* by a ``SELECT``, independent of CHECKSUM TABLE's record format.
- ``assert_same_database(source, restored)``: all of the above, readable.
- ``mysql_restore(sql, db)``: feed SQL (or a file, ``.zst`` or not) to the
  plain ``mysql`` client, as a user restoring by hand would.
- ``mysqldump_round_trip(source, target)``: the reference, ``mysqldump | mysql``.

A ``db`` is anything with ``host``, ``port``, ``user`` and ``dbname``
(``tests.support.services.MysqlDatabase``). The test server's root has no
password; none is ever passed. Every client runs with ``--no-defaults`` and
without ``MYSQL_*`` environment variables, so no option file or stray
``MYSQL_PWD``/``MYSQL_HOST`` changes what it does.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections import Counter
from typing import Any, Literal, Protocol

import pymysql

from tests.support.sql_client import feed_sql

MYSQL_TIMEOUT = 300


class MysqlTarget(Protocol):
    host: str
    port: int
    user: str
    dbname: str


def _client_args(db: MysqlTarget) -> list[str]:
    # --no-defaults must come first: no my.cnf, ~/.my.cnf or login path applies.
    return ["--no-defaults", f"--host={db.host}", f"--port={db.port}", f"--user={db.user}"]


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("MYSQL", "MARIADB"))}


def quote_identifier(name: str) -> str:
    """```name``` with backticks doubled: safe for any table or column name."""
    return "`" + name.replace("`", "``") + "`"


# Every session setting a value's text form, or what a SELECT returns, could
# depend on is pinned: TIMESTAMP values print in the session time zone, and
# sql_mode PAD_CHAR_TO_FULL_LENGTH would change what a CHAR column returns.
_SESSION_SETTINGS = (
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
    "SET SESSION max_statement_time = 0",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
)


def connect(db: MysqlTarget) -> pymysql.connections.Connection:
    """PyMySQL connection (utf8mb4, autocommit) with the oracle's session settings."""
    connection = pymysql.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        database=db.dbname,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=10,
        read_timeout=MYSQL_TIMEOUT,
    )
    with connection.cursor() as cursor:
        for statement in _SESSION_SETTINGS:
            cursor.execute(statement)
    return connection


def _rows(connection: pymysql.connections.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [tuple(row) for row in cursor.fetchall()]


# --- schema -------------------------------------------------------------------

_SANDBOX_LINE = re.compile(r"^/\*M!999999\\- enable the sandbox mode \*/ ?$")
_CREATE_TABLE = re.compile(r"^CREATE TABLE `((?:[^`]|``)+)` \($")
_TABLE_OPTIONS = re.compile(r"^\) ENGINE=")
_AUTO_INCREMENT_OPTION = re.compile(r" AUTO_INCREMENT=(\d+)")
_IDENT = r"`(?:[^`]|``)*`"
# DEFINER clauses where mysqldump prints them: views (/*!50013 ...), triggers
# (/*!50017 ...), events (/*!50117 ...) and routines (CREATE DEFINER=...).
# A role definer has no @host part.
_DEFINER = re.compile(rf"(^CREATE |/\*!50013 |/\*!50017 |/\*!50117 )DEFINER={_IDENT}(?:@{_IDENT})?")
DEFINER_PLACEHOLDER = "DEFINER=`<definer>`@`<host>`"


def normalize_schema_dump(text: str, *, keep_definers: bool = False) -> str:
    """Remove what describes the dump run or a legitimate restore choice, nothing else.

    1. ``/*M!999999\\- enable the sandbox mode */``: written first by
       mysqldump since MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6, 11.1.5,
       11.2.4 and 11.4.2 (mariadb.org/mariadb-dump-file-compatibility-change).
       It tells the ``mysql`` client to refuse commands that reach outside
       the server (``\\!`` for a shell...): about the client, not the schema, and absent
       from older mysqldump output. (Older clients, and MySQL's, stop at it:
       ``Unknown command '\\-'``.)
    2. ``AUTO_INCREMENT=N`` on the ``) ENGINE=...`` line of each CREATE TABLE:
       a counter, not a definition. It is durable state (InnoDB persists it
       across restarts since MariaDB 10.2.4 / MySQL 8.0, so a source whose
       top rows were deleted keeps handing out ids above them) but it moves
       outside transactions: a rolled-back INSERT consumes values, a
       multi-row INSERT ... SELECT reserves more than it uses, and a dump
       taken under load sees a counter ahead of its own snapshot. A restore
       that lets its INSERTs set the counter gets max(id) + 1, which may
       legitimately be lower. So it is compared on its own, under a policy
       the caller states: ``auto_increments`` and ``AUTO_INCREMENT_POLICIES``.
       Nothing else on that line is touched.
    3. ``DEFINER=`user`@`host``` of views, triggers, routines and events,
       unless ``keep_definers``: the engine restores without DEFINER by
       default (the restoring account may not have SET USER / SUPER, and the
       source's accounts may not exist on the target), so every object is
       then owned by whoever restored it. The placeholder keeps the position
       visible; ``SQL SECURITY`` stays, it is a property of the object.

    Not normalised, because each is part of what an object means and the
    reference (mysqldump | mysql) reproduces it: each trigger's, routine's
    and event's ``sql_mode``, ``character_set_client`` and
    ``collation_connection`` (they change how its body parses and compares
    strings), an event's ``time_zone`` and STARTS, the database name (never
    printed without ``--databases``: own-database qualifiers are dropped by
    SHOW CREATE VIEW; a name written inside a trigger or routine body is the
    user's text, restored verbatim, and compared as such).
    """
    kept: list[str] = []
    # split("\n"), not splitlines(): that would also split at \x0b, \x1c,
    # U+2028... inside a body or a string, and join them back as "\n".
    for line in text.split("\n"):
        if _SANDBOX_LINE.match(line):
            continue
        if _TABLE_OPTIONS.match(line):
            line = _AUTO_INCREMENT_OPTION.sub("", line, count=1)
        if not keep_definers:
            line = _DEFINER.sub(lambda match: match.group(1) + DEFINER_PLACEHOLDER, line)
        kept.append(line)
    return "\n".join(kept).strip("\n") + "\n"


def parse_auto_increments(text: str) -> dict[str, int]:
    """``{table: AUTO_INCREMENT}`` from mysqldump/SHOW CREATE TABLE text.

    A table whose CREATE TABLE has no AUTO_INCREMENT option (no such column,
    or a counter still at its start) is absent.
    """
    counters: dict[str, int] = {}
    table: str | None = None
    for line in text.split("\n"):
        created = _CREATE_TABLE.match(line)
        if created:
            table = created.group(1).replace("``", "`")
        elif table is not None and _TABLE_OPTIONS.match(line):
            found = _AUTO_INCREMENT_OPTION.search(line)
            if found:
                counters[table] = int(found.group(1))
            table = None
    return counters


def mysqldump(db: MysqlTarget, *args: str, timeout: float = MYSQL_TIMEOUT) -> bytes:
    """Raw ``mysqldump`` output of the database (utf8mb4), with extra ``args``."""
    command = ["mysqldump", *_client_args(db), "--default-character-set=utf8mb4", *args, db.dbname]
    done = subprocess.run(command, capture_output=True, env=_env(), timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mysqldump {db.dbname} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


SCHEMA_DUMP_OPTIONS = (
    "--no-data",
    "--skip-comments",  # the header names host, database and server version
    "--skip-dump-date",
    "--routines",
    "--triggers",
    "--events",
    # DROP TABLE/VIEW IF EXISTS lines repeat every name and double each diff.
    "--skip-add-drop-table",
    # Reads the catalog without LOCK TABLES (MyISAM tables too).
    "--single-transaction",
)


def raw_schema_dump(db: MysqlTarget) -> str:
    """``mysqldump`` with ``SCHEMA_DUMP_OPTIONS``, not normalised.

    Decoded as UTF-8 with ``surrogateescape``: SHOW CREATE TABLE prints the
    default of a BINARY/VARBINARY/BLOB column as its raw bytes (``DEFAULT
    x'ff00'`` comes out as ``'\\xff\\0'``), which need not be UTF-8; each
    such byte becomes a lone surrogate, so the text still compares byte
    for byte.
    """
    return mysqldump(db, *SCHEMA_DUMP_OPTIONS).decode("utf-8", errors="surrogateescape")


def schema_dump(db: MysqlTarget, *, keep_definers: bool = False) -> str:
    """The schema as mysqldump prints it, normalised (``normalize_schema_dump``)."""
    return normalize_schema_dump(raw_schema_dump(db), keep_definers=keep_definers)


def auto_increments(db: MysqlTarget) -> dict[str, int]:
    """``{table: next AUTO_INCREMENT value}`` as mysqldump's CREATE TABLE carries it."""
    return parse_auto_increments(raw_schema_dump(db))


def schema_diff(source: str, restored: str, *, context: int = 3) -> str:
    """Unified diff of two schema dumps ('' when identical)."""
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in source.split("\n")],
            [line + "\n" for line in restored.split("\n")],
            fromfile="source (mysqldump --no-data)",
            tofile="restored (mysqldump --no-data)",
            n=context,
        )
    )


def database_defaults(db: MysqlTarget) -> tuple[str, str]:
    """The database's default (character set, collation): new tables and routine parameters inherit them.

    mysqldump prints them only with ``--databases`` (CREATE DATABASE), which
    would also print the database's name, so they are read here instead.
    """
    connection = connect(db)
    try:
        [(charset, collation)] = _rows(
            connection,
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
            " WHERE SCHEMA_NAME = %s",
            (db.dbname,),
        )
        return str(charset), str(collation)
    finally:
        connection.close()


# --- data ---------------------------------------------------------------------

# Tables with rows: InnoDB, MyISAM, Aria... and system-versioned ones. Views
# have no rows of their own; a SEQUENCE's state is in the schema dump
# (mysqldump prints SETVAL even with --no-data).
_DATA_TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")


def _data_tables(connection: pymysql.connections.Connection, dbname: str) -> dict[str, str]:
    """``{table: TABLE_TYPE}`` of every table with rows, sorted by name."""
    rows = _rows(
        connection,
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN %s",
        (dbname, _DATA_TABLE_TYPES),
    )
    return dict(sorted((str(name), str(kind)) for name, kind in rows))


def _begin_snapshot(connection: pymysql.connections.Connection) -> None:
    # CHECKSUM TABLE and SELECT both read InnoDB through this snapshot; a
    # MyISAM table is read as it is at that moment (it has no snapshots).
    _rows(connection, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


def _qualified(dbname: str, table: str) -> str:
    return f"{quote_identifier(dbname)}.{quote_identifier(table)}"


def _tables_with_generated_columns(connection: pymysql.connections.Connection, dbname: str) -> set[str]:
    rows = _rows(
        connection,
        "SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = %s AND IS_GENERATED = 'ALWAYS'",
        (dbname,),
    )
    return {str(name) for (name,) in rows}


def checksum_table(db: MysqlTarget, table: str) -> int | None:
    """The server's raw ``CHECKSUM TABLE ... EXTENDED`` of one table, whatever the table holds."""
    connection = connect(db)
    try:
        [(_name, checksum)] = _rows(connection, f"CHECKSUM TABLE {_qualified(db.dbname, table)} EXTENDED")
        return None if checksum is None else int(checksum)
    finally:
        connection.close()


def table_checksums(db: MysqlTarget) -> dict[str, tuple[int, int | None]]:
    """``{table: (row_count, CHECKSUM TABLE ... EXTENDED)}`` for every table with rows.

    The checksum is ``None`` where CHECKSUM TABLE cannot judge the table:
    a table with generated columns (below), or one the server answers NULL
    for (e.g. dropped meanwhile). The content digest judges those alone.

    CHECKSUM TABLE (EXTENDED: always reads every row, never the live
    checksum MyISAM keeps with CHECKSUM=1) is the 32-bit *sum* over rows of
    a CRC of the row's record image: its null bitmap and each non-NULL
    field's bytes (VARCHAR/BLOB/BIT/geometry by value, the rest as stored).
    Measured on MariaDB 10.11 (tests/integration/test_mysql_oracle.py):

    - it tells NULL from '' and from 0, trailing spaces in VARCHAR, x'00'
      from x'0000', any byte of binary data, and which row holds which value
      (swapping values between rows changes it);
    - it is independent of the physical order of rows (a sum) and counts
      duplicate rows (an XOR would cancel pairs); it is the same for InnoDB
      in every ROW_FORMAT (REDUNDANT, COMPACT, DYNAMIC, COMPRESSED), MyISAM
      (dynamic) and Aria: it reads the server's record image, not pages;
    - it does not depend on the session time zone (TIMESTAMP is stored in
      UTC) or on collations (it sums bytes, it does not compare).

    What it misses, or what else it depends on:

    - **generated columns**: the record image of a table with a VIRTUAL or
      STORED generated column holds bytes that are not a function of the
      rows: on InnoDB four identical tables loaded by the same statements
      give four different sums, and ``ALTER TABLE ... FORCE`` changes the
      sum of one. So such tables get ``None`` here, whatever the engine;
    - CHAR trailing spaces (the column pads on storage: nothing to see);
    - -0.0 vs 0.0 in FLOAT/DOUBLE: MariaDB stores every -0.0 as +0.0, so
      there is nothing to see either;
    - it depends on column *types* (INT vs BIGINT, NULL vs NOT NULL, column
      order, the character set of non-ASCII text) but not on VARCHAR
      lengths or collations: differences the schema dump shows anyway;
    - MyISAM ROW_FORMAT=FIXED sums the same rows differently from MyISAM
      dynamic or InnoDB (its record image marks "not packed"), as would
      pre-MySQL-5.6 temporal columns of an upgraded table: equal data can
      differ when table options differ (again visible in the schema dump);
    - 32 bits: a real difference goes unseen with probability 2^-32.
    """
    connection = connect(db)
    try:
        _begin_snapshot(connection)
        unjudgeable = _tables_with_generated_columns(connection, db.dbname)
        result: dict[str, tuple[int, int | None]] = {}
        for table in _data_tables(connection, db.dbname):
            name = _qualified(db.dbname, table)
            [(count,)] = _rows(connection, f"SELECT COUNT(*) FROM {name}")
            checksum = None
            if table not in unjudgeable:
                [(_name, checksum)] = _rows(connection, f"CHECKSUM TABLE {name} EXTENDED")
            result[table] = (int(count), None if checksum is None else int(checksum))
        _rows(connection, "COMMIT")
        return result
    finally:
        connection.close()


def _columns(connection: pymysql.connections.Connection, dbname: str, table: str) -> list[tuple[str, str]]:
    rows = _rows(
        connection,
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (dbname, table),
    )
    return [(str(name), str(data_type).lower()) for name, data_type in rows]


def _value_text(column: str, data_type: str) -> str:
    """SQL giving a text/byte form of one column that is unique to its value.

    Every type but FLOAT goes to MD5 as is: strings and blobs as their stored
    bytes (in the column's own character set), numbers, DECIMAL, dates and
    times as their exact text (DOUBLE prints the shortest text that reads
    back to the same double), TIMESTAMP in the pinned +00:00 zone, BIT as its
    bytes, geometry as SRID + WKB, UUID/INET6/INET4 as their canonical text.
    FLOAT prints only 6 significant digits (1.0000001 prints "1"), so it is
    widened to DOUBLE first, which is exact.
    """
    quoted = quote_identifier(column)
    return f"CAST({quoted} AS DOUBLE)" if data_type == "float" else quoted


def _row_hash_sql(columns: list[tuple[str, str]]) -> str:
    # NULL becomes 'N', any other value the 32 hex digits of its MD5: 'N' is
    # never an MD5, so NULL, '' and the string 'N' all differ, and the ','
    # separator cannot occur inside a field. Hashing each field first also
    # bounds the row string whatever a BLOB holds (HEX of a value longer than
    # max_allowed_packet / 2 would be NULL).
    fields = [
        f"IF({quote_identifier(name)} IS NULL, 'N', MD5({_value_text(name, data_type)}))" for name, data_type in columns
    ]
    return f"MD5(CONCAT_WS(',', {', '.join(fields)}))"


# The row hashes' two 64-bit halves, each summed exactly (SUM of BIGINT
# UNSIGNED is DECIMAL(42,0)): commutative, so row order does not matter, and
# unlike XOR it counts duplicate rows. Streams: constant memory, no sort.
_DIGEST = """
SELECT COUNT(*),
       COALESCE(SUM(CAST(CONV(SUBSTR(h, 1, 16), 16, 10) AS UNSIGNED)), 0),
       COALESCE(SUM(CAST(CONV(SUBSTR(h, 17, 16), 16, 10) AS UNSIGNED)), 0)
FROM (SELECT {row_hash} AS h FROM {table}) AS row_hashes
"""


def _fold(total: Any) -> str:
    return f"{int(total) % 2**64:016x}"


_SYSTEM_PERIOD = [("ROW_START", "timestamp"), ("ROW_END", "timestamp")]
_UNKNOWN_COLUMN = 1054


def _content_digest(
    connection: pymysql.connections.Connection, dbname: str, table: str, kind: str = "BASE TABLE"
) -> tuple[int, str]:
    columns = _columns(connection, dbname, table)
    source = _qualified(dbname, table)
    if kind == "SYSTEM VERSIONED":
        # Every version of every row, with its period: the history is data.
        # An implicit period (no columns named in the DDL) is read through
        # the ROW_START/ROW_END pseudo-columns; explicit ones are ordinary
        # (invisible, generated) columns already in the list.
        source += " FOR SYSTEM_TIME ALL"
        try:
            return _digest_query(connection, columns + _SYSTEM_PERIOD, source)
        except pymysql.err.OperationalError as error:
            if error.args[0] != _UNKNOWN_COLUMN:
                raise
    return _digest_query(connection, columns, source)


def _digest_query(
    connection: pymysql.connections.Connection, columns: list[tuple[str, str]], source: str
) -> tuple[int, str]:
    [(count, high, low)] = _rows(connection, _DIGEST.format(row_hash=_row_hash_sql(columns), table=source))
    return int(count), _fold(high) + _fold(low)


def content_digest(db: MysqlTarget, table: str) -> tuple[int, str]:
    """``(row_count, 32 hex digits)``: an order-independent digest of one table's values.

    Computed by the server with a SELECT over *every* column (INVISIBLE and
    generated ones included, in ORDINAL_POSITION order) from the values'
    text/byte forms (``_value_text``), never from CHECKSUM TABLE's record
    image: a second opinion that does not share its blind spots (it sees
    generated columns, and does not depend on row format). NULL is hashed
    as the marker 'N', a value as its MD5, so NULL and '' differ. For a
    system-versioned table it covers every version (``FOR SYSTEM_TIME
    ALL``) with its ROW_START/ROW_END, and the count is of versions, where
    ``table_checksums`` counts current rows.
    """
    connection = connect(db)
    try:
        _begin_snapshot(connection)
        kind = _data_tables(connection, db.dbname).get(table, "BASE TABLE")
        digest = _content_digest(connection, db.dbname, table, kind)
        _rows(connection, "COMMIT")
        return digest
    finally:
        connection.close()


def content_digests(db: MysqlTarget) -> dict[str, tuple[int, str]]:
    """``content_digest`` of every table with rows, all in one snapshot."""
    connection = connect(db)
    try:
        _begin_snapshot(connection)
        result = {
            table: _content_digest(connection, db.dbname, table, kind)
            for table, kind in _data_tables(connection, db.dbname).items()
        }
        _rows(connection, "COMMIT")
        return result
    finally:
        connection.close()


def table_rows(db: MysqlTarget, table: str, *, limit: int | None = None) -> list[tuple[Any, ...]]:
    """One table's rows as PyMySQL returns them (FLOAT widened to DOUBLE), in a stable order."""
    connection = connect(db)
    try:
        columns = _columns(connection, db.dbname, table)
        select = ", ".join(_value_text(name, data_type) for name, data_type in columns)
        rows = _rows(connection, f"SELECT {select} FROM {_qualified(db.dbname, table)}")
        ordered = sorted(rows, key=repr)
        return ordered if limit is None else ordered[:limit]
    finally:
        connection.close()


# --- the verdict --------------------------------------------------------------

MAX_DIFF_LINES = 300
ROW_SAMPLE_LIMIT = 5000

AutoIncrementPolicy = Literal["exact", "valid"]
AUTO_INCREMENT_POLICIES: dict[str, str] = {
    "exact": "the restored counter equals the source's: right for a quiescent source, since both"
    " mysqldump and SHOW CREATE TABLE carry AUTO_INCREMENT=N in the DDL",
    "valid": "the restored counter is above the largest value of its column in the restored rows and"
    " no higher than the source's now: right for a dump taken under load (the counter is not"
    " transactional: it runs ahead of the snapshot and keeps moving after it) or a restore that"
    " lets INSERTs set it (then it is max+1, below a source that deleted its top rows)",
}


def _clip(text: str, width: int = 160) -> str:
    return text if len(text) <= width else f"{text[:width]}... ({len(text)} chars)"


def _row_difference(source: MysqlTarget, restored: MysqlTarget, table: str) -> list[str]:
    left = Counter(repr(row) for row in table_rows(source, table, limit=ROW_SAMPLE_LIMIT + 1))
    right = Counter(repr(row) for row in table_rows(restored, table, limit=ROW_SAMPLE_LIMIT + 1))
    if sum(left.values()) > ROW_SAMPLE_LIMIT or sum(right.values()) > ROW_SAMPLE_LIMIT:
        return ["    (too many rows to list the difference)"]
    lines = [f"    - {_clip(row)}" for row in sorted((left - right).elements())[:10]]
    lines += [f"    + {_clip(row)}" for row in sorted((right - left).elements())[:10]]
    return lines or ["    (the same values: the difference is in how they are stored)"]


def _auto_increment_column_maxima(db: MysqlTarget) -> dict[str, int]:
    connection = connect(db)
    try:
        found = _rows(
            connection,
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND EXTRA LIKE %s",
            (db.dbname, "%auto_increment%"),
        )
        maxima: dict[str, int] = {}
        for table, column in found:
            [(highest,)] = _rows(
                connection, f"SELECT MAX({quote_identifier(column)}) FROM {_qualified(db.dbname, table)}"
            )
            maxima[str(table)] = int(highest or 0)
        return maxima
    finally:
        connection.close()


def _auto_increment_problems(
    source: MysqlTarget, restored: MysqlTarget, want: dict[str, int], got: dict[str, int], policy: str
) -> list[str]:
    # SHOW CREATE TABLE leaves AUTO_INCREMENT out while the counter is at 1.
    names = sorted(want.keys() | got.keys())
    if policy == "exact":
        return [
            f"table {name}: AUTO_INCREMENT source {want.get(name, 1)}, restored {got.get(name, 1)}"
            for name in names
            if want.get(name, 1) != got.get(name, 1)
        ]
    if policy != "valid":
        raise ValueError(f"auto_increment policy must be one of {sorted(AUTO_INCREMENT_POLICIES)}, not {policy!r}")
    maxima = _auto_increment_column_maxima(restored)
    problems = []
    for name in sorted(maxima.keys() | set(names)):
        counter, ceiling = got.get(name, 1), want.get(name, 1)
        if counter <= maxima.get(name, 0) or counter > ceiling:
            problems.append(
                f"table {name}: AUTO_INCREMENT restored {counter}, want above the restored column's"
                f" maximum {maxima.get(name, 0)} and at most the source's {ceiling}"
            )
    return problems


def database_differences(
    source: MysqlTarget,
    restored: MysqlTarget,
    *,
    auto_increment: AutoIncrementPolicy = "exact",
    keep_definers: bool = False,
) -> list[str]:
    """Human-readable differences between two databases ([] when the same)."""
    problems: list[str] = []

    raw_source, raw_restored = raw_schema_dump(source), raw_schema_dump(restored)
    diff = schema_diff(
        normalize_schema_dump(raw_source, keep_definers=keep_definers),
        normalize_schema_dump(raw_restored, keep_definers=keep_definers),
    )
    if diff:
        # Raw bytes of binary defaults (surrogates here) print as \xNN.
        lines = diff.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").splitlines()
        shown = "\n".join(lines[:MAX_DIFF_LINES])
        more = f"\n... {len(lines) - MAX_DIFF_LINES} more diff lines" if len(lines) > MAX_DIFF_LINES else ""
        problems.append(f"schema differs:\n{shown}{more}")

    if database_defaults(source) != database_defaults(restored):
        problems.append(
            f"database default (charset, collation): source {database_defaults(source)},"
            f" restored {database_defaults(restored)}"
        )

    problems += _auto_increment_problems(
        source, restored, parse_auto_increments(raw_source), parse_auto_increments(raw_restored), auto_increment
    )

    want, got = table_checksums(source), table_checksums(restored)
    want_digests, got_digests = content_digests(source), content_digests(restored)
    for table in sorted(want.keys() - got.keys()):
        problems.append(f"table {table}: missing from restored database ({want[table][0]} rows in source)")
    for table in sorted(got.keys() - want.keys()):
        problems.append(f"table {table}: only in restored database ({got[table][0]} rows)")
    for table in sorted(want.keys() & got.keys()):
        same_checksum = want[table] == got[table]
        same_digest = want_digests.get(table) == got_digests.get(table)
        if same_checksum and same_digest:
            continue
        (n_want, c_want), (n_got, c_got) = want[table], got[table]
        d_want, d_got = want_digests[table][1], got_digests[table][1]
        note = ""
        if same_digest:
            note = " (only CHECKSUM TABLE differs: the same values, stored differently)"
        elif same_checksum:
            note = " (only the content digest differs)"
        detail = [
            f"table {table}: source {n_want} rows CHECKSUM {c_want} digest {d_want},"
            f" restored {n_got} rows CHECKSUM {c_got} digest {d_got}{note}",
            "  rows only in source (-) / only in restored (+):",
            *_row_difference(source, restored, table),
        ]
        problems.append("\n".join(detail))
    return problems


def assert_same_database(
    source: MysqlTarget,
    restored: MysqlTarget,
    *,
    auto_increment: AutoIncrementPolicy = "exact",
    keep_definers: bool = False,
) -> None:
    """Schema dump, database defaults, AUTO_INCREMENT counters, CHECKSUM TABLE, content digests and row counts.

    AssertionError saying how they differ. ``auto_increment`` picks the
    counter policy (``AUTO_INCREMENT_POLICIES``); ``keep_definers`` compares
    DEFINER clauses too (for a restore asked to keep them).
    """
    problems = database_differences(source, restored, auto_increment=auto_increment, keep_definers=keep_definers)
    if problems:
        header = f"database {restored.dbname} is not a faithful copy of {source.dbname}:"
        raise AssertionError("\n".join([header, *problems]))


# --- restoring with the reference client ----------------------------------------


def mysql_command(db: MysqlTarget, *, comments: bool = True, binary_mode: bool = False) -> list[str]:
    """The ``mysql`` client command line that restores into ``db`` from stdin.

    - ``--comments``: without it the client *strips comments* from what it
      sends, including those inside CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT
      bodies, so a routine's stored text changes (mysqldump | mysql fails
      the schema oracle for any routine with a comment; shown in tests).
      On by default here; ``comments=False`` is what a bare ``mysql`` does.
    - no ``--binary-mode`` by default: without it the client rejects a raw
      NUL byte and turns a raw CR LF into LF *even inside a quoted string*.
      mysqldump escapes both (``\\0``, ``\\r``), and a dump that writes binary
      as hex literals and escapes text the same way never needs it; keeping
      it off makes the oracle fail a dump that would only restore with it.
    - no ``--default-character-set``: the plain client's default (here
      utf8mb3, from the C.UTF-8 locale) is what a user gets, so a dump must
      say ``SET NAMES utf8mb4`` itself, as mysqldump's does.
    Errors stop the client (non-interactive mode): exit status 1 and the
    failing statement's line on stderr.
    """
    command = ["mysql", *_client_args(db)]
    if comments:
        command.append("--comments")
    if binary_mode:
        command.append("--binary-mode")
    return [*command, db.dbname]


def mysql_restore(
    sql: bytes | str | os.PathLike[str],
    db: MysqlTarget,
    *,
    comments: bool = True,
    binary_mode: bool = False,
    timeout: float = MYSQL_TIMEOUT,
) -> str:
    """Run SQL through the ``mysql`` client (``mysql_command``) on stdin; return its stdout.

    ``bytes``/``str`` are SQL text (a ``str`` is never taken for a path); a
    ``Path`` is a file, decompressed with ``zstd -dc`` when it ends in
    ``.zst``. Raises ``RuntimeError`` with the client's own error when it
    fails. When zstd fails too, its error is the cause only if it failed
    on its own (a corrupt or truncated file); a zstd killed by SIGPIPE
    because mysql stopped reading is a consequence, and only mysql's error
    is reported.
    """
    command = mysql_command(db, comments=comments, binary_mode=binary_mode)
    return feed_sql(command, sql, env=_env(), timeout=timeout, client=f"mysql into {db.dbname}")


REFERENCE_DUMP_OPTIONS = ("--single-transaction", "--routines", "--triggers", "--events")


def mysqldump_round_trip(source: MysqlTarget, target: MysqlTarget, *, comments: bool = True) -> None:
    """The reference: ``mysqldump --single-transaction --routines --triggers --events source | mysql target``."""
    mysql_restore(mysqldump(source, *REFERENCE_DUMP_OPTIONS), target, comments=comments)
