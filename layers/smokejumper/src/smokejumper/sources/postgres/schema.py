"""Read a PostgreSQL database's schema from the catalogs and write it back as SQL.

Everything runs inside the dump's snapshot transaction with `search_path`
empty, so the server's own deparsers (`pg_get_indexdef`, `pg_get_expr`,
`format_type`, `pg_get_viewdef`, `pg_get_ruledef`, ...) print
schema-qualified names, as they do for pg_dump. Objects that belong to an
extension are left to `CREATE EXTENSION`.

The output is lists of statements:
- pre-data: schemas, extensions, collations, types, sequences, functions,
  tables (columns, defaults, NOT NULL, CHECK, identity, generated,
  partitioning, inheritance, per-column statistics/storage/compression/
  options, replica identity), aggregates, views and materialized views
  (WITH NO DATA);
- per-table COPY targets;
- post-data: sequence values, primary/unique/exclusion/foreign keys,
  indexes, replica identity indexes, extended statistics, rules, triggers,
  row-level security and policies, materialized view refreshes, comments;
- with `privileges`, kept apart so that a restore may leave them out (as
  pg_restore --no-owner / --no-privileges do): `owners` (ALTER ... OWNER
  TO), `privileges` (GRANT/REVOKE, ALTER DEFAULT PRIVILEGES), and
  `after_privileges`: the materialized view refreshes, which then move out
  of post-data to run after the ACLs, as pg_restore runs them.
  `Schema.frames_after_data` gives them as the dump's frames, in that order,
  each ACL frame with the roles its statements name (`meta["roles"]`).

Besides, `Schema.table_ddl` has, per table, what recreates that one table on
its own (`restore --table` into a target that lacks it): the statements that
belong to it are tagged with its name as they are built (`Tagged`), its
foreign keys are kept apart with the table they reference, and `requires`
lists what it uses that it does not create (schemas, types, functions,
collations, sequences, parent tables), for the restore to check first;
with `privileges`, also its own ALTER TABLE ... OWNER TO and its (and its
owned sequences' and columns') GRANT/REVOKE, with the roles they name.

And `Schema.not_dumped` names, one line each, what the database holds that
none of this recreates (see `NOT_DUMPED`), so that a dump that leaves
something behind says so instead of looking complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
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


def collation_name(oid_sql: str) -> str:
    """SQL: the schema-qualified, quoted name of the collation whose oid `oid_sql` gives (an SQL expression)."""
    return (
        "(SELECT quote_ident(cn.nspname) || '.' || quote_ident(c.collname) FROM pg_catalog.pg_collation c"
        f" JOIN pg_catalog.pg_namespace cn ON cn.oid = c.collnamespace WHERE c.oid = {oid_sql})"
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
    estimated_bytes: int = 0  # on disk with its TOAST data (pg_table_size)
    heap_bytes: int = 0  # the main fork alone (pg_relation_size): what its pages span


# A statement and the table it belongs to (None: no table's own), as the
# builders below return them so that one table's DDL can be picked out.
Tagged = tuple[str | None, str]

# An ownership or privilege statement, the table it belongs to (None: no
# table's own), and the roles it names (unquoted; PUBLIC is no role).
Acl = tuple[str | None, str, tuple[str, ...]]

# Bump when what TableDDL records changes meaning; the restore reads version 1.
# (Version 1 records without "owners"/"privileges" read as having none.)
TABLE_DDL_VERSION = 1


@dataclass
class ForeignKey:
    name: str  # quoted
    references: str  # the referenced table, as regclass prints it
    statements: list[str]  # ALTER TABLE ... ADD CONSTRAINT, then its COMMENT if it has one


@dataclass
class TableDDL:
    """What recreates one table alone, in a database that has what it `requires`."""

    create: list[str] = field(default_factory=list)  # before its data: owned sequences, CREATE TABLE, column settings
    post: list[str] = field(default_factory=list)  # after its data: sequence values, keys, indexes, triggers, comments
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    requires: list[tuple[str, str]] = field(default_factory=list)  # (kind, name): schema, type, function, ...
    # With privileges: last, each skippable as a whole (restore no_owner / no_privileges).
    owners: list[str] = field(default_factory=list)  # ALTER TABLE ... OWNER TO (its owned sequences follow)
    privileges: list[str] = field(default_factory=list)  # GRANT/REVOKE on it, its columns, its owned sequences
    # The roles those name, per list: what the restore checks the target has.
    roles: dict[str, set[str]] = field(default_factory=lambda: {"owners": set(), "privileges": set()})

    def as_meta(self) -> dict[str, Any]:
        return {
            "version": TABLE_DDL_VERSION,
            "create": self.create,
            "post": self.post,
            "foreign_keys": [
                {"name": key.name, "references": key.references, "statements": key.statements}
                for key in self.foreign_keys
            ],
            "requires": [{"kind": kind, "name": name} for kind, name in self.requires],
            "owners": self.owners,
            "privileges": self.privileges,
            "roles": {phase: sorted(names) for phase, names in self.roles.items()},
        }


@dataclass
class Schema:
    pre_data: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    post_data: list[str] = field(default_factory=list)
    # For the artifact record: counts by kind of object.
    counts: dict[str, int] = field(default_factory=dict)
    # Per table (qualified name): its own DDL, for restoring it alone.
    table_ddl: dict[str, TableDDL] = field(default_factory=dict)
    # What the database holds and this dump does not carry, said out loud ("foreign table public.t", ...).
    not_dumped: list[str] = field(default_factory=list)
    # Read with privileges: ownership, then grants, then what must follow the grants.
    with_privileges: bool = False
    owners: list[str] = field(default_factory=list)
    privileges: list[str] = field(default_factory=list)
    after_privileges: list[str] = field(default_factory=list)
    # The roles the owners and privileges statements name (unquoted).
    roles: dict[str, set[str]] = field(default_factory=lambda: {"owners": set(), "privileges": set()})

    def add_pre(self, kind: str, statements: Iterable[str | Tagged]) -> None:
        added = self._untag(statements, "create")
        self.pre_data.extend(added)
        self.counts[kind] = self.counts.get(kind, 0) + len(added)

    def add_post(self, kind: str, statements: Iterable[str | Tagged]) -> None:
        added = self._untag(statements, "post")
        self.post_data.extend(added)
        self.counts[kind] = self.counts.get(kind, 0) + len(added)

    def add_acl(self, phase: str, kind: str, statements: Iterable[Acl]) -> None:
        """Ownership (`phase` "owners") or privilege ("privileges") statements, their roles, their tables'."""
        added = getattr(self, phase)
        count = len(added)
        for table, sql, roles in statements:
            added.append(sql)
            self.roles[phase].update(roles)
            if table is not None:
                ddl = self.ddl(table)
                getattr(ddl, phase).append(sql)
                ddl.roles[phase].update(roles)
        self.counts[kind] = self.counts.get(kind, 0) + len(added) - count

    def frames_after_data(self) -> list[tuple[str, bytes, dict[str, Any]]]:
        """(name, SQL, meta) of each frame that follows the tables, in the order they restore.

        post-data; with privileges, then `owners` and `privileges` (frames of
        their own, so that a restore can leave either out; their meta lists
        the roles they name) and `post-privileges` when there are
        materialized views to refresh.
        """
        frames = [("post-data", _frame_sql(self.post_data), {"kind": "post-data"})]
        if self.with_privileges:
            for phase in ("owners", "privileges"):
                meta = {"kind": phase, "roles": sorted(self.roles[phase])}
                frames.append((phase, _frame_sql(getattr(self, phase)), meta))
            if self.after_privileges:
                frames.append(("post-privileges", _frame_sql(self.after_privileges), {"kind": "post-privileges"}))
        return frames

    def ddl(self, table: str) -> TableDDL:
        return self.table_ddl.setdefault(table, TableDDL())

    def _untag(self, statements: Iterable[str | Tagged], phase: str) -> list[str]:
        """The statements' SQL; the tagged ones are also added to their table's `phase` list."""
        plain = []
        for item in statements:
            table, sql = item if isinstance(item, tuple) else (None, item)
            plain.append(sql)
            if table is not None:
                getattr(self.ddl(table), phase).append(sql)
        return plain


def _frame_sql(statements: list[str]) -> bytes:
    return ("\n\n".join(statements) + "\n").encode()


def rows(connection: pg8000.native.Connection, sql: str, **params: Any) -> list[list[Any]]:
    return connection.run(sql, **params) or []


