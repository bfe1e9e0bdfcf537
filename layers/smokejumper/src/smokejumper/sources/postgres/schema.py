"""Read a PostgreSQL database's schema from the catalogs and write it back as SQL.

Everything runs inside the dump's snapshot transaction with `search_path`
empty, so the server's own deparsers (`pg_get_indexdef`, `pg_get_expr`,
`format_type`, `pg_get_viewdef`, ...) print schema-qualified names, as they
do for pg_dump. Objects that belong to an extension are left to
`CREATE EXTENSION`.

The output is three lists of statements:
- pre-data: schemas, extensions, types, sequences, functions, tables
  (columns, defaults, NOT NULL, CHECK, identity, generated, partitioning),
  views and materialized views (WITH NO DATA);
- per-table COPY targets;
- post-data: sequence values, primary/unique/exclusion/foreign keys,
  indexes, triggers, materialized view refreshes, comments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pg8000.native

# Objects in these schemas are the system's, never the user's.
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"
USER_SCHEMA = f"nspname NOT IN {SYSTEM_SCHEMAS} AND nspname !~ '^pg_(toast|temp_|toast_temp_)'"


def not_in_extension(catalog: str, oid_column: str) -> str:
    """SQL condition: the object is not a member of an extension."""
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE dep.classid = '{catalog}'::regclass"
        f" AND dep.objid = {oid_column} AND dep.deptype = 'e')"
    )


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Table:
    """A table whose rows are dumped: an ordinary table or a leaf partition."""

    oid: int
    qualified: str  # "schema"."name", quoted as the server quotes
    schema: str
    name: str
    columns: list[str]  # quoted column names COPY reads and writes (generated columns excluded)
    estimated_bytes: int = 0


@dataclass
class Schema:
    pre_data: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    post_data: list[str] = field(default_factory=list)
    # For the artifact record: counts by kind of object.
    counts: dict[str, int] = field(default_factory=dict)

    def add_pre(self, kind: str, statements: Iterable[str]) -> None:
        added = list(statements)
        self.pre_data.extend(added)
        self.counts[kind] = self.counts.get(kind, 0) + len(added)

    def add_post(self, kind: str, statements: Iterable[str]) -> None:
        added = list(statements)
        self.post_data.extend(added)
        self.counts[kind] = self.counts.get(kind, 0) + len(added)


def rows(connection: pg8000.native.Connection, sql: str, **params: Any) -> list[list[Any]]:
    return connection.run(sql, **params) or []


def read_schema(connection: pg8000.native.Connection) -> Schema:
    """The whole schema, in an order that restores (dependencies first)."""
    version = int(rows(connection, "SHOW server_version_num")[0][0])
    schema = Schema()
    schema.add_pre("schemas", _schemas(connection))
    schema.add_pre("extensions", _extensions(connection))
    schema.add_pre("collations", _collations(connection))
    schema.add_pre("types", _types(connection))
    schema.add_pre("sequences", _sequences(connection))
    early, late = _functions(connection)
    schema.add_pre("functions", early)
    tables, table_statements, owned_by = _tables(connection)
    schema.tables = tables
    schema.add_pre("tables", table_statements)
    schema.add_pre("sequence ownership", owned_by)
    schema.add_pre("functions", late)
    views, refreshes = _views(connection)
    schema.add_pre("views", views)
    schema.add_post("sequence values", _sequence_values(connection))
    keys, foreign_keys = _constraints(connection)
    schema.add_post("constraints", keys)
    schema.add_post("indexes", _indexes(connection))
    # A foreign key may reference columns that only a unique index covers.
    schema.add_post("constraints", foreign_keys)
    schema.add_post("triggers", _triggers(connection, version))
    schema.add_post("materialized view refreshes", refreshes)
    schema.add_post("comments", _comments(connection))
    return schema


def _schemas(connection: pg8000.native.Connection) -> list[str]:
    found = rows(
        connection,
        f"SELECT quote_ident(nspname) FROM pg_catalog.pg_namespace n"
        f" WHERE {USER_SCHEMA} AND nspname <> 'public' AND {not_in_extension('pg_namespace', 'n.oid')}"
        " ORDER BY nspname",
    )
    return [f"CREATE SCHEMA {name};" for (name,) in found]


def _extensions(connection: pg8000.native.Connection) -> list[str]:
    found = rows(
        connection,
        "SELECT quote_ident(e.extname), quote_ident(n.nspname) FROM pg_catalog.pg_extension e"
        " JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname <> 'plpgsql' ORDER BY e.oid",
    )
    return [f"CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA {schema};" for name, schema in found]


def _collations(connection: pg8000.native.Connection) -> list[str]:
    """User-defined collations. Catalog columns moved between versions, hence to_jsonb."""
    statements = []
    for name, row in rows(
        connection,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.collname), to_jsonb(c)"
        " FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace"
        f" WHERE {USER_SCHEMA} AND {not_in_extension('pg_collation', 'c.oid')} ORDER BY c.oid",
    ):
        provider = {"i": "icu", "c": "libc", "b": "builtin"}.get(row["collprovider"], "libc")
        options = [f"provider = {provider}"]
        locale = row.get("colllocale") or row.get("colliculocale")
        if provider in ("icu", "builtin"):
            options.append(f"locale = {quote_literal(locale or '')}")
        else:
            options.append(f"lc_collate = {quote_literal(row['collcollate'])}")
            options.append(f"lc_ctype = {quote_literal(row['collctype'])}")
        if row.get("collicurules"):
            options.append(f"rules = {quote_literal(row['collicurules'])}")
        if not row["collisdeterministic"]:
            options.append("deterministic = false")
        statements.append(f"CREATE COLLATION {name} ({', '.join(options)});")
    return statements


def _types(connection: pg8000.native.Connection) -> list[str]:
    statements = []
    user_type = f"n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname !~ '^pg_' AND {not_in_extension('pg_type', 't.oid')}"
    enums = rows(
        connection,
        "SELECT t.oid::regtype::text, array_agg(quote_literal(e.enumlabel) ORDER BY e.enumsortorder)"
        " FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
        " JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid"
        f" WHERE {user_type} GROUP BY t.oid ORDER BY t.oid",
    )
    statements += [f"CREATE TYPE {name} AS ENUM ({', '.join(labels)});" for name, labels in enums]
    # Domains and composites may use each other; creation (oid) order respects that.
    others = rows(
        connection,
        "SELECT t.oid, t.typtype, t.oid::regtype::text,"
        "  pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,"
        "  CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation"
        "    THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname) FROM pg_catalog.pg_collation c"
        "          JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace WHERE c.oid = t.typcollation) END,"
        "  t.typrelid"
        " FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
        " LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype"
        f" WHERE {user_type} AND (t.typtype IN ('d', 'r')"
        "   OR (t.typtype = 'c' AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c'))"
        " ORDER BY t.oid",
    )
    for oid, kind, name, base, not_null, default, collation, relid in others:
        if kind == "r":
            statements.append(_range_type(connection, oid, name))
        elif kind == "d":
            parts = [f"CREATE DOMAIN {name} AS {base}"]
            if collation:
                parts.append(f"COLLATE {collation}")
            if default is not None:
                parts.append(f"DEFAULT {default}")
            for con_name, definition in rows(
                connection,
                "SELECT quote_ident(conname), pg_catalog.pg_get_constraintdef(oid, true)"
                " FROM pg_catalog.pg_constraint WHERE contypid = :oid ORDER BY conname",
                oid=oid,
            ):
                parts.append(f"CONSTRAINT {con_name} {definition}")
            if not_null:
                parts.append("NOT NULL")
            statements.append(" ".join(parts) + ";")
        else:
            attributes = rows(
                connection,
                "SELECT quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod),"
                "  CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation"
                "    THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname)"
                "          FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace"
                "          WHERE c.oid = a.attcollation) END"
                " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid"
                " WHERE a.attrelid = :relid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                relid=relid,
            )
            columns = ", ".join(
                f"{attr} {type_}" + (f" COLLATE {coll}" if coll else "") for attr, type_, coll in attributes
            )
            statements.append(f"CREATE TYPE {name} AS ({columns});")
    return statements


def _range_type(connection: pg8000.native.Connection, oid: int, name: str) -> str:
    subtype, opclass, default_opclass, collation, canonical, diff, multirange = rows(
        connection,
        "SELECT pg_catalog.format_type(r.rngsubtype, NULL),"
        "  (SELECT quote_ident(on_.nspname) || '.' || quote_ident(oc.opcname) FROM pg_catalog.pg_opclass oc"
        "   JOIN pg_catalog.pg_namespace on_ ON on_.oid = oc.opcnamespace WHERE oc.oid = r.rngsubopc),"
        "  (SELECT oc.opcdefault FROM pg_catalog.pg_opclass oc WHERE oc.oid = r.rngsubopc),"
        "  CASE WHEN r.rngcollation <> 0 THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname)"
        "    FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace"
        "    WHERE c.oid = r.rngcollation) END,"
        "  NULLIF(r.rngcanonical, 0)::regproc::text, NULLIF(r.rngsubdiff, 0)::regproc::text,"
        "  r.rngmultitypid::regtype::text"
        " FROM pg_catalog.pg_range r WHERE r.rngtypid = :oid",
        oid=oid,
    )[0]
    options = [f"subtype = {subtype}"]
    if not default_opclass:
        options.append(f"subtype_opclass = {opclass}")
    if collation:
        options.append(f"collation = {collation}")
    if canonical:
        options.append(f"canonical = {canonical}")
    if diff:
        options.append(f"subtype_diff = {diff}")
    options.append(f"multirange_type_name = {multirange}")
    return f"CREATE TYPE {name} AS RANGE ({', '.join(options)});"


SEQUENCE_OPTIONS = (
    "SELECT pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,"
    " s.seqcache, s.seqcycle FROM pg_catalog.pg_sequence s WHERE s.seqrelid = :oid"
)


def _sequence_clause(connection: pg8000.native.Connection, oid: int, *, with_type: bool = True) -> str:
    type_, start, increment, minimum, maximum, cache, cycle = rows(connection, SEQUENCE_OPTIONS, oid=oid)[0]
    parts = [f"AS {type_}"] if with_type else []
    parts += [
        f"START WITH {start}",
        f"INCREMENT BY {increment}",
        f"MINVALUE {minimum}",
        f"MAXVALUE {maximum}",
        f"CACHE {cache}",
        "CYCLE" if cycle else "NO CYCLE",
    ]
    return " ".join(parts)


def _standalone_sequences(connection: pg8000.native.Connection) -> list[list[Any]]:
    """Sequences that are not identity columns' internal ones (those come with their table)."""
    return rows(
        connection,
        "SELECT c.oid, c.oid::regclass::text FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass"
        "                  AND d.objid = c.oid AND d.deptype = 'i')"
        " ORDER BY c.oid",
    )


