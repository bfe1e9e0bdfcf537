"""Round trips of what lies beyond issue 3's fidelity list, and of ownership and grants.

- The rich schema with EXTRA_SCHEMA and MORE_SCHEMA (old-style inheritance,
  including columns added to parents after their children had their own,
  which pg_dump itself restores in another order; column storage/statistics/
  compression/options, replica identity, row-level security and policies,
  rules, extended statistics, aggregates of every kind) restores through
  psql and through our restore, judged by `assert_same_database`
  (pg_dump --schema-only, data checksums, sequences).
- Ownership and grants (`read_schema(privileges=True)`) between two roles of
  our own, judged by `pg_dump --schema-only` *with* owners and privileges;
  and without the flag, the dump says nothing about either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pg8000.native
import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.postgres.dump import DumpOptions, begin_snapshot, dump_database
from smokejumper.sources.postgres.restore import restore_database
from smokejumper.sources.postgres.schema import read_schema
from smokejumper.store import Store, open_store

from tests.support.pg_oracle import (
    assert_same_database,
    normalize_schema_dump,
    pg_dump,
    psql_restore,
    schema_diff,
)
from tests.support.pg_schemas import load_rich
from tests.support.services import HOST, PG_PORT, PostgresDatabase, fresh_postgres_database, unique_name

# Beyond EXTRA_SCHEMA: more shapes of the same features. Load after load_rich(db, extra=True).
MORE_SCHEMA = r"""
CREATE SCHEMA more;

-- Inheritance: two parents, a grandchild, a merged local column whose
-- default was dropped (DEFAULT NULL), inherited columns whose default and
-- NOT NULL changed on the child, storage and compression inherited then
-- changed back, a NOT VALID check on the parent that the children inherit.
CREATE TABLE more.base (id integer, label text DEFAULT 'none', note text, CONSTRAINT base_id_positive CHECK (id > 0));
ALTER TABLE more.base ALTER COLUMN note SET STORAGE EXTERNAL;
ALTER TABLE more.base ALTER COLUMN note SET COMPRESSION pglz;
ALTER TABLE more.base ALTER COLUMN id SET (n_distinct = -0.5);
CREATE TABLE more.tagged (tags text[] DEFAULT '{}');
CREATE TABLE more.both (label text, extra integer NOT NULL DEFAULT 7) INHERITS (more.base, more.tagged);
ALTER TABLE ONLY more.both ALTER COLUMN label DROP DEFAULT;
ALTER TABLE ONLY more.both ALTER COLUMN note SET STORAGE EXTENDED;
ALTER TABLE ONLY more.both ALTER COLUMN note SET COMPRESSION default;
ALTER TABLE ONLY more.both ALTER COLUMN tags SET DEFAULT '{x}';
ALTER TABLE ONLY more.both ALTER COLUMN id SET NOT NULL;
ALTER TABLE ONLY more.both ALTER COLUMN extra SET STATISTICS 0;
CREATE TABLE more.grandchild () INHERITS (more.both);
ALTER TABLE ONLY more.grandchild ALTER COLUMN label SET DEFAULT 'grand';
INSERT INTO more.base VALUES (1, 'b', 'n');
INSERT INTO more.both (id, label, note, tags, extra) VALUES (2, NULL, 'x', '{a}', 3);
INSERT INTO more.grandchild (id, label, note) VALUES (3, DEFAULT, '');
ALTER TABLE more.base ADD CONSTRAINT base_note_nonempty CHECK (note <> '') NOT VALID;