def read_schema(connection: pg8000.native.Connection, *, privileges: bool = False) -> Schema:
    """The whole schema, in an order that restores (dependencies first).

    `privileges` adds ownership (`ALTER ... OWNER TO`) and grants (GRANT/REVOKE
    from each object's default ACL, default privileges), as pg_dump does
    without --no-owner/--no-privileges, in lists of their own (`owners`,
    `privileges`, then `after_privileges`). The dump asks for them by
    default (`DumpOptions.privileges`); the restore decides whether to apply
    them. Without them, a restore leaves everything to the restoring role.
    """
    version = int(rows(connection, "SHOW server_version_num")[0][0])
    owners = _relation_owners(connection)
    schema = Schema()
    schema.add_pre("schemas", _schemas(connection))
    schema.add_pre("extensions", _extensions(connection))
    schema.add_pre("collations", _collations(connection))
    schema.add_pre("types", _types(connection))
    schema.add_pre("sequences", _sequences(connection, owners))
    early, late = _functions(connection)
    schema.add_pre("functions", early)
    tables, table_statements, alone, owned_by = _tables(connection)
    schema.tables = tables
    schema.add_pre("tables", table_statements)
    for table, statements in alone.items():
        # The whole dump may build an inheritance family column by column;
        # alone, a table is created the plain way (see _tables).
        schema.ddl(table).create.extend(statements)
    schema.add_pre("sequence ownership", owned_by)
    schema.add_pre("functions", late)
    # Aggregates are made of functions (any of which may be a late one) and
    # views may use them.
    schema.add_pre("aggregates", _aggregates(connection))
    views, refreshes = _views(connection)
    schema.add_pre("views", views)
    schema.add_post("sequence values", _sequence_values(connection, owners))
    keys, foreign_keys = _constraints(connection)
    schema.add_post("constraints", keys)
    schema.add_post("indexes", _indexes(connection))
    schema.add_post("replica identities", _replica_identity_indexes(connection))
    schema.add_post("statistics", _statistics(connection))
    schema.add_post("rules", _rules(connection))
    # A foreign key may reference columns that only a unique index covers.
    schema.add_post("constraints", [key.statements[0] for _table, key in foreign_keys])
    for table, key in foreign_keys:
        # Kept apart: restoring a table alone adds them only where the referenced table exists.
        schema.ddl(table).foreign_keys.append(key)
    schema.add_post("triggers", _triggers(connection, version))
    schema.add_post("row security", _row_security(connection))
    if not privileges:
        schema.add_post("materialized view refreshes", refreshes)
    schema.add_post("comments", _comments(connection, owners))
    for table, required in _table_requirements(connection).items():
        schema.ddl(table).requires = required
    if privileges:
        schema.with_privileges = True
        dumped = {table.qualified for table in schema.tables}
        schema.add_acl("owners", "owners", _owners(connection, dumped))
        schema.add_acl("privileges", "privileges", _privileges(connection, dumped, owners))
        schema.add_acl("privileges", "default privileges", _default_privileges(connection))
        # A refresh runs the query as the view's owner, with the owner's
        # rights: only now are both in place (pg_restore refreshes last too).
        schema.after_privileges = refreshes
        schema.counts["materialized view refreshes"] = len(refreshes)
    schema.not_dumped = read_not_dumped(connection)
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
        f"    THEN {collation_name('t.typcollation')} END,"
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
                f"    THEN {collation_name('a.attcollation')} END"
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
        f"  CASE WHEN r.rngcollation <> 0 THEN {collation_name('r.rngcollation')} END,"
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


def _relation_owners(connection: pg8000.native.Connection) -> dict[str, str]:
    """The table each owned sequence (serial, identity, OWNED BY) and each index belongs to, by name."""
    return {
        relation: table
        for relation, table in rows(
            connection,
            "SELECT s.oid::regclass::text, d.refobjid::regclass::text FROM pg_catalog.pg_class s"
            " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
            "  AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')"
            " JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace"
            f" WHERE s.relkind = 'S' AND {USER_SCHEMA}"
            " UNION ALL"
            " SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_catalog.pg_index i"
            " JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE {USER_SCHEMA}",
        )
    }


def _sequences(connection: pg8000.native.Connection, owners: dict[str, str]) -> list[Tagged]:
    return [
        (owners.get(name), f"CREATE SEQUENCE {name} {_sequence_clause(connection, oid)};")
        for oid, name in _standalone_sequences(connection)
    ]


def _sequence_values(connection: pg8000.native.Connection, owners: dict[str, str]) -> list[Tagged]:
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
            (
                owners.get(name),
                f"SELECT pg_catalog.setval({quote_literal(name)}, {last_value}, {'true' if is_called else 'false'});",
            )
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


def _aggregate_signature(arguments: str) -> str:
    """An aggregate's argument list as CREATE/ALTER/COMMENT ON AGGREGATE want it: `*` when it has none."""
    return f"({arguments or '*'})"


def _aggregates(connection: pg8000.native.Connection) -> list[str]:
    """CREATE AGGREGATE from pg_aggregate, saying what pg_dump says (defaults left out)."""
    # regproc/regtype print schema-qualified names under the empty search_path.
    found = rows(
        connection,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname),"
        "  pg_catalog.pg_get_function_arguments(p.oid), a.aggkind, p.proparallel,"
        "  a.aggtransfn::regproc::text, a.aggtranstype::regtype::text, a.aggtransspace, a.agginitval,"
        "  NULLIF(a.aggfinalfn, 0)::regproc::text, a.aggfinalextra, a.aggfinalmodify,"
        "  NULLIF(a.aggcombinefn, 0)::regproc::text, NULLIF(a.aggserialfn, 0)::regproc::text,"
        "  NULLIF(a.aggdeserialfn, 0)::regproc::text,"
        "  NULLIF(a.aggmtransfn, 0)::regproc::text, NULLIF(a.aggminvtransfn, 0)::regproc::text,"
        "  NULLIF(a.aggmtranstype, 0)::regtype::text, a.aggmtransspace, a.aggminitval,"
        "  NULLIF(a.aggmfinalfn, 0)::regproc::text, a.aggmfinalextra, a.aggmfinalmodify,"
        "  (SELECT 'OPERATOR(' || quote_ident(opn.nspname) || '.' || o.oprname || ')' FROM pg_catalog.pg_operator o"
        "   JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace WHERE o.oid = a.aggsortop)"
        " FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        f" WHERE {USER_SCHEMA} AND {not_in_extension('pg_proc', 'p.oid')}"
        " ORDER BY p.oid",
    )
    modify = {"r": "READ_ONLY", "s": "SHAREABLE", "w": "READ_WRITE"}
    statements = []
    for (
        name,
        arguments,
        kind,
        parallel,
        sfunc,
        stype,
        sspace,
        initcond,
        finalfunc,
        final_extra,
        final_modify,
        combinefunc,
        serialfunc,
        deserialfunc,
        msfunc,
        minvfunc,
        mstype,
        msspace,
        minitcond,
        mfinalfunc,
        mfinal_extra,
        mfinal_modify,
        sortop,
    ) in found:
        # What CREATE AGGREGATE assumes when FINALFUNC_MODIFY is not given.
        default_modify = "r" if kind == "n" else "w"
        options = [f"SFUNC = {sfunc}", f"STYPE = {stype}"]
        if sspace:
            options.append(f"SSPACE = {sspace}")
        if initcond is not None:
            options.append(f"INITCOND = {quote_literal(initcond)}")
        if finalfunc:
            options.append(f"FINALFUNC = {finalfunc}")
            if final_extra:
                options.append("FINALFUNC_EXTRA")
            if final_modify != default_modify:
                options.append(f"FINALFUNC_MODIFY = {modify[final_modify]}")
        if combinefunc:
            options.append(f"COMBINEFUNC = {combinefunc}")
        if serialfunc:
            options.append(f"SERIALFUNC = {serialfunc}")
        if deserialfunc:
            options.append(f"DESERIALFUNC = {deserialfunc}")
        if msfunc:
            options += [f"MSFUNC = {msfunc}", f"MINVFUNC = {minvfunc}", f"MSTYPE = {mstype}"]
        if msspace:
            options.append(f"MSSPACE = {msspace}")
        if minitcond is not None:
            options.append(f"MINITCOND = {quote_literal(minitcond)}")
        if mfinalfunc:
            options.append(f"MFINALFUNC = {mfinalfunc}")
            if mfinal_extra:
                options.append("MFINALFUNC_EXTRA")
            if mfinal_modify != default_modify:
                options.append(f"MFINALFUNC_MODIFY = {modify[mfinal_modify]}")
        if sortop:
            options.append(f"SORTOP = {sortop}")
        if kind == "h":
            options.append("HYPOTHETICAL")
        if parallel == "s":
            options.append("PARALLEL = safe")
        elif parallel == "r":
            options.append("PARALLEL = restricted")
        body = ",\n    ".join(options)
        statements.append(f"CREATE AGGREGATE {name}{_aggregate_signature(arguments)} (\n    {body}\n);")
    return statements