def _sequences(connection: pg8000.native.Connection) -> list[str]:
    return [
        f"CREATE SEQUENCE {name} {_sequence_clause(connection, oid)};"
        for oid, name in _standalone_sequences(connection)
    ]


def _sequence_values(connection: pg8000.native.Connection) -> list[str]:
    """setval for every sequence, identity ones included.

    Sequences are not transactional: like pg_dump, this reads their value at
    the time of the dump, which may be ahead of the snapshot (never behind).
    """
    statements = []
    for (name,) in rows(
        connection,
        "SELECT c.oid::regclass::text FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')} ORDER BY c.oid",
    ):
        last_value, is_called = rows(connection, f"SELECT last_value, is_called FROM {name}")[0]
        statements.append(
            f"SELECT pg_catalog.setval({quote_literal(name)}, {last_value}, {'true' if is_called else 'false'});"
        )
    return statements


def _functions(connection: pg8000.native.Connection) -> tuple[list[str], list[str]]:
    """Functions and procedures; those that depend on a table or view come after the tables."""
    found = rows(
        connection,
        "SELECT p.oid, pg_catalog.pg_get_functiondef(p.oid),"
        "  EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_type t ON t.oid = d.refobjid"
        "          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
        "            AND d.refclassid = 'pg_type'::regclass AND t.typrelid <> 0"
        "            AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) <> 'c')"
        "  OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        "             AND d.objid = p.oid AND d.refclassid = 'pg_class'::regclass)"
        " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        f" WHERE {USER_SCHEMA} AND p.prokind IN ('f', 'p') AND {not_in_extension('pg_proc', 'p.oid')}"
        # Range types' constructors are made by CREATE TYPE itself.
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        "                   AND d.objid = p.oid AND d.deptype = 'i')"
        " ORDER BY p.oid",
    )
    early = [f"{definition.rstrip()};" for _oid, definition, late in found if not late]
    late = [f"{definition.rstrip()};" for _oid, definition, late in found if late]
    return early, late


