"""What a MySQL/MariaDB database holds besides rows, as the statements that recreate it.

Read inside the dump's consistent-snapshot transaction, from the server's
own `SHOW CREATE ...` (the only complete source of table, view, trigger,
routine and event definitions), as bytes: a binary DEFAULT prints as raw
non-UTF-8 bytes, which PyMySQL's decoder cannot take.

The order follows mysqldump's, which the tests hold to the same oracle:
tables, then stand-in views (so that views may reference each other in any
order), rows, triggers (after the rows, so they do not fire while rows
load), events, routines, and last the real views (which may call routines).
Each trigger, event and routine is created under the `sql_mode`, character
set and collation it was created under (and events under their time zone),
because the server stores them with it. DEFINER clauses are removed unless
asked for: the restoring user then owns them and needs no other accounts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql

__all__ = ["Column", "Schema", "Table", "quote_identifier", "read_schema"]

# The value kinds the data dump writes differently.
NUMBER, STRING, BINARY, FLOAT = "number", "string", "binary", "float"
_NUMERIC_TYPES = {
    "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "double", "year",
}  # fmt: skip
_BINARY_TYPES = {
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
    "geometrycollection", "geomcollection",
}  # fmt: skip
_ACCOUNT_PART = rb"(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^\s@`'\"]+)"
# DEFINER=user@host in any quoting (backquotes; double quotes under ANSI_QUOTES; none), then a space.
_DEFINER = re.compile(rb"(?<=\s)DEFINER\s*=\s*" + _ACCOUNT_PART + rb"(?:@" + _ACCOUNT_PART + rb")?\s")
_DATA_TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")
# A sequence function's call, wherever it stands in a DEFAULT expression; only the keyword ignores case
# (on Linux, `Shop` and `shop` are different databases).
_SEQUENCE_CALL = rb"((?i:\b(?:nextval|lastval)\())"
_QUOTED_NAME = rb"`((?:[^`]|``)+)`"
CHARSET_NAME = re.compile(r"^[a-z0-9_]+$")  # written into SQL as an introducer


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # NUMBER, STRING, BINARY or FLOAT
    charset: str | None = None  # of a string column
    max_bytes: int = 64  # the longest value it can hold, in bytes
    data_type: str = ""  # as information_schema names it: int, varchar, longblob, ...

    @property
    def literal(self) -> str:
        """SQL the server evaluates to this column's value as an SQL literal (NULL included).

        The server writes the literals (in C, where it already has the value)
        so the dump reads one field per row instead of converting every value
        in Python:
        - numbers as their text (exact for integers and DECIMAL);
        - FLOAT as its DOUBLE value: a FLOAT's own text has only 6 significant digits;
        - utf8mb4 strings through QUOTE (which escapes backslash, quote, NUL and Ctrl-Z). Raw
          newlines and carriage returns are left for the dump to escape over whole statements
          (only string literals can hold them), which costs the server nothing;
        - strings in any other character set as their stored bytes, `_latin1 0x...`: converting
          them would turn bytes with no utf8mb4 equivalent into `?`;
        - binary strings, BIT and spatial values as 0x hex ('' when empty).
        A literal can outgrow the server's max_allowed_packet only in a table with MEDIUM/LONG
        TEXT/BLOB columns (see `Table.bounded`); those tables are read raw instead.
        """
        quoted = quote_identifier(self.name)
        if self.kind == NUMBER:
            return f"IFNULL({quoted}, 'NULL')"
        if self.kind == FLOAT:
            return f"IFNULL(CAST({quoted} AS DOUBLE), 'NULL')"
        if self.kind == BINARY:
            return f"IF({quoted} IS NULL, 'NULL', IF(LENGTH({quoted}) = 0, '''''', CONCAT('0x', HEX({quoted}))))"
        if self.charset not in (None, "utf8mb4"):
            introducer = f"_{self.charset}"
            empty = f"'{introducer}'''''"  # the SQL text _latin1'' as a string literal
            return (
                f"IF({quoted} IS NULL, 'NULL', IF(LENGTH({quoted}) = 0, {empty},"
                f" CONCAT('{introducer} 0x', HEX({quoted}))))"
            )
        return f"QUOTE({quoted})"  # QUOTE(NULL) is the word NULL, unquoted

    @property
    def raw_select(self) -> str:
        """What the raw read selects: the value itself (a FLOAT as DOUBLE, other charsets as bytes)."""
        quoted = quote_identifier(self.name)
        if self.kind == FLOAT:
            return f"CAST({quoted} AS DOUBLE)"
        if self.kind == STRING and self.charset not in (None, "utf8mb4"):
            return f"CAST({quoted} AS BINARY)"
        return quoted


@dataclass
class Table:
    name: str
    engine: str
    create: bytes  # SHOW CREATE TABLE
    columns: list[Column]  # the ones a row is written with: generated columns take no value
    # A system-versioned table's period columns: its rows are dumped with their history
    # (FOR SYSTEM_TIME ALL), and restored with system_versioning_insert_history.
    history: list[Column] = field(default_factory=list)
    # Its triggers' statements (with the settings they were created under), for `--table` restores.
    triggers: list[bytes] = field(default_factory=list)

    @property
    def quoted(self) -> str:
        return quote_identifier(self.name)

    def bounded(self, max_allowed_packet: int) -> bool:
        """Whether every row's literal text surely fits in one server packet (hex doubles a value)."""
        return sum(2 * column.max_bytes + 16 for column in self.columns + self.history) < max_allowed_packet

    @property
    def transactional(self) -> bool:
        return self.engine.lower() == "innodb"