# What a column inherits, from the parents (in inhseqno order) that have it:
# NOT NULL from any, the first default there is, and storage and compression
# (CREATE TABLE copies both from the parent, even onto a column it merges).
INHERITED_COLUMN = (
    "SELECT bool_or(pa.attnotnull) AS notnull,"
    "  (array_agg(pg_catalog.pg_get_expr(pd.adbin, pd.adrelid) ORDER BY i.inhseqno)"
    "     FILTER (WHERE pd.adbin IS NOT NULL))[1] AS default_,"
    "  array_agg(pa.attstorage::text) AS storages, array_agg(pa.attcompression::text) AS compressions"
    " FROM pg_catalog.pg_inherits i"
    " JOIN pg_catalog.pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname AND NOT pa.attisdropped"
    " LEFT JOIN pg_catalog.pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum"
    " WHERE i.inhrelid = a.attrelid"
)
STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}
COMPRESSION = {"p": "pglz", "l": "lz4"}


@dataclass
class Columns:
    """A table's columns as the dump writes them."""

    definitions: dict[str, str] = field(default_factory=dict)  # local columns (what CREATE TABLE lists), by name
    copy: list[str] = field(default_factory=list)  # what COPY reads and writes (generated columns excluded)
    after: list[str] = field(default_factory=list)  # ALTERs needed after the table and its parents exist
    order: list[str] = field(default_factory=list)  # every column, in the table's order
    generated_or_identity: bool = False


def _column_definitions(
    connection: pg8000.native.Connection, oid: int, alter: str, *, partition: bool = False, attached: bool = False
) -> Columns:
    """A table's column definitions, COPY columns, and the statements needed after the table.

    Like pg_dump, CREATE TABLE lists only a table's local columns: the
    inherited ones come from INHERITS / PARTITION OF, in the parent's order,
    and what differs on them from the parent (NOT NULL, default) follows as
    ALTER TABLE ONLY. `alter` is that ALTER's head ("ALTER TABLE ONLY t").
    `attached` is for a partition created on its own and then attached
    (ATTACH PARTITION changes neither its columns' order nor their defaults,
    storage or compression): every column is then listed as its own.
    """
    columns = Columns()
    for (
        name,
        type_,
        not_null,
        default,
        generated,
        identity,
        collation,
        sequence_oid,
        local,
        inherited,
        parent_not_null,
        parent_default,
        *properties,
    ) in rows(
        connection,
        "SELECT quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        "  pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity,"
        "  CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation"
        f"    THEN {collation_name('a.attcollation')} END,"
        "  CASE WHEN a.attidentity <> '' THEN pg_catalog.pg_get_serial_sequence("
        "    a.attrelid::regclass::text, a.attname)::regclass::oid END,"
        "  a.attislocal, a.attinhcount > 0, coalesce(p.notnull, false), p.default_,"
        f"  {COLUMN_PROPERTIES}"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        f" LEFT JOIN LATERAL ({INHERITED_COLUMN}) p ON a.attinhcount > 0"
        " WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        oid=oid,
    ):
        if attached:
            local, inherited = True, False
        columns.order.append(name)
        columns.generated_or_identity |= bool(generated or identity)
        if generated != "s":
            columns.copy.append(name)
        if local and not partition:
            parts = [name, type_]
            if collation:
                parts.append(f"COLLATE {collation}")
            if generated == "s":
                parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
            elif default is not None:
                parts.append(f"DEFAULT {default}")
            elif inherited and parent_default is not None:
                # Otherwise the merged column would take the parent's default.
                parts.append("DEFAULT NULL")
            if identity:
                kind = "ALWAYS" if identity == "a" else "BY DEFAULT"
                sequence_name = rows(connection, "SELECT :oid::regclass::text", oid=sequence_oid)[0][0]
                options = _sequence_clause(connection, sequence_oid, with_type=False)
                parts.append(f"GENERATED {kind} AS IDENTITY (SEQUENCE NAME {sequence_name} {options})")
            if not_null:
                parts.append("NOT NULL")
            columns.definitions[name] = " ".join(parts)
        elif generated != "s":
            # An inherited column: only what the child changed on it.
            if not_null and not parent_not_null:
                columns.after.append(f"{alter} ALTER COLUMN {name} SET NOT NULL;")
            if default != parent_default:
                change = f"SET DEFAULT {default}" if default is not None else "DROP DEFAULT"
                columns.after.append(f"{alter} ALTER COLUMN {name} {change};")
        columns.after += _column_property_statements(alter, name, inherited, *properties)
    return columns


# Per-column settings CREATE TABLE cannot say (see _column_property_statements).
# The PostgreSQL 15 build on these machines keeps a server-managed
# `pg_attver=N` in every column's options (set at creation, ignored by SET);
# its pg_dump leaves it out, and so do we.
COLUMN_PROPERTIES = (
    "a.attstattarget, a.attstorage::text, t.typstorage::text, a.attcompression::text,"
    " ARRAY(SELECT o FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\\_attver=%'),"
    " p.storages, p.compressions"
)


def _column_property_statements(
    alter: str,
    name: str,
    inherited: bool,
    statistics: int | None,
    storage: str,
    type_storage: str,
    compression: str,
    options: list[str] | None,
    parent_storages: list[str] | None,
    parent_compressions: list[str] | None,
) -> list[str]:
    """ALTER COLUMN SET STATISTICS / STORAGE / COMPRESSION / (options), where not the default.

    pg_dump compares storage with the type's default only; an inherited
    column starts with its parent's storage and compression instead, so a
    child that changed them back needs saying so too.
    """
    statements = []
    # -1 (NULL from PostgreSQL 17) means the default target.
    if statistics is not None and statistics >= 0:
        statements.append(f"{alter} ALTER COLUMN {name} SET STATISTICS {statistics};")
    if storage != type_storage or (inherited and any(parent != storage for parent in parent_storages or [])):
        statements.append(f"{alter} ALTER COLUMN {name} SET STORAGE {STORAGE[storage]};")
    if compression in COMPRESSION:
        statements.append(f"{alter} ALTER COLUMN {name} SET COMPRESSION {COMPRESSION[compression]};")
    elif inherited and any(parent in COMPRESSION for parent in parent_compressions or []):
        statements.append(f"{alter} ALTER COLUMN {name} SET COMPRESSION default;")
    if options:
        statements.append(f"{alter} ALTER COLUMN {name} SET ({', '.join(options)});")
    return statements