def _column_definitions(connection: pg8000.native.Connection, oid: int) -> tuple[list[str], list[str], list[str]]:
    """(column definitions for CREATE TABLE, COPY columns, statements needed after the table)."""
    definitions, copy_columns = [], []
    for name, type_, not_null, default, generated, identity, collation, sequence_oid in rows(
        connection,
        "SELECT quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        "  pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity,"
        "  CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation"
        "    THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname) FROM pg_catalog.pg_collation c"
        "          JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace WHERE c.oid = a.attcollation) END,"
        "  CASE WHEN a.attidentity <> '' THEN pg_catalog.pg_get_serial_sequence("
        "    a.attrelid::regclass::text, a.attname)::regclass::oid END"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        oid=oid,
    ):
        parts = [name, type_]
        if collation:
            parts.append(f"COLLATE {collation}")
        if generated == "s":
            parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
        elif default is not None:
            parts.append(f"DEFAULT {default}")
        if identity:
            kind = "ALWAYS" if identity == "a" else "BY DEFAULT"
            sequence_name = rows(connection, "SELECT :oid::regclass::text", oid=sequence_oid)[0][0]
            options = _sequence_clause(connection, sequence_oid, with_type=False)
            parts.append(f"GENERATED {kind} AS IDENTITY (SEQUENCE NAME {sequence_name} {options})")
        if not_null:
            parts.append("NOT NULL")
        definitions.append(" ".join(parts))
        if generated != "s":
            copy_columns.append(name)
    return definitions, copy_columns, []