-- Columns added to parents after their children got columns of their own:
-- CREATE TABLE ... INHERITS alone would put them elsewhere in the children
-- (pg_dump does). Three levels, two parents, a merged CHECK, a dropped
-- column, a column the child had before its parent added it too (merged).
CREATE SCHEMA late;
CREATE TABLE late.root (id integer NOT NULL, CONSTRAINT root_id CHECK (id > 0));
CREATE TABLE late.side (tag text DEFAULT 'side');
CREATE TABLE late.mid (name text, dropped integer, CONSTRAINT root_id CHECK (id > 0)) INHERITS (late.root, late.side);
ALTER TABLE late.mid DROP COLUMN dropped;
CREATE TABLE late.leaf (leafy boolean DEFAULT true) INHERITS (late.mid);
ALTER TABLE late.root ADD COLUMN added_to_root numeric DEFAULT 1;
ALTER TABLE late.leaf ADD COLUMN own_late text;
ALTER TABLE late.leaf ADD COLUMN shared_name text;
ALTER TABLE late.mid ADD COLUMN shared_name text;
ALTER TABLE late.mid ADD COLUMN added_to_mid date;
ALTER TABLE late.side ADD COLUMN side_late integer NOT NULL DEFAULT 0;
ALTER TABLE ONLY late.leaf ALTER COLUMN added_to_root SET DEFAULT 2;
ALTER TABLE late.root ADD CONSTRAINT root_late CHECK (added_to_root < 100);
INSERT INTO late.root VALUES (1, 5);
INSERT INTO late.mid (id, tag, name) VALUES (2, 'm', 'mid');
INSERT INTO late.leaf (id, name, own_late, shared_name, added_to_mid) VALUES (3, 'leaf', 'own', 'shared', '2024-01-02');

-- Replica identity by index and NOTHING; a matview column's statistics target.
CREATE TABLE more.replicated (id integer NOT NULL, code text NOT NULL, CONSTRAINT replicated_code UNIQUE (code));
CREATE UNIQUE INDEX replicated_id ON more.replicated (id);
ALTER TABLE more.replicated REPLICA IDENTITY USING INDEX replicated_id;
CREATE TABLE more.silent (v integer);
ALTER TABLE more.silent REPLICA IDENTITY NOTHING;
INSERT INTO more.replicated VALUES (1, 'a'), (2, 'b');
CREATE MATERIALIZED VIEW more.codes AS SELECT id, code FROM more.replicated;
ALTER MATERIALIZED VIEW more.codes ALTER COLUMN code SET STATISTICS 300;
ALTER MATERIALIZED VIEW more.codes ALTER COLUMN code SET STORAGE MAIN;

-- Row-level security, forced, with policies of every shape (roles that every cluster has).
ALTER TABLE more.replicated ENABLE ROW LEVEL SECURITY;
ALTER TABLE more.replicated FORCE ROW LEVEL SECURITY;
CREATE POLICY everyone ON more.replicated USING (true);
CREATE POLICY no_z ON more.replicated AS RESTRICTIVE FOR INSERT TO pg_monitor, pg_read_all_data
    WITH CHECK (code <> 'z');
CREATE POLICY own_update ON more.replicated FOR UPDATE TO CURRENT_USER USING (id > 0) WITH CHECK (id < 100);
CREATE POLICY may_delete ON more.replicated FOR DELETE TO PUBLIC USING (code ~ '^[a-m]');
ALTER TABLE more.silent FORCE ROW LEVEL SECURITY;
COMMENT ON POLICY everyone ON more.replicated IS 'all rows, all commands';

-- Rules: INSTEAD on a view, a conditional one, a disabled one.
CREATE VIEW more.replicated_view AS SELECT id, code FROM more.replicated;
CREATE RULE view_insert AS ON INSERT TO more.replicated_view DO INSTEAD
    INSERT INTO more.replicated VALUES (NEW.id, NEW.code);
CREATE RULE ignore_negative AS ON INSERT TO more.silent WHERE NEW.v < 0 DO INSTEAD NOTHING;
CREATE RULE log_update AS ON UPDATE TO more.silent DO ALSO NOTIFY silent_changed;
ALTER TABLE more.silent DISABLE RULE log_update;
COMMENT ON RULE ignore_negative ON more.silent IS 'negative values vanish';

-- Extended statistics: expressions, all kinds, a target.
CREATE STATISTICS more.replicated_stats (mcv, ndistinct) ON id, lower(code) FROM more.replicated;
ALTER STATISTICS more.replicated_stats SET STATISTICS 200;
CREATE STATISTICS more.expr_stats ON (id * 2) FROM more.replicated;
COMMENT ON STATISTICS more.expr_stats IS 'one expression';