def _tables(
    connection: pg8000.native.Connection,
) -> tuple[list[Table], list[str], dict[str, list[str]], list[Tagged]]:
    """The tables to dump; the statements creating them all; each one's statements alone; sequence ownership.

    Alone, a table of an inheritance family is created with INHERITS and its
    own columns, without the column replay (which needs the whole family):
    its columns may then come in another order than in the source.
    """
    found = rows(
        connection,
        "SELECT c.oid, c.oid::regclass::text, n.nspname, c.relname, c.relkind, c.relispartition,"
        # Partitions have one parent; old-style inheritance children one or more.
        "  ARRAY(SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i"
        "        WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),"
        "  CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,"
        "  CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,"
        "  c.relpersistence, c.reloptions, pg_catalog.pg_table_size(c.oid), c.relreplident,"
        "  pg_catalog.pg_relation_size(c.oid)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY c.oid",
    )
    # Parents before their partitions and children, whatever the oids say.
    parents_of = {row[1]: [parent for parent in row[6] or []] for row in found}

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        parents = [parent for parent in parents_of[name] if parent in parents_of and parent not in seen]
        return 1 + max(depth(parent, seen | {name}) for parent in parents) if parents else 0

    found.sort(key=lambda row: (depth(row[1]), row[0]))
    tables, creates, columns, checks, after = [], {}, {}, {}, {}
    for row in found:
        (
            oid,
            qualified,
            schema_name,
            name,
            kind,
            is_partition,
            parents,
            bound,
            partition_key,
            persistence,
            options,
            size,
            replica_identity,
            heap_size,
        ) = row
        alter = f"ALTER TABLE ONLY {qualified}"
        columns[qualified] = _column_definitions(connection, oid, alter, partition=is_partition)
        # PARTITION OF gives a partition its parent's column order; one that
        # was attached with another order (live columns compared: dropped
        # ones do not count) is created with its own columns and attached,
        # as pg_dump does.
        attached = is_partition and parents[0] in columns and columns[qualified].order != columns[parents[0]].order
        if attached:
            columns[qualified] = _column_definitions(connection, oid, alter, attached=True)
        checks[qualified] = [
            f"CONSTRAINT {con_name} {definition}"
            for con_name, definition in rows(
                connection,
                "SELECT quote_ident(conname), pg_catalog.pg_get_constraintdef(oid)"
                " FROM pg_catalog.pg_constraint WHERE conrelid = :oid AND contype = 'c'"
                # ATTACH PARTITION wants the parent's CHECKs on the table already.
                "   AND (conislocal OR :attached) AND convalidated ORDER BY conname",
                oid=oid,
                attached=attached,
            )
        ]
        unlogged = "UNLOGGED " if persistence == "u" else ""
        if attached:
            head, tail = f"CREATE {unlogged}TABLE {qualified}", ""
        elif is_partition:
            # Columns, NOT NULL, defaults and inherited CHECKs come from the parent.
            body = f" ({', '.join(checks[qualified])})" if checks[qualified] else ""
            head, tail = f"CREATE {unlogged}TABLE {qualified} PARTITION OF {parents[0]}", body + f" {bound}"
        else:
            head, tail = f"CREATE {unlogged}TABLE {qualified}", ""
            if parents:
                # Inherited columns and CHECKs come with INHERITS; merged local ones are listed.
                tail = f" INHERITS ({', '.join(parents)})"
        if partition_key:
            tail += f" PARTITION BY {partition_key}"
        if options:
            tail += f" WITH ({', '.join(options)})"
        # A partition's columns come from PARTITION OF only, unless it is created apart and attached.
        creates[qualified] = (head, tail, attached or not is_partition)
        attach = [f"ALTER TABLE ONLY {parents[0]} ATTACH PARTITION {qualified} {bound};"] if attached else []
        after[qualified] = attach + columns[qualified].after
        # USING INDEX waits for the index, in post-data.
        if replica_identity in ("f", "n"):
            after[qualified].append(f"{alter} REPLICA IDENTITY {'FULL' if replica_identity == 'f' else 'NOTHING'};")
        if kind == "r":
            tables.append(Table(oid, qualified, schema_name, name, columns[qualified].copy, int(size), int(heap_size)))

    alone = {
        table: [f"{head}{_table_body(columns[table], checks[table], with_columns)}{tail};", *after[table]]
        for table, (head, tail, with_columns) in creates.items()
    }
    statements: list[str] = []
    done: set[str] = set()
    inheritance = {row[1]: row[6] or [] for row in found if not row[5]}
    families = _inheritance_families(inheritance)
    for row in found:
        qualified = row[1]
        if qualified in done:
            continue
        family = families.get(qualified, [qualified])
        events = _column_replay(family, inheritance, columns) if len(family) > 1 else None
        if events is None:
            for table in family:
                statements += alone[table]
        else:
            # Created empty, then the columns added in an order that gives every table its own.
            statements += [f"{creates[table][0]} (){creates[table][1]};" for table in family]
            for table, column in events:
                statements.append(f"ALTER TABLE {table} ADD COLUMN {columns[table].definitions[column]};")
            # Deepest first: a child's own copy of a CHECK is merged into, not duplicated, by its parent's.
            statements += [f"ALTER TABLE {table} ADD {check};" for table in reversed(family) for check in checks[table]]
            statements += [statement for table in family for statement in after[table]]
        done.update(family)

    owned_by: list[Tagged] = []
    for sequence, table, column in rows(
        connection,
        "SELECT d.objid::regclass::text, d.refobjid::regclass::text, quote_ident(a.attname)"
        " FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace"
        f" WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'"
        f"   AND {USER_SCHEMA} ORDER BY d.objid",
    ):
        owned_by.append((table, f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column};"))
    return tables, statements, alone, owned_by


def _table_body(columns: Columns, checks: list[str], with_columns: bool) -> str:
    return f" ({', '.join([*columns.definitions.values(), *checks])})" if with_columns else ""


def _inheritance_families(parents_of: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each table's family: the tables linked to it by old-style inheritance, in `parents_of`'s order."""
    linked: dict[str, set[str]] = {name: set() for name in parents_of}
    for name, parents in parents_of.items():
        for parent in parents:
            if parent in linked:
                linked[name].add(parent)
                linked[parent].add(name)
    families: dict[str, list[str]] = {}
    for name in parents_of:
        if name in families:
            continue
        members, todo = {name}, [name]
        while todo:
            for other in linked[todo.pop()] - members:
                members.add(other)
                todo.append(other)
        family = [table for table in parents_of if table in members] if len(members) > 1 else [name]
        families.update(dict.fromkeys(family, family))
    return families


def _column_replay(
    family: list[str], parents_of: dict[str, list[str]], columns: dict[str, Columns]
) -> list[tuple[str, str]] | None:
    """ADD COLUMN steps that rebuild the family's column orders, when INHERITS would not.

    CREATE TABLE ... INHERITS puts the inherited columns first; a column
    added to a parent after a child got columns of its own sits after them
    in the child. pg_dump recreates such a child with its columns in another
    order (values survive, `SELECT *` and column-less INSERTs change). Here
    each table's local columns become ALTER TABLE ADD COLUMN steps (which
    reach the children that lack the column, and merge into those that have
    their own) in an order that appends to every table the column it has
    next. None when INHERITS gets the orders right already, or when no such
    order exists, or for identity and generated columns (ADD COLUMN cannot
    recurse with the first, the second may name later columns): then the
    dump does what pg_dump does.
    """
    children = {table: [child for child in family if table in parents_of[child]] for table in family}
    natural: dict[str, list[str]] = {}
    for table in family:
        inherited = list(dict.fromkeys(column for parent in parents_of[table] for column in natural.get(parent, [])))
        natural[table] = inherited + [column for column in columns[table].order if column not in inherited]
    if all(natural[table] == columns[table].order for table in family):
        return None
    if any(columns[table].generated_or_identity for table in family):
        return None
    current: dict[str, list[str]] = {table: [] for table in family}
    pending = [(table, column) for table in family for column in columns[table].definitions]
    events = []
    while pending:
        for table, column in pending:
            # The tables ADD COLUMN appends to: this one, and the descendants reached without a merge.
            reached, todo = [table], list(children[table])
            while todo:
                child = todo.pop(0)
                if column not in current[child] and child not in reached:
                    reached.append(child)
                    todo += children[child]
            if all(
                len(current[other]) < len(columns[other].order)
                and columns[other].order[len(current[other])] == column
                and (other == table or column not in columns[other].definitions)
                for other in reached
            ):
                for other in reached:
                    current[other].append(column)
                events.append((table, column))
                pending.remove((table, column))
                break
        else:
            return None
    return events if all(current[table] == columns[table].order for table in family) else None


def _matview_column_properties(connection: pg8000.native.Connection, oid: int, name: str) -> list[str]:
    statements = []
    for column, *properties in rows(
        connection,
        "SELECT quote_ident(a.attname), false,"
        f"  {COLUMN_PROPERTIES.replace('p.storages, p.compressions', 'NULL::text[], NULL::text[]')}"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        oid=oid,
    ):
        statements += _column_property_statements(f"ALTER MATERIALIZED VIEW {name}", column, *properties)
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
            statements += _matview_column_properties(connection, oid, name)
            if populated:
                refreshes.append(f"REFRESH MATERIALIZED VIEW {name};")
    return statements, refreshes


def _constraints(connection: pg8000.native.Connection) -> tuple[list[Tagged], list[tuple[str, ForeignKey]]]:
    """Keys and checks, and foreign keys, after the data (as pg_dump: faster loads, no FK ordering problems).

    Constraints cloned onto partitions from their parent are created by the
    parent's constraint and are skipped. NOT VALID checks are added here too.
    """
    found = rows(
        connection,
        "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_catalog.pg_get_constraintdef(c.oid),"
        "  c.contype, cl.relkind, NULLIF(c.confrelid, 0)::regclass::text,"
        "  pg_catalog.obj_description(c.oid, 'pg_constraint')"
        " FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace"
        f" WHERE {USER_SCHEMA} AND c.conparentid = 0 AND cl.relkind IN ('r', 'p')"
        "   AND (c.contype IN ('p', 'u', 'x', 'f') OR (c.contype = 'c' AND NOT c.convalidated AND c.conislocal))"
        f"   AND {not_in_extension('pg_class', 'cl.oid')}"
        " ORDER BY CASE c.contype WHEN 'f' THEN 1 ELSE 0 END, c.oid",
    )
    keys: list[Tagged] = []
    foreign_keys: list[tuple[str, ForeignKey]] = []  # (table, key)
    for table, name, definition, contype, kind, referenced, comment in found:
        # ONLY would leave a partitioned table's partitions without the key,
        # and is refused for a CHECK on a table with inheritance children
        # (their copies are not dumped: this creates them).
        only = "" if kind == "p" or contype == "c" else "ONLY "
        statement = f"ALTER TABLE {only}{table} ADD CONSTRAINT {name} {definition};"
        if contype == "f":
            # A key skipped by a table restore takes its comment along (the
            # whole dump has the comment with the others, from _comments).
            statements = [statement]
            if comment is not None:
                statements.append(f"COMMENT ON CONSTRAINT {name} ON {table} IS {quote_literal(comment)};")
            foreign_keys.append((table, ForeignKey(name, referenced, statements)))
        else:
            keys.append((table, statement))
    return keys, foreign_keys


def _indexes(connection: pg8000.native.Connection) -> list[Tagged]:
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
    statements: list[Tagged] = []
    for definition, clustered, table, index in found:
        # "ON ONLY parent" would create an invalid index awaiting ATTACH PARTITION;
        # plain ON builds the partitions' indexes too.
        statements.append((table, definition.replace(" ON ONLY ", " ON ", 1) + ";"))
        if clustered:
            statements.append((table, f"ALTER TABLE {table} CLUSTER ON {index.rsplit('.', 1)[-1]};"))
    for table, index in rows(
        connection,
        "SELECT i.indrelid::regclass::text, quote_ident(c.relname) FROM pg_catalog.pg_index i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE {USER_SCHEMA} AND i.indisclustered AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k"
        "   WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))",
    ):
        statements.append((table, f"ALTER TABLE {table} CLUSTER ON {index};"))
    return statements


def _triggers(connection: pg8000.native.Connection, version: int) -> list[Tagged]:
    inherited = "AND t.tgparentid = 0" if version >= 130000 else ""
    found = rows(
        connection,
        "SELECT pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled, t.tgrelid::regclass::text, quote_ident(t.tgname)"
        " FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE NOT t.tgisinternal {inherited} AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY t.oid",
    )
    statements: list[Tagged] = []
    disabled = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}
    for definition, enabled, table, name in found:
        statements.append((table, definition + ";"))
        if enabled in disabled:
            statements.append((table, f"ALTER TABLE {table} {disabled[enabled]} TRIGGER {name};"))
    return statements


def _replica_identity_indexes(connection: pg8000.native.Connection) -> list[Tagged]:
    """REPLICA IDENTITY USING INDEX, once the index exists (FULL and NOTHING come with the table)."""
    return [
        (table, f"ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {index};")
        for table, index in rows(
            connection,
            "SELECT i.indrelid::regclass::text, quote_ident(ic.relname) FROM pg_catalog.pg_index i"
            " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_class c ON c.oid = i.indrelid"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE i.indisreplident AND c.relreplident = 'i' AND {USER_SCHEMA}"
            f"   AND {not_in_extension('pg_class', 'c.oid')} ORDER BY i.indexrelid",
        )
    ]


def _statistics(connection: pg8000.native.Connection) -> list[Tagged]:
    """Extended statistics (CREATE STATISTICS), and their statistics target when set."""
    statements: list[Tagged] = []
    for name, definition, target, table in rows(
        connection,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.stxname),"
        "  pg_catalog.pg_get_statisticsobjdef(s.oid), s.stxstattarget, s.stxrelid::regclass::text"
        " FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace"
        f" WHERE {USER_SCHEMA} AND {not_in_extension('pg_statistic_ext', 's.oid')} ORDER BY s.oid",
    ):
        statements.append((table, f"{definition};"))
        # -1 (NULL from PostgreSQL 17) means the default target.
        if target is not None and target >= 0:
            statements.append((table, f"ALTER STATISTICS {name} SET STATISTICS {target};"))
    return statements


def _rules(connection: pg8000.native.Connection) -> list[Tagged]:
    """Rules other than views' own `_RETURN` (which is the view's definition)."""
    statements: list[Tagged] = []
    disabled = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}
    for definition, enabled, table, name in rows(
        connection,
        "SELECT pg_catalog.pg_get_ruledef(r.oid), r.ev_enabled, r.ev_class::regclass::text, quote_ident(r.rulename)"
        " FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')}"
        " ORDER BY r.oid",
    ):
        statements.append((table, definition.rstrip().rstrip(";") + ";"))
        if enabled in disabled:
            statements.append((table, f"ALTER TABLE {table} {disabled[enabled]} RULE {name};"))
    return statements


def _row_security(connection: pg8000.native.Connection) -> list[Tagged]:
    """ENABLE / FORCE ROW LEVEL SECURITY and the policies (which may name roles: those must exist)."""
    statements: list[Tagged] = []
    for table, enabled, forced in rows(
        connection,
        "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE (c.relrowsecurity OR c.relforcerowsecurity) AND {USER_SCHEMA}"
        f"   AND {not_in_extension('pg_class', 'c.oid')} ORDER BY c.oid",
    ):
        if enabled:
            statements.append((table, f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"))
        if forced:
            statements.append((table, f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"))
    commands = {"*": "", "r": " FOR SELECT", "a": " FOR INSERT", "w": " FOR UPDATE", "d": " FOR DELETE"}
    for name, table, permissive, command, roles, using, check in rows(
        connection,
        "SELECT quote_ident(p.polname), p.polrelid::regclass::text, p.polpermissive, p.polcmd,"
        # {0} is PUBLIC, the default; otherwise the roles in the catalog's order.
        "  CASE WHEN p.polroles <> '{0}' THEN pg_catalog.array_to_string(ARRAY("
        "    SELECT quote_ident(pg_catalog.pg_get_userbyid(r.role)) FROM unnest(p.polroles) WITH ORDINALITY r(role, n)"
        "    ORDER BY r.n), ', ') END,"
        "  pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)"
        " FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE {USER_SCHEMA} AND {not_in_extension('pg_class', 'c.oid')} ORDER BY p.oid",
    ):
        statement = f"CREATE POLICY {name} ON {table}"
        if not permissive:
            statement += " AS RESTRICTIVE"
        statement += commands[command]
        if roles:
            statement += f" TO {roles}"
        if using is not None:
            statement += f" USING ({using})"
        if check is not None:
            statement += f" WITH CHECK ({check})"
        statements.append((table, statement + ";"))
    return statements


# A type of its own: not a table's row type (a composite type's relkind is 'c').
STANDALONE_TYPE = "o.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = o.typrelid) = 'c'"


def _comments(connection: pg8000.native.Connection, owners: dict[str, str]) -> list[Tagged]:
    """COMMENT ON everything; those on a table, its columns, indexes, owned sequences,
    constraints, triggers, policies and rules are tagged with the table."""
    statements: list[Tagged] = []
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
        table = name if kind in ("r", "p") else owners.get(name)
        statements.append((table, f"COMMENT ON {target} IS {quote_literal(text)};"))
    function_name = "o.oid::regproc::text || '(' || pg_catalog.pg_get_function_identity_arguments(o.oid) || ')'"
    functions = "pg_catalog.pg_proc o JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace"
    aggregate_name = (
        "quote_ident(n.nspname) || '.' || quote_ident(o.proname)"
        " || '(' || coalesce(NULLIF(pg_catalog.pg_get_function_identity_arguments(o.oid), ''), '*') || ')'"
    )
    types = "pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace"
    collations = "pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace"
    statistics = "pg_catalog.pg_statistic_ext o JOIN pg_catalog.pg_namespace n ON n.oid = o.stxnamespace"
    described = (
        # (catalog, COMMENT ON keyword, name expression, FROM clause, condition)
        ("pg_namespace", "SCHEMA", "quote_ident(o.nspname)", "pg_catalog.pg_namespace o",
         f"o.nspname NOT IN {SYSTEM_SCHEMAS} AND o.nspname !~ '^pg_'"),
        ("pg_collation", "COLLATION", "quote_ident(n.nspname) || '.' || quote_ident(o.collname)", collations,
         USER_SCHEMA),
        ("pg_type", "TYPE", "o.oid::regtype::text", types, f"{USER_SCHEMA} AND ({STANDALONE_TYPE})"),
        ("pg_proc", "FUNCTION", function_name, functions, f"{USER_SCHEMA} AND o.prokind = 'f'"),
        ("pg_proc", "PROCEDURE", function_name, functions, f"{USER_SCHEMA} AND o.prokind = 'p'"),
        ("pg_proc", "AGGREGATE", aggregate_name, functions, f"{USER_SCHEMA} AND o.prokind = 'a'"),
        ("pg_statistic_ext", "STATISTICS", "quote_ident(n.nspname) || '.' || quote_ident(o.stxname)", statistics,
         USER_SCHEMA),
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
    for name, on_domain, foreign, target, text in rows(
        connection,
        "SELECT quote_ident(k.conname), k.contypid <> 0, k.contype = 'f',"
        "  CASE WHEN k.contypid <> 0 THEN k.contypid::regtype::text ELSE k.conrelid::regclass::text END,"
        "  d.description"
        " FROM pg_catalog.pg_description d JOIN pg_catalog.pg_constraint k ON k.oid = d.objoid"
        " JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace"
        f" WHERE d.classoid = 'pg_constraint'::regclass AND {USER_SCHEMA} ORDER BY k.oid",
    ):
        statements.append(
            (
                # A foreign key's comment goes with the key (see _constraints).
                None if on_domain or foreign else target,
                f"COMMENT ON CONSTRAINT {name} ON {'DOMAIN ' if on_domain else ''}{target} IS {quote_literal(text)};",
            )
        )
    for name, table, text in rows(
        connection,
        "SELECT quote_ident(t.tgname), t.tgrelid::regclass::text, d.description"
        " FROM pg_catalog.pg_description d JOIN pg_catalog.pg_trigger t ON t.oid = d.objoid"
        " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE d.classoid = 'pg_trigger'::regclass AND {USER_SCHEMA} ORDER BY t.oid",
    ):
        statements.append((table, f"COMMENT ON TRIGGER {name} ON {table} IS {quote_literal(text)};"))
    # Policies and rules are named within their table, as triggers are.
    for keyword, catalog, name_column, table_column in (
        ("POLICY", "pg_policy", "polname", "polrelid"),
        ("RULE", "pg_rewrite", "rulename", "ev_class"),
    ):
        for name, table, text in rows(
            connection,
            f"SELECT quote_ident(o.{name_column}), o.{table_column}::regclass::text, d.description"
            f" FROM pg_catalog.pg_description d JOIN pg_catalog.{catalog} o ON o.oid = d.objoid"
            f" JOIN pg_catalog.pg_class c ON c.oid = o.{table_column}"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE d.classoid = 'pg_catalog.{catalog}'::regclass AND {USER_SCHEMA}"
            f"   AND {not_in_extension('pg_class', 'c.oid')} ORDER BY o.oid",
        ):
            statements.append((table, f"COMMENT ON {keyword} {name} ON {table} IS {quote_literal(text)};"))
    return statements


# --- ownership and privileges (read_schema(privileges=True)) ------------------

OWNER = "quote_ident(pg_catalog.pg_get_userbyid({}))"


def unquote_ident(name: str) -> str:
    """The name quote_ident() printed as `name`."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _owners(connection: pg8000.native.Connection, tables: set[str]) -> list[Acl]:
    """ALTER ... OWNER TO for every object the dump creates; those of `tables` tagged with the table.

    Indexes, owned sequences (serial, identity), array and multirange types
    follow their table or type, and ALTER refuses to move them alone.
    """
    functions = "pg_catalog.pg_proc o JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace"
    relations = "pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace"
    owned = (
        # (ALTER keyword SQL, name SQL, owner column, FROM clause, condition, catalog)
        ("'SCHEMA'", "quote_ident(o.nspname)", "o.nspowner", "pg_catalog.pg_namespace o",
         # public is not created by the dump: only a changed owner is said (pg_dump too).
         f"o.nspname NOT IN {SYSTEM_SCHEMAS} AND o.nspname !~ '^pg_'"
         " AND (o.nspname <> 'public' OR pg_catalog.pg_get_userbyid(o.nspowner) <> 'pg_database_owner')",
         "pg_namespace"),
        ("'COLLATION'", "quote_ident(n.nspname) || '.' || quote_ident(o.collname)", "o.collowner",
         "pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace", USER_SCHEMA,
         "pg_collation"),
        ("CASE o.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END", "o.oid::regtype::text", "o.typowner",
         "pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace",
         f"{USER_SCHEMA} AND o.typtype IN ('e', 'd', 'r', 'c') AND ({STANDALONE_TYPE})", "pg_type"),
        ("CASE o.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END",
         "CASE WHEN o.prokind = 'a' THEN quote_ident(n.nspname) || '.' || quote_ident(o.proname) || '('"
         "  || coalesce(NULLIF(pg_catalog.pg_get_function_identity_arguments(o.oid), ''), '*') || ')'"
         " ELSE o.oid::regprocedure::text END", "o.proowner", functions,
         # Range types' constructors belong to the type.
         f"{USER_SCHEMA} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass"
         "   AND d.objid = o.oid AND d.deptype = 'i')", "pg_proc"),
        ("CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'"
         " ELSE 'TABLE' END", "o.oid::regclass::text", "o.relowner", relations,
         f"{USER_SCHEMA} AND o.relkind IN ('r', 'p', 'v', 'm', 'S')"
         "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass"
         "                  AND d.objid = o.oid AND o.relkind = 'S' AND d.deptype IN ('a', 'i'))", "pg_class"),
        ("'STATISTICS'", "quote_ident(n.nspname) || '.' || quote_ident(o.stxname)", "o.stxowner",
         "pg_catalog.pg_statistic_ext o JOIN pg_catalog.pg_namespace n ON n.oid = o.stxnamespace", USER_SCHEMA,
         "pg_statistic_ext"),
    )  # fmt: skip
    statements = []
    for keyword_sql, name_sql, owner_column, source, condition, catalog in owned:
        for keyword, name, owner in rows(
            connection,
            f"SELECT {keyword_sql}, {name_sql}, {OWNER.format(owner_column)} FROM {source}"
            f" WHERE {condition} AND {not_in_extension(catalog, 'o.oid')} ORDER BY o.oid",
        ):
            table = name if keyword == "TABLE" and name in tables else None
            statements.append((table, f"ALTER {keyword} {name} OWNER TO {owner};", (unquote_ident(owner),)))
    return statements