@dataclass
class Schema:
    database_defaults: tuple[str, str]  # character set, collation
    tables: list[Table] = field(default_factory=list)
    pre_data: list[bytes] = field(default_factory=list)  # tables and stand-in views
    post_data: list[bytes] = field(default_factory=list)  # triggers, events, routines, views
    not_dumped: list[str] = field(default_factory=list)  # what this version does not carry, said out loud


def _rows(connection: pymysql.connections.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute(sql, args)
        return [tuple(row) for row in cursor.fetchall()]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def strip_definer(statement: bytes) -> bytes:
    return _DEFINER.sub(b"", statement, count=1)


def _with_settings(
    statement: bytes, *, sql_mode: str, charset: str, collation: str, time_zone: str | None = None
) -> list[bytes]:
    """The statement wrapped in the session settings it was created under, then the dump's own restored."""
    before = [
        "SET @saved_cs_client = @@character_set_client, @saved_cs_results = @@character_set_results,"
        " @saved_col_connection = @@collation_connection, @saved_sql_mode = @@sql_mode,"
        " @saved_time_zone = @@time_zone",
        f"SET character_set_client = {charset}, character_set_results = {charset}, collation_connection = {collation}",
        f"SET sql_mode = '{sql_mode}'",
    ]
    if time_zone is not None:
        before.append(f"SET time_zone = '{time_zone}'")
    after = (
        "SET character_set_client = @saved_cs_client, character_set_results = @saved_cs_results,"
        " collation_connection = @saved_col_connection, sql_mode = @saved_sql_mode, time_zone = @saved_time_zone"
    )
    return [*(line.encode() for line in before), statement, after.encode()]


def read_schema(connection: pymysql.connections.Connection, database: str, *, definers: bool = False) -> Schema:
    """Every object of `database`, as statements in restore order (see the module docstring)."""
    charset, collation = (
        _text(value)
        for value in _rows(
            connection,
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
            " WHERE SCHEMA_NAME = %s",
            (database,),
        )[0]
    )
    schema = Schema((charset, collation))
    schema.pre_data.append(f"ALTER DATABASE CHARACTER SET {charset} COLLATE {collation}".encode())
    kept = (lambda statement: statement) if definers else strip_definer

    objects = _rows(
        connection,
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
        " ORDER BY TABLE_NAME",
        (database,),
    )
    views = []
    sequences: list[bytes] = []
    for raw_name, raw_type, raw_engine in objects:
        name, table_type = _text(raw_name), _text(raw_type)
        if table_type == "VIEW":
            views.append(name)
            continue
        if table_type == "SEQUENCE":
            sequences += _sequence(connection, name)
            continue
        if table_type not in _DATA_TABLE_TYPES:
            schema.not_dumped.append(f"{table_type.lower()} {name}")
            continue
        create = _own_sequences_unqualified(
            _rows(connection, f"SHOW CREATE TABLE {quote_identifier(name)}")[0][1], database
        )
        columns, period = _columns(connection, database, name)
        table = Table(name, _text(raw_engine or ""), create, columns)
        if table_type == "SYSTEM VERSIONED":
            # Implicit period columns are hidden, and are called row_start and row_end.
            table.history = period or [Column("row_start", STRING), Column("row_end", STRING)]
        schema.tables.append(table)
        schema.pre_data.append(create)
    # Sequences first: a table's DEFAULT may take NEXT VALUE FOR one of them.
    schema.pre_data[1:1] = sequences

    # Stand-ins first, so the real views can be created in any order at the end.
    for name in views:
        columns = [_text(c) for (c,) in _rows(
            connection,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            " ORDER BY ORDINAL_POSITION",
            (database, name),
        )]  # fmt: skip
        select = ", ".join(f"1 AS {quote_identifier(column)}" for column in columns) or "1 AS `_`"
        schema.pre_data.append(f"CREATE VIEW {quote_identifier(name)} AS SELECT {select}".encode())

    # Stored programs and views are kept in the character set of the client that created them;
    # with binary results their text comes back as created, to replay under that same charset
    # (mysqldump does the same). Converted to utf8mb4 first, a latin1 body would be garbled.
    with _binary_results(connection):
        _stored_objects(connection, database, schema, views, kept)
    return schema


def _stored_objects(
    connection: pymysql.connections.Connection,
    database: str,
    schema: Schema,
    views: list[str],
    kept: Callable[[bytes], bytes],
) -> None:
    for table in schema.tables:
        triggers = _rows(
            connection,
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s ORDER BY ACTION_ORDER, TRIGGER_NAME",
            (database, table.name),
        )
        for (trigger,) in triggers:
            row = _rows(connection, f"SHOW CREATE TRIGGER {quote_identifier(_text(trigger))}")[0]
            # Trigger, sql_mode, SQL Original Statement, character_set_client, collation_connection, ...
            statements = _with_settings(
                kept(row[2]), sql_mode=_text(row[1]), charset=_text(row[3]), collation=_text(row[4])
            )
            schema.post_data += statements
            table.triggers += statements

    for (event,) in _rows(
        connection, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY 1", (database,)
    ):
        row = _rows(connection, f"SHOW CREATE EVENT {quote_identifier(_text(event))}")[0]
        # Event, sql_mode, time_zone, Create Event, character_set_client, collation_connection, ...
        schema.post_data += _with_settings(
            kept(row[3]), sql_mode=_text(row[1]), time_zone=_text(row[2]), charset=_text(row[4]),
            collation=_text(row[5]),
        )  # fmt: skip

    for routine, routine_type in _rows(
        connection,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s"
        " ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (database,),
    ):
        kind = _text(routine_type)
        if kind not in ("FUNCTION", "PROCEDURE"):
            schema.not_dumped.append(f"{kind.lower()} {_text(routine)}")
            continue
        row = _rows(connection, f"SHOW CREATE {kind} {quote_identifier(_text(routine))}")[0]
        # Name, sql_mode, Create Function/Procedure, character_set_client, collation_connection, ...
        schema.post_data += _with_settings(
            kept(row[2]), sql_mode=_text(row[1]), charset=_text(row[3]), collation=_text(row[4])
        )

    for name in views:
        row = _rows(connection, f"SHOW CREATE VIEW {quote_identifier(name)}")[0]
        # View, Create View, character_set_client, collation_connection
        schema.post_data.append(f"DROP VIEW IF EXISTS {quote_identifier(name)}".encode())
        schema.post_data += _with_settings(kept(row[1]), sql_mode="", charset=_text(row[2]), collation=_text(row[3]))


@contextmanager
def _binary_results(connection: pymysql.connections.Connection) -> Iterator[None]:
    with connection.cursor(pymysql.cursors.Cursor) as cursor:
        cursor.execute("SET SESSION character_set_results = binary")
    try:
        yield
    finally:
        with connection.cursor(pymysql.cursors.Cursor) as cursor:
            cursor.execute("SET SESSION character_set_results = utf8mb4")


def _own_sequences_unqualified(create: bytes, database: str) -> bytes:
    """`create` with the database's own name dropped from the sequences its DEFAULTs call, anywhere in them.

    MariaDB's SHOW CREATE TABLE names such a sequence with its database, even
    the table's own: ``DEFAULT nextval(`ccdb`.`ids`)`` (so does mysqldump's
    output). Restored into a database of another name, the table would take
    its numbers from the source database's sequence, silently, if that one
    exists on the server. Unqualified, it takes them from the sequence of its
    own database, which the dump creates before it. A sequence of another
    database keeps its name.
    """
    own = re.escape(quote_identifier(database).encode()) + rb"\."
    return re.sub(_SEQUENCE_CALL + own, rb"\1", create)


def sequences_taken_from(create: bytes) -> list[str]:
    """The sequences of the table's own database that its DEFAULTs take values from (see above)."""
    found = re.findall(_SEQUENCE_CALL + _QUOTED_NAME + rb"\)", create)
    return sorted({name.replace(b"``", b"`").decode("utf-8", "replace") for _default, name in found})


def _sequence(connection: pymysql.connections.Connection, name: str) -> list[bytes]:
    """A MariaDB SEQUENCE and where it stands, as mysqldump writes them."""
    quoted = quote_identifier(name)
    create = _rows(connection, f"SHOW CREATE SEQUENCE {quoted}")[0][1]
    (next_value,) = _rows(connection, f"SELECT next_not_cached_value FROM {quoted}")[0]
    return [create, f"DO SETVAL({quoted}, {int(next_value)}, 0)".encode()]


def _columns(
    connection: pymysql.connections.Connection, database: str, table: str
) -> tuple[list[Column], list[Column]]:
    """The columns a row is written with, and the system-versioning period columns."""
    columns, period = [], []
    for name, data_type, charset, generation, octets in _rows(
        connection,
        "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_SET_NAME, GENERATION_EXPRESSION, CHARACTER_OCTET_LENGTH"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (database, table),
    ):
        if generation and _text(generation).upper() in ("ROW START", "ROW END"):
            period.append(Column(_text(name), STRING))
            continue
        if generation:
            continue  # computed by the server: an INSERT may not give it a value
        kind = _kind(_text(data_type).lower(), charset)
        character_set = _text(charset) if charset else None
        if character_set is not None and not CHARSET_NAME.match(character_set):
            raise ValueError(f"unexpected character set name {character_set!r}")
        if octets is not None:
            size = int(octets)
        elif _text(data_type).lower() == "bit":
            size = 8
        else:  # spatial types are unbounded; numbers and dates are short
            size = 1 << 32 if kind == BINARY else 64
        columns.append(Column(_text(name), kind, character_set, size, _text(data_type).lower()))
    return columns, period


def _kind(data_type: str, charset: Any) -> str:
    if data_type == "float":
        return FLOAT
    if data_type in _NUMERIC_TYPES:
        return NUMBER
    if data_type in _BINARY_TYPES or (charset is None and data_type in {"char", "varchar", "text"}):
        return BINARY
    return STRING


def table_names(tables: Sequence[Table]) -> list[str]:
    return [table.name for table in tables]