-- Aggregates: moving, combining, serializing, sort operator, ordered-set,
-- hypothetical, zero-argument, explicit FINALFUNC_MODIFY, parallel safe, and
-- one over a table's row type whose transition function is a late function.
CREATE AGGREGATE more.avg_moving(numeric) (
    sfunc = numeric_avg_accum, stype = internal, finalfunc = numeric_avg,
    combinefunc = numeric_avg_combine, serialfunc = numeric_avg_serialize, deserialfunc = numeric_avg_deserialize,
    msfunc = numeric_avg_accum, minvfunc = numeric_accum_inv, mstype = internal, mfinalfunc = numeric_avg,
    parallel = safe);
CREATE AGGREGATE more.avg_int(integer) (
    sfunc = int4_avg_accum, stype = bigint[], initcond = '{0,0}', finalfunc = int8_avg,
    msfunc = int4_avg_accum, minvfunc = int4_avg_accum_inv, mstype = bigint[], minitcond = '{0,0}',
    mfinalfunc = int8_avg, finalfunc_modify = read_write, sspace = 16, msspace = 16, parallel = restricted);
CREATE AGGREGATE more.biggest(integer) (sfunc = int4larger, stype = integer, combinefunc = int4larger, sortop = >);
CREATE AGGREGATE more.median(float8 ORDER BY float8) (
    sfunc = ordered_set_transition, stype = internal, finalfunc = percentile_cont_float8_final,
    finalfunc_modify = shareable);
CREATE AGGREGATE more.my_rank(VARIADIC "any" ORDER BY VARIADIC "any") (
    sfunc = ordered_set_transition_multi, stype = internal, finalfunc = rank_final, finalfunc_extra, hypothetical);
CREATE AGGREGATE more.how_many(*) (sfunc = int8inc, stype = int8, initcond = '0', combinefunc = int8pl);
CREATE FUNCTION more.keep_first(more.replicated, more.replicated) RETURNS more.replicated
    LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)';
CREATE AGGREGATE more.first_row(more.replicated) (sfunc = more.keep_first, stype = more.replicated);
COMMENT ON AGGREGATE more.median(float8 ORDER BY float8) IS 'an ordered-set aggregate';
COMMENT ON AGGREGATE more.how_many(*) IS 'counts rows';
COMMENT ON COLLATION extra.ci IS 'case-insensitive';
CREATE VIEW more.aggregated AS
    SELECT more.how_many(*) AS n, more.biggest(id) AS top, more.median(0.5) WITHIN GROUP (ORDER BY id::float8) AS mid,
           (more.first_row(r ORDER BY id)).code AS first_code
    FROM more.replicated r;
"""

# Objects owned by and granted to two roles ({a}, {b}). Load after load_rich(db, extra=True).
PRIVILEGES_SCHEMA = r"""
CREATE SCHEMA shared AUTHORIZATION {a};
GRANT USAGE ON SCHEMA shared TO {b};
GRANT CREATE ON SCHEMA shared TO {b} WITH GRANT OPTION;
ALTER SCHEMA public OWNER TO {a};
GRANT CREATE ON SCHEMA public TO {b};
ALTER SCHEMA extra OWNER TO {b};
REVOKE ALL ON SCHEMA extra FROM {b};
GRANT USAGE ON SCHEMA extra TO {b};

CREATE COLLATION shared.c_order (provider = libc, locale = 'C');
ALTER COLLATION shared.c_order OWNER TO {b};
CREATE TYPE shared.state AS ENUM ('on', 'off');
ALTER TYPE shared.state OWNER TO {b};
REVOKE USAGE ON TYPE shared.state FROM PUBLIC;
GRANT USAGE ON TYPE shared.state TO {a};
CREATE DOMAIN shared.positive AS integer CHECK (VALUE > 0);
ALTER DOMAIN shared.positive OWNER TO {a};
GRANT USAGE ON DOMAIN shared.positive TO {b} WITH GRANT OPTION;
CREATE TYPE shared.span AS RANGE (subtype = integer);
ALTER TYPE shared.span OWNER TO {b};
CREATE TYPE shared.pair AS (x integer, y integer);
ALTER TYPE shared.pair OWNER TO {a};