# One row per privilege to revoke or grant, from an object list
# (key, subkey, prefix, target, column, owner, acl, base): the items of the
# base ACL that the actual ACL lacks are revoked, the items it adds are
# granted, in the ACL's own order (a later grant may rest on an earlier grant
# option). Items compare whole (grantee, grantor, privileges), as pg_dump
# compares them.
ACL_CHANGES = """
SELECT o.key, o.subkey, o.prefix, o.target, o.column_, quote_ident(pg_catalog.pg_get_userbyid(o.owner)),
  c.action, c.position, quote_ident(pg_catalog.pg_get_userbyid(e.grantor)),
  CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(e.grantee)) END,
  e.privilege_type, e.is_grantable
FROM ({objects}) o(key, subkey, prefix, target, column_, owner, acl, base)
CROSS JOIN LATERAL (
  SELECT 0, i.position, i.item FROM unnest(o.base) WITH ORDINALITY i(item, position) WHERE NOT (i.item = ANY (o.acl))
  UNION ALL
  SELECT 1, i.position, i.item FROM unnest(o.acl) WITH ORDINALITY i(item, position) WHERE NOT (i.item = ANY (o.base))
) c(action, position, item)
CROSS JOIN LATERAL pg_catalog.aclexplode(ARRAY[c.item])
  WITH ORDINALITY e(grantor, grantee, privilege_type, is_grantable, n)
ORDER BY o.key, o.subkey, c.action, c.position, e.n
"""