def _tables(connection: pg8000.native.Connection) -> tuple[list[Table], list[str], list[str]]:
    found = rows(
        connection,
        "SELECT c.oid, c.oid::regclass::text, n.nspname, c.relname, c.relkind, c.relispartition,"
        "  CASE WHEN c.relispartition THEN (SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i"
        "                                   WHERE i.inhrelid = c.oid) END,"
        "  CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,"
        "  CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,"
        "  c.relpersistence, c.reloptions, pg_catalog.pg_relation_size(c.oid)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY c.oid",
    )
    # Parents before their partitions, whatever the oids say.
    by_name = {row[1]: row for row in found}

    def depth(row: Sequence[Any]) -> int:
        level = 0
        while row[6] is not None and row[6] in by_name:
            row = by_name[row[6]]
            level += 1
        return level

    statements, tables, owned_by = [], [], []
    for row in sorted(found, key=lambda row: (depth(row), row[0])):
        (
            oid,
            qualified,
            schema_name,
            name,
            kind,
            is_partition,
            parent,
            bound,
            partition_key,
            persistence,
            options,
            size,
        ) = row
        columns, copy_columns, _ = _column_definitions(connection, oid)
        checks = [
            f"CONSTRAINT {con_name} {definition}"
            for con_name, definition in rows(
                connection,
                "SELECT quote_ident(conname), pg_catalog.pg_get_constraintdef(oid)"
                " FROM pg_catalog.pg_constraint WHERE conrelid = :oid AND contype = 'c' AND conislocal"
                "   AND convalidated ORDER BY conname",
                oid=oid,
            )
        ]
        unlogged = "UNLOGGED " if persistence == "u" else ""
        if is_partition:
            # Columns, NOT NULL, defaults and inherited CHECKs come from the parent.
            body = f" ({', '.join(checks)})" if checks else ""
            statement = f"CREATE {unlogged}TABLE {qualified} PARTITION OF {parent}{body} {bound}"
        else:
            statement = f"CREATE {unlogged}TABLE {qualified} (" + ", ".join(columns + checks) + ")"
        if partition_key:
            statement += f" PARTITION BY {partition_key}"
        if options:
            statement += f" WITH ({', '.join(options)})"
        statements.append(statement + ";")
        if is_partition:
            # A partition's own defaults (rare) differ from the parent's only if set on it.
            statements += _partition_column_overrides(connection, oid, qualified)
        if kind == "r":
            tables.append(Table(oid, qualified, schema_name, name, copy_columns, int(size)))
    for sequence, table, column in rows(
        connection,
        "SELECT d.objid::regclass::text, d.refobjid::regclass::text, quote_ident(a.attname)"
        " FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace"
        f" WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'"
        f"   AND {USER_SCHEMA} ORDER BY d.objid",
    ):
        owned_by.append(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column};")
    return tables, statements, owned_by