CREATE TABLE shared.accounts (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner_name text, balance shared.positive, secret text);
ALTER TABLE shared.accounts OWNER TO {a};
GRANT SELECT, INSERT ON shared.accounts TO {b} WITH GRANT OPTION;
GRANT UPDATE (owner_name, balance), REFERENCES (id) ON shared.accounts TO {b};
GRANT SELECT (id) ON shared.accounts TO PUBLIC;
REVOKE TRUNCATE ON shared.accounts FROM {a};
GRANT SELECT ON SEQUENCE shared.accounts_id_seq TO {b};
SET ROLE {b};
GRANT SELECT ON shared.accounts TO PUBLIC;
RESET ROLE;
INSERT INTO shared.accounts (owner_name, balance, secret) VALUES ('ann', 150, 's1'), ('bob', 5, 's2');
ALTER TABLE shared.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON shared.accounts AS RESTRICTIVE FOR UPDATE TO {a}, {b}
    USING (owner_name = CURRENT_USER) WITH CHECK (balance > 0);
CREATE POLICY readers ON shared.accounts FOR SELECT TO {b} USING (true);

CREATE SEQUENCE shared.tickets;
ALTER SEQUENCE shared.tickets OWNER TO {b};
GRANT USAGE ON SEQUENCE shared.tickets TO {a};
CREATE TABLE shared.events (id serial, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE shared.events_2024 PARTITION OF shared.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE shared.events OWNER TO {b};
ALTER TABLE shared.events_2024 OWNER TO {a};
GRANT INSERT ON shared.events TO {a};

CREATE FUNCTION shared.add_one(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
ALTER FUNCTION shared.add_one(integer) OWNER TO {b};
REVOKE EXECUTE ON FUNCTION shared.add_one(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shared.add_one(integer) TO {a} WITH GRANT OPTION;
SET ROLE {a};
GRANT EXECUTE ON FUNCTION shared.add_one(integer) TO PUBLIC;
RESET ROLE;
CREATE PROCEDURE shared.noop() LANGUAGE sql AS 'SELECT 1';
ALTER PROCEDURE shared.noop() OWNER TO {a};
REVOKE ALL ON PROCEDURE shared.noop() FROM PUBLIC;
CREATE AGGREGATE shared.total(integer) (sfunc = int4pl, stype = integer);
ALTER AGGREGATE shared.total(integer) OWNER TO {b};
REVOKE EXECUTE ON FUNCTION shared.total(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shared.total(integer) TO {a};
ALTER AGGREGATE extra.concat_all(text) OWNER TO {a};

CREATE VIEW shared.rich AS SELECT id, owner_name FROM shared.accounts WHERE balance > 100;
ALTER VIEW shared.rich OWNER TO {a};
GRANT SELECT ON shared.rich TO {b};
GRANT SELECT (id) ON shared.rich TO PUBLIC;
CREATE MATERIALIZED VIEW shared.totals AS SELECT count(*) AS n FROM shared.accounts;
ALTER MATERIALIZED VIEW shared.totals OWNER TO {a};
GRANT SELECT ON shared.totals TO PUBLIC;
CREATE STATISTICS shared.account_stats ON id, balance FROM shared.accounts;
ALTER STATISTICS shared.account_stats OWNER TO {b};
ALTER TABLE extra.legacy OWNER TO {a};
ALTER TABLE extra.vehicles OWNER TO {b};
GRANT ALL ON extra.vehicles TO {a};

-- A grant on an extension's member, kept relative to pg_init_privs.
REVOKE EXECUTE ON FUNCTION public.gen_salt(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.gen_salt(text) TO {b};

ALTER DEFAULT PRIVILEGES FOR ROLE {a} IN SCHEMA shared GRANT SELECT ON TABLES TO {b};
ALTER DEFAULT PRIVILEGES FOR ROLE {b} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE {a} GRANT USAGE ON TYPES TO {b};
ALTER DEFAULT PRIVILEGES FOR ROLE {b} IN SCHEMA shared GRANT USAGE ON SEQUENCES TO {a};
ALTER DEFAULT PRIVILEGES FOR ROLE {a} GRANT CREATE ON SCHEMAS TO {b};
"""

OWNERSHIP_OR_GRANT = re.compile(
    r"\bOWNER TO\b|^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES|(RE)?SET SESSION AUTHORIZATION)\b"
)


def dump_to(database: PostgresDatabase, store: Store, *, privileges: bool = False):
    connection = database.connect()
    try:
        writer = ArtifactWriter(store, "db", engine="postgres", name="db")
        return dump_database(connection, writer, options=DumpOptions(privileges=privileges))
    finally:
        connection.close()


def restore_with_ours(store: Store, database: PostgresDatabase) -> None:
    connection = database.connect()
    try:
        restore_database(store, connection, artifact_dir="db")
    finally:
        connection.close()


def schema_with_privileges(database: PostgresDatabase) -> str:
    """pg_dump --schema-only, owners and grants included."""
    return normalize_schema_dump(pg_dump(database, "--schema-only").decode("utf-8"))


def test_extra_schema_round_trips_through_psql_and_our_restore(pg_database, tmp_path):
    load_rich(pg_database, extra=True)
    psql_restore(MORE_SCHEMA, pg_database)
    store = open_store(str(tmp_path))
    record = dump_to(pg_database, store)
    objects = record.source["objects"]
    for kind, at_least in (("aggregates", 8), ("rules", 4), ("statistics", 4), ("row security", 7)):
        assert objects.get(kind, 0) >= at_least, (kind, objects)
    with fresh_postgres_database() as by_psql:
        psql_restore(tmp_path / "db" / "dump.sql.zst", by_psql)
        assert_same_database(pg_database, by_psql)
    with fresh_postgres_database() as by_us:
        restore_with_ours(store, by_us)
        assert_same_database(pg_database, by_us)


@pytest.fixture
def two_roles() -> Iterator[tuple[str, str]]:
    """Two fresh roles (cluster-wide: unique names, dropped after the test's databases)."""
    names = (unique_name("sj_role"), unique_name("sj_role"))
    admin = pg8000.native.Connection("postgres", host=HOST, port=PG_PORT, database="postgres", timeout=10)
    try:
        for name in names:
            admin.run(f"CREATE ROLE {name} NOLOGIN")
        yield names
    finally:
        for name in names:
            admin.run(f"DROP ROLE IF EXISTS {name}")
        admin.close()


def test_owners_and_grants_round_trip_with_privileges(two_roles, tmp_path):
    a, b = two_roles
    # The databases go first, then the roles (the fixture's teardown).
    with fresh_postgres_database() as source:
        load_rich(source, extra=True)
        psql_restore(PRIVILEGES_SCHEMA.format(a=a, b=b), source)
        store = open_store(str(tmp_path))
        dump_to(source, store, privileges=True)
        expected = schema_with_privileges(source)
        assert f"OWNER TO {a};" in expected
        assert f"SET SESSION AUTHORIZATION {b};" in expected
        with fresh_postgres_database() as by_psql:
            psql_restore(tmp_path / "db" / "dump.sql.zst", by_psql)
            assert schema_diff(expected, schema_with_privileges(by_psql)) == ""
        with fresh_postgres_database() as by_us:
            restore_with_ours(store, by_us)
            assert schema_diff(expected, schema_with_privileges(by_us)) == ""


def test_without_privileges_the_dump_names_no_owner_and_no_grant(two_roles):
    a, b = two_roles
    with fresh_postgres_database() as source:
        load_rich(source, extra=True)
        psql_restore(PRIVILEGES_SCHEMA.format(a=a, b=b), source)
        connection = source.connect()
        try:
            begin_snapshot(connection, DumpOptions())
            plain = read_schema(connection)
            with_privileges = read_schema(connection, privileges=True)
            connection.run("ROLLBACK")
        finally:
            connection.close()
    statements = [line for statement in plain.pre_data + plain.post_data for line in statement.splitlines()]
    assert [line for line in statements if OWNERSHIP_OR_GRANT.search(line)] == []
    assert (plain.owners, plain.privileges, plain.after_privileges) == ([], [], [])
    assert with_privileges.pre_data == plain.pre_data
    # The same post-data but for the refreshes, which move after the owners and grants (own frames).
    refreshes = with_privileges.after_privileges
    assert refreshes
    assert all(statement.startswith("REFRESH MATERIALIZED VIEW ") for statement in refreshes)
    assert with_privileges.post_data == [statement for statement in plain.post_data if statement not in refreshes]
    added = with_privileges.owners + with_privileges.privileges
    assert added
    assert all(OWNERSHIP_OR_GRANT.search(statement) for statement in added)