def _acl_sql(acl: str, default: str, catalog: str, oid_column: str, subid: str = "0") -> tuple[str, str, str]:
    """SQL for (actual ACL, base ACL, has something to say) of an object, as pg_dump reads them.

    NULL in the catalog means the owner's default (acldefault). The base is
    the object's initial ACL if it has one (pg_init_privs: extension members,
    the public schema), else that default. An object with neither a stored
    ACL nor an initial one has the default: nothing to say.
    """
    initial = (
        f"(SELECT ip.initprivs FROM pg_catalog.pg_init_privs ip WHERE ip.objoid = {oid_column}"
        f" AND ip.classoid = 'pg_catalog.{catalog}'::regclass AND ip.objsubid = {subid})"
    )
    return (
        f"coalesce({acl}, {default})",
        f"coalesce({initial}, {default})",
        f"({acl} IS NOT NULL OR {initial} IS NOT NULL)",
    )


def _privileges(connection: pg8000.native.Connection, tables: set[str], owned: dict[str, str]) -> list[Acl]:
    """GRANT/REVOKE reproducing nspacl, typacl, proacl, relacl and attacl.

    Those on one of `tables`, its columns or a sequence it owns (`owned`:
    sequence -> table, see _relation_owners) are tagged with the table.

    Only for objects the restore will have: what the dump creates, and
    extension members, which are included here (not in _owners) because
    pg_dump keeps grants made on them after CREATE EXTENSION, relative to
    pg_init_privs. (A grant on an object the dump skips, such as a foreign
    table, would stop the restore.)
    """

    def member(catalog: str) -> str:
        return f"NOT {not_in_extension(catalog, 'o.oid')}"

    namespace = _acl_sql("o.nspacl", "pg_catalog.acldefault('n', o.nspowner)", "pg_namespace", "o.oid")
    type_ = _acl_sql("o.typacl", "pg_catalog.acldefault('T', o.typowner)", "pg_type", "o.oid")
    function = _acl_sql("o.proacl", "pg_catalog.acldefault('f', o.proowner)", "pg_proc", "o.oid")
    relation = _acl_sql(
        "o.relacl", "pg_catalog.acldefault(CASE WHEN o.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", o.relowner)",
        "pg_class", "o.oid",
    )  # fmt: skip
    column = _acl_sql("a.attacl", "'{}'::pg_catalog.aclitem[]", "pg_class", "o.oid", "a.attnum")
    # As pg_dump (15+) does, the public schema's base is the standard ACL for
    # its current owner, {owner=UC/owner,=U/owner}, whatever pg_init_privs
    # says (it keeps naming the first owner): that is the ACL a new
    # database's public schema has once ALTER SCHEMA public OWNER TO (the
    # owners frame) has run, so only what the source changed is granted or
    # revoked, and a restore without the owners applies just that too.
    public_base = "pg_catalog.acldefault('n', o.nspowner) || pg_catalog.makeaclitem(0, o.nspowner, 'USAGE', false)"
    sources = (
        "SELECT o.oid, 0, '', 'SCHEMA ' || quote_ident(o.nspname), NULL, o.nspowner, "
        f"  {namespace[0]}, CASE WHEN o.nspname = 'public' THEN {public_base} ELSE {namespace[1]} END"
        f" FROM pg_catalog.pg_namespace o WHERE o.nspname NOT IN {SYSTEM_SCHEMAS} AND o.nspname !~ '^pg_'"
        f"  AND ({namespace[2]} OR o.nspname = 'public')",
        # GRANT ... ON TYPE serves domains too.
        f"SELECT o.oid, 0, '', 'TYPE ' || o.oid::regtype::text, NULL, o.typowner, {type_[0]}, {type_[1]}"
        " FROM pg_catalog.pg_type o JOIN pg_catalog.pg_namespace n ON n.oid = o.typnamespace"
        f" WHERE {USER_SCHEMA} AND ({STANDALONE_TYPE}) AND {type_[2]}"
        f"  AND (o.typtype IN ('e', 'd', 'r', 'c') OR {member('pg_type')})",
        # Aggregates are granted on as functions (GRANT has no AGGREGATE).
        "SELECT o.oid, 0, '', CASE WHEN o.prokind = 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END"
        f"  || o.oid::regprocedure::text, NULL, o.proowner, {function[0]}, {function[1]}"
        " FROM pg_catalog.pg_proc o JOIN pg_catalog.pg_namespace n ON n.oid = o.pronamespace"
        f" WHERE {USER_SCHEMA} AND {function[2]}",
        # A table's own privileges, then its columns' (attacl, empty by default).
        "SELECT o.oid, 0, '', CASE WHEN o.relkind = 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || o.oid::regclass::text,"
        f"  NULL, o.relowner, {relation[0]}, {relation[1]}"
        " FROM pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace"
        f" WHERE {USER_SCHEMA} AND (o.relkind IN ('r', 'p', 'v', 'm', 'S') OR {member('pg_class')})"
        f"  AND {relation[2]}"
        " UNION ALL"
        " SELECT o.oid, a.attnum, '', 'TABLE ' || o.oid::regclass::text, quote_ident(a.attname), o.relowner,"
        f"  {column[0]}, {column[1]}"
        " FROM pg_catalog.pg_class o JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = o.oid AND a.attnum > 0 AND NOT a.attisdropped"
        f" WHERE {USER_SCHEMA} AND (o.relkind IN ('r', 'p', 'v', 'm') OR {member('pg_class')})"
        f"  AND {column[2]}",
    )

    def table_of(target: str) -> str | None:
        keyword, _space, name = target.partition(" ")
        if keyword == "TABLE":
            return name if name in tables else None
        return owned.get(name) if keyword == "SEQUENCE" else None

    statements = []
    for objects in sources:
        statements += _acl_statements(rows(connection, ACL_CHANGES.format(objects=objects)), table_of)
    return statements