def _partition_column_overrides(connection: pg8000.native.Connection, oid: int, qualified: str) -> list[str]:
    """Defaults set on a partition itself that differ from what it inherited."""
    statements = []
    for column, default in rows(
        connection,
        "SELECT quote_ident(a.attname), pg_catalog.pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.attrelid"
        " LEFT JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname"
        " LEFT JOIN pg_catalog.pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum"
        " WHERE a.attrelid = :oid AND a.attgenerated = ''"
        "   AND pg_catalog.pg_get_expr(d.adbin, d.adrelid)"
        "       IS DISTINCT FROM pg_catalog.pg_get_expr(pd.adbin, pd.adrelid)",
        oid=oid,
    ):
        statements.append(f"ALTER TABLE ONLY {qualified} ALTER COLUMN {column} SET DEFAULT {default};")
    return statements


def _views(connection: pg8000.native.Connection) -> tuple[list[str], list[str]]:
    """Views and materialized views in dependency order; refreshes for populated matviews."""
    found = rows(
        connection,
        "SELECT c.oid, c.oid::regclass::text, c.relkind, pg_catalog.pg_get_viewdef(c.oid), c.reloptions,"
        "  c.relispopulated"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY c.oid",
    )
    depends: dict[int, set[int]] = {oid: set() for oid, *_ in found}
    for view, referenced in rows(
        connection,
        "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_rewrite r"
        " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid"
        " WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class",
    ):
        if view in depends and referenced in depends:
            depends[view].add(referenced)
    ordered: list[int] = []
    placed: set[int] = set()

    def place(oid: int, visiting: frozenset[int] = frozenset()) -> None:
        if oid in placed or oid in visiting:
            return
        for referenced in sorted(depends[oid]):
            place(referenced, visiting | {oid})
        placed.add(oid)
        ordered.append(oid)

    for oid in sorted(depends):
        place(oid)
    by_oid = {row[0]: row for row in found}
    statements, refreshes = [], []
    for oid in ordered:
        _oid, name, kind, definition, options, populated = by_oid[oid]
        definition = definition.strip().rstrip(";")
        with_options = f" WITH ({', '.join(options)})" if options else ""
        if kind == "v":
            statements.append(f"CREATE VIEW {name}{with_options} AS\n{definition};")
        else:
            statements.append(f"CREATE MATERIALIZED VIEW {name}{with_options} AS\n{definition}\nWITH NO DATA;")
            if populated:
                refreshes.append(f"REFRESH MATERIALIZED VIEW {name};")
    return statements, refreshes