def _default_privileges(connection: pg8000.native.Connection) -> list[Acl]:
    """ALTER DEFAULT PRIVILEGES from pg_default_acl, last: they must not touch what the restore creates.

    A global entry replaces the built-in default for its role and kind of
    object, so it is written relative to acldefault(); an entry for one
    schema can only add to that, so it is written relative to nothing (as
    pg_dump does).
    """
    objects = (
        "SELECT o.oid, 0,"
        "  'ALTER DEFAULT PRIVILEGES FOR ROLE ' || quote_ident(pg_catalog.pg_get_userbyid(o.defaclrole))"
        "  || coalesce(' IN SCHEMA ' || (SELECT quote_ident(nspname) FROM pg_catalog.pg_namespace"
        "                                WHERE oid = o.defaclnamespace), '') || ' ',"
        "  CASE o.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'"
        "    WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' END,"
        "  NULL, o.defaclrole, o.defaclacl,"
        "  CASE WHEN o.defaclnamespace = 0 THEN pg_catalog.acldefault("
        "    CASE WHEN o.defaclobjtype = 'S' THEN 's' ELSE o.defaclobjtype END::\"char\", o.defaclrole)"
        "  ELSE '{}'::pg_catalog.aclitem[] END"
        " FROM pg_catalog.pg_default_acl o"
    )
    return _acl_statements(rows(connection, ACL_CHANGES.format(objects=objects)))


def _acl_statements(found: list[list[Any]], table_of: Callable[[str], str | None] = lambda _target: None) -> list[Acl]:
    """GRANT/REVOKE statements from ACL_CHANGES rows, per object and per ACL item.

    As pg_dump orders them: the revokes, then the owner's grants to itself,
    then the others. A grant recorded with another grantor than the owner
    is made as that grantor (SET SESSION AUTHORIZATION, which needs a
    superuser), so that the restored ACL names the same grantor. Each
    statement is tagged with `table_of(target)` and the roles it names.
    """
    statements: list[Acl] = []
    for _object, object_rows in groupby(found, key=lambda row: (row[0], row[1])):
        object_rows = list(object_rows)
        prefix, target, column, owner = object_rows[0][2:6]
        table = table_of(target)
        # ALTER DEFAULT PRIVILEGES FOR ROLE owner ...
        named = {unquote_ident(owner)} if prefix else set()
        revokes, owner_grants, other_grants = [], [], []
        for (action, _position), item in groupby(object_rows, key=lambda row: (row[6], row[7])):
            item = list(item)
            grantor, grantee = item[0][8], item[0][9]
            roles = tuple(named | ({unquote_ident(grantee)} if grantee != "PUBLIC" else set()))
            on_column = f"({column})" if column else ""
            plain = ",".join(row[10] + on_column for row in item if not row[11])
            with_option = ",".join(row[10] + on_column for row in item if row[11])
            if action == 0:
                # Revoking a privilege revokes its grant option too.
                everything = ",".join(filter(None, (plain, with_option)))
                revokes.append((table, f"{prefix}REVOKE {everything} ON {target} FROM {grantee};", roles))
                continue
            grants = []
            if plain:
                grants.append((table, f"{prefix}GRANT {plain} ON {target} TO {grantee};", roles))
            if with_option:
                grants.append(
                    (table, f"{prefix}GRANT {with_option} ON {target} TO {grantee} WITH GRANT OPTION;", roles)
                )
            if grantor != owner:
                grants = [
                    (table, f"SET SESSION AUTHORIZATION {grantor};", (unquote_ident(grantor),)),
                    *grants,
                    (table, "RESET SESSION AUTHORIZATION;", ()),
                ]
            (owner_grants if grantee == owner == grantor else other_grants).extend(grants)
        statements += revokes + owner_grants + other_grants
    return statements


# --- what a table needs that it does not create (restore --table) ------------

# The objects that belong to a table and whose dependencies are the table's:
# the table itself (column types, collations, schema, parents), its column
# defaults and generated expressions, its constraints other than foreign keys
# (those are optional: see TableDDL.foreign_keys), indexes, triggers, policies.
TABLE_PARTS = """
SELECT c.oid AS tab, 'pg_catalog.pg_class'::regclass AS classid, c.oid AS objid FROM pg_catalog.pg_class c
  WHERE c.relkind IN ('r', 'p')
UNION ALL SELECT a.adrelid, 'pg_catalog.pg_attrdef'::regclass, a.oid FROM pg_catalog.pg_attrdef a
UNION ALL SELECT k.conrelid, 'pg_catalog.pg_constraint'::regclass, k.oid FROM pg_catalog.pg_constraint k
  WHERE k.conrelid <> 0 AND k.contype <> 'f'
UNION ALL SELECT i.indrelid, 'pg_catalog.pg_class'::regclass, i.indexrelid FROM pg_catalog.pg_index i
UNION ALL SELECT t.tgrelid, 'pg_catalog.pg_trigger'::regclass, t.oid FROM pg_catalog.pg_trigger t
  WHERE NOT t.tgisinternal
UNION ALL SELECT p.polrelid, 'pg_catalog.pg_policy'::regclass, p.oid FROM pg_catalog.pg_policy p
"""

# (kind, name) of what a part depends on, named so that the restore can look
# it up with to_regnamespace/to_regtype/... Built-in objects (oids below
# FirstNormalObjectId, 16384) are everywhere; schemas are always named, as
# public may have been dropped. The table's own sequences come with it.
TABLE_REQUIREMENTS = f"""
SELECT DISTINCT p.tab::regclass::text, r.kind, r.name
FROM ({TABLE_PARTS}) p
JOIN pg_catalog.pg_class tc ON tc.oid = p.tab
JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_catalog.pg_depend d ON d.classid = p.classid AND d.objid = p.objid AND d.deptype IN ('n', 'a')
CROSS JOIN LATERAL (
  SELECT 'schema', quote_ident(ns.nspname) FROM pg_catalog.pg_namespace ns
    WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass AND ns.oid = d.refobjid
  UNION ALL SELECT 'type', pg_catalog.format_type(d.refobjid, NULL)
    WHERE d.refclassid = 'pg_catalog.pg_type'::regclass AND d.refobjid >= 16384
  UNION ALL SELECT 'function', d.refobjid::regprocedure::text
    WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid >= 16384
  UNION ALL SELECT 'collation', {collation_name("d.refobjid")}
    WHERE d.refclassid = 'pg_catalog.pg_collation'::regclass AND d.refobjid >= 16384
  UNION ALL SELECT CASE rc.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, rc.oid::regclass::text
    FROM pg_catalog.pg_class rc
    WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND rc.oid = d.refobjid AND rc.oid <> p.tab
      AND rc.relkind IN ('S', 'r', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend o WHERE o.classid = 'pg_catalog.pg_class'::regclass
                      AND o.objid = rc.oid AND o.refobjid = p.tab AND o.deptype IN ('a', 'i'))
) r(kind, name)
WHERE {USER_SCHEMA} AND {not_in_extension("pg_class", "tc.oid")}
ORDER BY 1, 2, 3
"""


def _table_requirements(connection: pg8000.native.Connection) -> dict[str, list[tuple[str, str]]]:
    """Per table: the schemas, types, functions, collations, sequences and parent tables it uses."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table, kind, name in rows(connection, TABLE_REQUIREMENTS):
        found.setdefault(table, []).append((kind, name))
    return found


def _in_user_schema(catalog: str, alias: str, namespace_column: str, joins: str = "") -> str:
    """SQL FROM/WHERE for one catalog's objects in a user schema that no extension owns."""
    return (
        f" FROM pg_catalog.{catalog} {alias} JOIN pg_catalog.pg_namespace n ON n.oid = {alias}.{namespace_column}"
        f"{joins} WHERE {USER_SCHEMA} AND {not_in_extension(catalog, f'{alias}.oid')}"
    )


def _user_made(catalog: str, alias: str, joins: str = "") -> str:
    """SQL FROM/WHERE for a catalog without schemas: created after initdb, and not by an extension."""
    # 16384 is FirstNormalObjectId: below it the object came with the server (pg_dump draws the same line).
    return (
        f" FROM pg_catalog.{catalog} {alias}{joins}"
        f" WHERE {alias}.oid >= 16384 AND {not_in_extension(catalog, f'{alias}.oid')}"
    )


def _operator_side(oid_sql: str) -> str:
    """SQL: one operand type of an operator, NONE for a prefix operator's missing left side."""
    return f"CASE WHEN {oid_sql} = 0 THEN 'NONE' ELSE pg_catalog.format_type({oid_sql}, NULL) END"


def _qualified(name_column: str) -> str:
    return f"quote_ident(n.nspname) || '.' || quote_ident({name_column})"


# What this dump does not carry, found in one catalog round trip: one
# (order, label) per object, the order keeping each kind together. The user
# types dumped are enums, domains, ranges and composites; a base type (made
# of C functions) or a shell type is not. Subscriptions live in a shared
# catalog, hence the filter on this database.
NOT_DUMPED = f"""
SELECT 1, 'foreign table ' || {_qualified("c.relname")}
  {_in_user_schema("pg_class", "c", "relnamespace")} AND c.relkind = 'f'
UNION ALL SELECT 2, 'foreign data wrapper ' || quote_ident(w.fdwname)
  FROM pg_catalog.pg_foreign_data_wrapper w WHERE {not_in_extension("pg_foreign_data_wrapper", "w.oid")}
UNION ALL SELECT 3, 'foreign server ' || quote_ident(s.srvname)
  FROM pg_catalog.pg_foreign_server s WHERE {not_in_extension("pg_foreign_server", "s.oid")}
UNION ALL SELECT 4, 'user mapping for '
    || CASE WHEN u.umuser = 0 THEN 'PUBLIC' ELSE quote_ident(u.usename) END || ' server ' || quote_ident(u.srvname)
  FROM pg_catalog.pg_user_mappings u
UNION ALL SELECT 5, 'event trigger ' || quote_ident(e.evtname)
  FROM pg_catalog.pg_event_trigger e WHERE {not_in_extension("pg_event_trigger", "e.oid")}
UNION ALL SELECT 6, 'publication ' || quote_ident(p.pubname)
  FROM pg_catalog.pg_publication p WHERE {not_in_extension("pg_publication", "p.oid")}
UNION ALL SELECT 7, 'subscription ' || quote_ident(s.subname)
  FROM pg_catalog.pg_subscription s
  WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
UNION ALL SELECT 8, CASE count(*) WHEN 1 THEN '1 large object' ELSE count(*) || ' large objects' END
  FROM pg_catalog.pg_largeobject_metadata HAVING count(*) > 0
UNION ALL SELECT 9, 'operator ' || quote_ident(n.nspname) || '.' || o.oprname
    || '(' || {_operator_side("o.oprleft")} || ', ' || {_operator_side("o.oprright")} || ')'
  {_in_user_schema("pg_operator", "o", "oprnamespace")}
UNION ALL SELECT 10, 'operator class ' || {_qualified("c.opcname")} || ' USING ' || am.amname
  {_in_user_schema("pg_opclass", "c", "opcnamespace", " JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod")}
UNION ALL SELECT 11, 'operator family ' || {_qualified("f.opfname")} || ' USING ' || am.amname
  {_in_user_schema("pg_opfamily", "f", "opfnamespace", " JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod")}
  -- CREATE OPERATOR CLASS makes a family of its own name: the class already says it.
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_opclass oc WHERE oc.opcfamily = f.oid
                  AND oc.opcname = f.opfname AND oc.opcnamespace = f.opfnamespace)
UNION ALL SELECT 12, 'cast (' || pg_catalog.format_type(c.castsource, NULL) || ' AS '
    || pg_catalog.format_type(c.casttarget, NULL) || ')'
  {_user_made("pg_cast", "c")}
UNION ALL SELECT 13, 'transform for ' || pg_catalog.format_type(t.trftype, NULL) || ' language ' || l.lanname
  {_user_made("pg_transform", "t", " JOIN pg_catalog.pg_language l ON l.oid = t.trflang")}
UNION ALL SELECT 14, 'text search configuration ' || {_qualified("c.cfgname")}
  {_in_user_schema("pg_ts_config", "c", "cfgnamespace")}
UNION ALL SELECT 15, 'text search dictionary ' || {_qualified("d.dictname")}
  {_in_user_schema("pg_ts_dict", "d", "dictnamespace")}
UNION ALL SELECT 16, 'text search parser ' || {_qualified("p.prsname")}
  {_in_user_schema("pg_ts_parser", "p", "prsnamespace")}
UNION ALL SELECT 17, 'text search template ' || {_qualified("t.tmplname")}
  {_in_user_schema("pg_ts_template", "t", "tmplnamespace")}
UNION ALL SELECT 18, 'conversion ' || {_qualified("c.conname")}
  {_in_user_schema("pg_conversion", "c", "connamespace")}
UNION ALL SELECT 19, 'type ' || pg_catalog.format_type(t.oid, NULL)
  {_in_user_schema("pg_type", "t", "typnamespace")}
  AND (t.typtype = 'p' OR (t.typtype = 'b'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)))
UNION ALL SELECT 20, 'procedural language ' || quote_ident(l.lanname) {_user_made("pg_language", "l")}
UNION ALL SELECT 21, 'access method ' || quote_ident(a.amname) {_user_made("pg_am", "a")}
ORDER BY 1, 2
"""


def read_not_dumped(connection: pg8000.native.Connection) -> list[str]:
    """What the database holds that this dump does not carry, one line each, for the operator to see."""
    return [label for _order, label in rows(connection, NOT_DUMPED)]