def _constraints(connection: pg8000.native.Connection) -> tuple[list[str], list[str]]:
    """Keys and checks, and foreign keys, after the data (as pg_dump: faster loads, no FK ordering problems).

    Constraints cloned onto partitions from their parent are created by the
    parent's constraint and are skipped. NOT VALID checks are added here too.
    """
    found = rows(
        connection,
        "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_catalog.pg_get_constraintdef(c.oid),"
        "  c.contype, cl.relkind"
        " FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace"
        f" WHERE {USER_SCHEMA} AND c.conparentid = 0 AND cl.relkind IN ('r', 'p')"
        "   AND (c.contype IN ('p', 'u', 'x', 'f') OR (c.contype = 'c' AND NOT c.convalidated AND c.conislocal))"
        f"   AND {not_in_extension('pg_class', 'cl.oid')}"
        " ORDER BY CASE c.contype WHEN 'f' THEN 1 ELSE 0 END, c.oid",
    )
    keys, foreign_keys = [], []
    for table, name, definition, contype, kind in found:
        # ONLY would leave a partitioned table's partitions without the key.
        only = "" if kind == "p" else "ONLY "
        statement = f"ALTER TABLE {only}{table} ADD CONSTRAINT {name} {definition};"
        (foreign_keys if contype == "f" else keys).append(statement)
    return keys, foreign_keys


def _indexes(connection: pg8000.native.Connection) -> list[str]:
    """Indexes that no constraint owns; partitions' copies come from their parent's index."""
    found = rows(
        connection,
        "SELECT pg_catalog.pg_get_indexdef(i.indexrelid), i.indisclustered, i.indrelid::regclass::text,"
        "  i.indexrelid::regclass::text"
        " FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE {USER_SCHEMA} AND {not_in_extension('pg_class', 'i.indrelid')}"
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid"
        "                   AND k.contype IN ('p', 'u', 'x'))"
        "   AND NOT c.relispartition"
        " ORDER BY i.indexrelid",
    )
    statements = []
    for definition, clustered, table, index in found:
        # "ON ONLY parent" would create an invalid index awaiting ATTACH PARTITION;
        # plain ON builds the partitions' indexes too.
        statements.append(definition.replace(" ON ONLY ", " ON ", 1) + ";")
        if clustered:
            statements.append(f"ALTER TABLE {table} CLUSTER ON {index.rsplit('.', 1)[-1]};")
    for table, index in rows(
        connection,
        "SELECT i.indrelid::regclass::text, quote_ident(c.relname) FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE {USER_SCHEMA} AND i.indisclustered AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k"
        "   WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))",
    ):
        statements.append(f"ALTER TABLE {table} CLUSTER ON {index};")
    return statements


def _triggers(connection: pg8000.native.Connection, version: int) -> list[str]:
    inherited = "AND t.tgparentid = 0" if version >= 130000 else ""
    found = rows(
        connection,
        "SELECT pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled, t.tgrelid::regclass::text, quote_ident(t.tgname)"
        " FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE NOT t.tgisinternal {inherited} AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY t.oid",
    )
    statements = []
    disabled = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}
    for definition, enabled, table, name in found:
        statements.append(definition + ";")
        if enabled in disabled:
            statements.append(f"ALTER TABLE {table} {disabled[enabled]} TRIGGER {name};")
    return statements


# A type of its own: not a table's row type (a composite type's relkind is 'c').
STANDALONE_TYPE = "o.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = o.typrelid) = 'c'"


def _comments(connection: pg8000.native.Connection) -> list[str]:
    statements = []
    relation_kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "i": "INDEX",
                      "I": "INDEX", "f": "FOREIGN TABLE", "c": "TYPE"}  # fmt: skip
    for kind, name, column, text in rows(
        connection,
        "SELECT c.relkind, c.oid::regclass::text, CASE WHEN d.objsubid > 0 THEN quote_ident(a.attname) END,"
        "  d.description"
        " FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c ON c.oid = d.objoid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid"
        f" WHERE d.classoid = 'pg_class'::regclass AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY c.oid, d.objsubid",
    ):
        if column:
            target = f"COLUMN {name}.{column}"
        elif kind == "c":
            target = f"TYPE {name}"
        else:
            target = f"{relation_kinds[kind]} {name}"
        statements.append(f"COMMENT ON {target} IS {quote_literal(text)};")
    function_name = "o.oid::regproc::text || '(' || pg_catalog.pg_get_function_identity_arguments(o.oid) || ')'"
    functions = "pg_catalog.pg_proc o JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace"
    types = "pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace"
    described = (
        # (catalog, COMMENT ON keyword, name expression, FROM clause, condition)
        ("pg_namespace", "SCHEMA", "quote_ident(o.nspname)", "pg_catalog.pg_namespace o",
         f"o.nspname NOT IN {SYSTEM_SCHEMAS} AND o.nspname !~ '^pg_'"),
        ("pg_type", "TYPE", "o.oid::regtype::text", types, f"{USER_SCHEMA} AND ({STANDALONE_TYPE})"),
        ("pg_proc", "FUNCTION", function_name, functions, f"{USER_SCHEMA} AND o.prokind = 'f'"),
        ("pg_proc", "PROCEDURE", function_name, functions, f"{USER_SCHEMA} AND o.prokind = 'p'"),
    )  # fmt: skip
    for catalog, keyword, name_sql, source, condition in described:
        for name, text, typtype in rows(
            connection,
            f"SELECT {name_sql}, d.description, {'o.typtype' if catalog == 'pg_type' else 'NULL'}"
            f" FROM pg_catalog.pg_description d JOIN {source} ON o.oid = d.objoid"
            f" WHERE d.classoid = '{catalog}'::regclass AND d.objsubid = 0 AND {condition}"
            f"   AND {not_in_extension(catalog, 'o.oid')} ORDER BY o.oid",
        ):
            kind = "DOMAIN" if typtype == "d" else keyword
            statements.append(f"COMMENT ON {kind} {name} IS {quote_literal(text)};")
    for name, on_domain, target, text in rows(
        connection,
        "SELECT quote_ident(k.conname), k.contypid <> 0,"
        "  CASE WHEN k.contypid <> 0 THEN k.contypid::regtype::text ELSE k.conrelid::regclass::text END,"
        "  d.description"
        " FROM pg_catalog.pg_description d JOIN pg_catalog.pg_constraint k ON k.oid = d.objoid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace"
        f" WHERE d.classoid = 'pg_constraint'::regclass AND {USER_SCHEMA} ORDER BY k.oid",
    ):
        statements.append(
            f"COMMENT ON CONSTRAINT {name} ON {'DOMAIN ' if on_domain else ''}{target} IS {quote_literal(text)};"
        )
    for name, table, text in rows(
        connection,
        "SELECT quote_ident(t.tgname), t.tgrelid::regclass::text, d.description"
        " FROM pg_catalog.pg_description d JOIN pg_catalog.pg_trigger t ON t.oid = d.objoid"
        " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE d.classoid = 'pg_trigger'::regclass AND {USER_SCHEMA} ORDER BY t.oid",
    ):
        statements.append(f"COMMENT ON TRIGGER {name} ON {table} IS {quote_literal(text)};")
    return statements
