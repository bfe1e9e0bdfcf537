"""The PostgreSQL oracles and fixtures themselves: they must have teeth and no false alarms.

The reference (pg_dump | psql) passes its own oracle on every fixture; each
kind of difference the oracle claims to see is shown to be seen.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support import pg_schemas
from tests.support.pg_oracle import (
    NOT_POPULATED,
    assert_same_database,
    normalize_schema_dump,
    object_acls,
    object_owners,
    pg_dump,
    pg_dump_round_trip,
    pg_restore_round_trip,
    psql_restore,
    reset_database,
    schema_diff,
    schema_dump,
    sequence_states,
    table_checksums,
    table_rows,
)
from tests.support.services import PostgresDatabase, fresh_postgres_database

pytestmark = pytest.mark.integration


class Databases(NamedTuple):
    source: PostgresDatabase
    restored: PostgresDatabase
    new_schema_dump: str  # what schema_dump says of a brand-new database


@pytest.fixture(scope="module")
def databases():
    """Two databases for the whole module: creating one costs more than most tests here."""
    with ExitStack() as stack:
        source = stack.enter_context(fresh_postgres_database())
        restored = stack.enter_context(fresh_postgres_database())
        yield Databases(source, restored, schema_dump(source))


@pytest.fixture
def pg_pair(databases):
    """(source, restored), both emptied by reset_database."""
    for db in databases[:2]:
        reset_database(db)
    return databases.source, databases.restored


@pytest.fixture
def scratch(pg_pair):
    """One empty database."""
    return pg_pair[0]


# --- schema_dump ----------------------------------------------------------------

SMALL_SCHEMA = """
CREATE SEQUENCE app_seq INCREMENT BY 1 START WITH 5;
CREATE TABLE items (
    id integer PRIMARY KEY DEFAULT nextval('app_seq'),
    name text NOT NULL DEFAULT 'unnamed',
    qty integer CONSTRAINT qty_positive CHECK (qty > 0)
);
CREATE INDEX items_name_idx ON items (name);
COMMENT ON TABLE items IS 'things';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TYPE colour AS ENUM ('red', 'green');
CREATE VIEW named_items AS SELECT id, name FROM items;
"""

MUTATIONS = {
    "missing index": ("DROP INDEX items_name_idx", "CREATE INDEX items_name_idx"),
    "different column default": ("ALTER TABLE items ALTER COLUMN name SET DEFAULT 'nameless'", "'nameless'"),
    "missing check": ("ALTER TABLE items DROP CONSTRAINT qty_positive", "qty_positive"),
    "different sequence option": ("ALTER SEQUENCE app_seq INCREMENT BY 2", "INCREMENT BY"),
    "missing comment": ("COMMENT ON TABLE items IS NULL", "COMMENT ON TABLE public.items"),
    "missing trigger": ("DROP TRIGGER items_touch ON items", "CREATE TRIGGER items_touch"),
    "dropped not null": ("ALTER TABLE items ALTER COLUMN name DROP NOT NULL", "NOT NULL"),
    "different collation": (
        'DROP VIEW named_items; ALTER TABLE items ALTER COLUMN name TYPE text COLLATE "POSIX";'
        " CREATE VIEW named_items AS SELECT id, name FROM items",
        "POSIX",
    ),
    "enum label order": (
        "DROP VIEW named_items; DROP TYPE colour; CREATE TYPE colour AS ENUM ('green', 'red');"
        " CREATE VIEW named_items AS SELECT id, name FROM items",
        "'red'",
    ),
    "constraint not valid": (
        "ALTER TABLE items DROP CONSTRAINT qty_positive;"
        " ALTER TABLE items ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID",
        "NOT VALID",
    ),
}


@pytest.fixture(scope="module")
def small_schema_dump(databases):
    reset_database(databases.source)
    psql_restore(SMALL_SCHEMA, databases.source)
    return schema_dump(databases.source)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_schema_dump_sees_the_difference(databases, small_schema_dump, mutation):
    statement, evidence = MUTATIONS[mutation]
    reset_database(databases.restored)
    psql_restore(SMALL_SCHEMA + statement + ";", databases.restored)

    diff = schema_diff(small_schema_dump, schema_dump(databases.restored))

    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert any(evidence in line for line in changed), diff


def test_schema_dump_sees_owners_and_grants_only_when_asked(pg_pair):
    source, restored = pg_pair
    psql_restore(SMALL_SCHEMA, source)
    # pg_monitor: a role every cluster has, so the test needs none of its own.
    psql_restore(SMALL_SCHEMA + "ALTER TABLE items OWNER TO pg_monitor; GRANT SELECT ON items TO PUBLIC;", restored)

    assert schema_dump(source) == schema_dump(restored)
    assert_same_database(source, restored)
    owners = schema_diff(schema_dump(source, owners=True), schema_dump(restored, owners=True))
    assert "+ALTER TABLE public.items OWNER TO pg_monitor;" in owners.splitlines()
    assert "GRANT" not in owners
    grants = schema_diff(schema_dump(source, privileges=True), schema_dump(restored, privileges=True))
    assert "+GRANT SELECT ON TABLE public.items TO PUBLIC;" in grants.splitlines()
    assert "OWNER TO" not in grants
    with pytest.raises(AssertionError, match="OWNER TO pg_monitor"):
        assert_same_database(source, restored, owners=True, privileges=True)


def test_object_owners_and_acls_read_the_catalog(scratch):
    psql_restore(
        SMALL_SCHEMA + "ALTER TABLE items OWNER TO pg_monitor; GRANT SELECT (name) ON items TO PUBLIC;"
        " REVOKE EXECUTE ON FUNCTION touch() FROM PUBLIC;"
        " ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO pg_monitor;",
        scratch,
    )
    owners = object_owners(scratch)
    assert owners["relation r public.items"] == "pg_monitor"
    assert owners["relation S public.app_seq"] == scratch.user
    assert owners["function public.touch()"] == scratch.user
    assert owners["type public.colour"] == scratch.user
    assert owners["schema public"] == "pg_database_owner"
    acls = object_acls(scratch)
    assert acls["column public.items.name"] == "{=r/pg_monitor}"
    assert acls["function public.touch()"] == f"{{{scratch.user}=X/{scratch.user}}}"
    user = scratch.user
    assert acls["default privileges 0"] == f"{{{user}=arwdDxt/{user},pg_monitor=r/{user}}}"
    assert "relation r public.items" not in acls  # its own ACL is the default (NULL)


def test_pg_restore_reference_round_trips_the_rich_schema(pg_pair):
    source, restored = pg_pair
    pg_schemas.load_rich(source)
    pg_restore_round_trip(source, restored)
    assert_same_database(source, restored, owners=True, privileges=True)


def test_assert_same_database_shows_the_schema_diff(pg_pair):
    source, restored = pg_pair
    psql_restore(SMALL_SCHEMA, source)
    psql_restore(SMALL_SCHEMA + MUTATIONS["missing index"][0] + ";", restored)

    with pytest.raises(AssertionError, match="schema differs") as failure:
        assert_same_database(source, restored)

    assert "\n-CREATE INDEX items_name_idx ON public.items USING btree (name);" in str(failure.value)


def test_schema_dump_is_deterministic_and_names_no_database(pg_pair):
    source, restored = pg_pair
    psql_restore(SMALL_SCHEMA, source)
    psql_restore(SMALL_SCHEMA, restored)
    raw = pg_dump(source, "--schema-only").decode()

    first, second = schema_dump(source), schema_dump(source)

    assert first == second == schema_dump(restored)
    assert "\\restrict" in raw or "Dumped by pg_dump version" in raw  # what normalisation is for
    assert "\\restrict" not in first
    assert "Dumped" not in first
    assert source.dbname not in raw
    assert "CREATE TRIGGER items_touch" in first
    assert "COMMENT ON TABLE public.items IS 'things';" in first


def test_normalisation_removes_only_what_describes_the_run():
    body = "CREATE FUNCTION f() RETURNS int\n    LANGUAGE sql\n    AS $$\n\n\n\nSELECT 1 -- Dumped by nobody\n$$;\n"
    newer = (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\n"
        "-- Dumped from database version 15.20\n-- Dumped by pg_dump version 15.20\n\n"
        f"SET x = 1;\n\n{body}\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict AbC123\n\n"
    )
    older = (
        "--\n-- PostgreSQL database dump\n--\n\n"
        "-- Dumped from database version 15.13\n-- Dumped by pg_dump version 15.13\n\n"
        f"SET x = 1;\n\n{body}\n--\n-- PostgreSQL database dump complete\n--\n\n"
    )

    assert normalize_schema_dump(newer) == normalize_schema_dump(older)
    assert body in normalize_schema_dump(newer)  # blank lines and comments inside a body survive


CREATED_FORWARDS = """
CREATE TABLE a (id int PRIMARY KEY, v int, CONSTRAINT positive CHECK (v > 0));
CREATE TABLE b (id int PRIMARY KEY, v int, CONSTRAINT positive CHECK (v > 0));
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();
CREATE TRIGGER t BEFORE INSERT ON b FOR EACH ROW EXECUTE FUNCTION f();
ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (v) REFERENCES b (id);
ALTER TABLE b ADD CONSTRAINT fk FOREIGN KEY (v) REFERENCES a (id);
CREATE FUNCTION g(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION g(text) RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE TABLE p (id int, k text) PARTITION BY LIST (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES IN ('x');
CREATE TABLE p2 PARTITION OF p FOR VALUES IN ('y');
CREATE POLICY pol ON a USING (true);
CREATE POLICY pol ON b USING (true);
CREATE RULE r AS ON DELETE TO a DO ALSO NOTHING;
CREATE RULE r AS ON DELETE TO b DO ALSO NOTHING;
"""

CREATED_BACKWARDS = """
CREATE FUNCTION g(text) RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE FUNCTION g(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE p (id int, k text) PARTITION BY LIST (k);
CREATE TABLE p2 PARTITION OF p FOR VALUES IN ('y');
CREATE TABLE p1 PARTITION OF p FOR VALUES IN ('x');
CREATE TABLE b (id int PRIMARY KEY, v int, CONSTRAINT positive CHECK (v > 0));
CREATE TABLE a (id int PRIMARY KEY, v int, CONSTRAINT positive CHECK (v > 0));
CREATE RULE r AS ON DELETE TO b DO ALSO NOTHING;
CREATE RULE r AS ON DELETE TO a DO ALSO NOTHING;
CREATE POLICY pol ON b USING (true);
CREATE POLICY pol ON a USING (true);
ALTER TABLE b ADD CONSTRAINT fk FOREIGN KEY (v) REFERENCES a (id);
ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (v) REFERENCES b (id);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER t BEFORE INSERT ON b FOR EACH ROW EXECUTE FUNCTION f();
CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();
"""


def test_schema_dump_ignores_creation_order(pg_pair):
    """Same objects created in another order (other OIDs) dump identically: no false alarms.

    Same-named constraints, triggers, policies and rules on two tables, and
    overloaded functions, are where an OID tie-break would show.
    """
    source, restored = pg_pair
    psql_restore(CREATED_FORWARDS, source)
    psql_restore(CREATED_BACKWARDS, restored)

    assert schema_diff(schema_dump(source), schema_dump(restored)) == ""


# --- table_checksums --------------------------------------------------------------

# Pairs of values of one type that a faithful restore must never confuse.
DISTINCT_PAIRS = [
    ("text", "NULL", "''"),
    ("text", "NULL", "'NULL'"),
    ("text", r"'\N'", "NULL"),
    ("text", r"'\N'", "'N'"),
    ("text", "E'a\\tb'", "'a\\tb'"),
    ("text", "E'line\\r\\n'", "E'line\\n'"),
    ("text", "'e' || U&'\\0301'", "U&'\\00e9'"),
    ("double precision", "'-0'", "'0'"),
    ("double precision", "'NaN'", "NULL"),
    ("double precision", "0.1", "0.10000000000000002"),
    ("double precision", "'Infinity'", "1.7976931348623157e308"),
    ("real", "'-0'", "'0'"),
    ("numeric", "'NaN'", "NULL"),
    ("numeric", "1.0", "1.00"),
    ("timestamptz", "'infinity'", "NULL"),
    ("timestamp", "'infinity'", "'-infinity'"),
    ("bytea", "'\\x00'", "'\\x'"),
    ("bytea", "'\\x'", "NULL"),
    ("integer[]", "'{}'", "NULL"),
    ("integer[]", "'{}'", "'{NULL}'"),
    ("integer[]", "'[0:1]={1,2}'", "'{1,2}'"),
    ("text[]", "ARRAY['']", "ARRAY[NULL::text]"),
    ("jsonb", "'{}'", "'null'"),
    ("jsonb", "'null'", "NULL"),
    ("jsonb", "'\"1\"'", "'1'"),
    ("int4range", "'empty'", "NULL"),
    ("point", "'(0,-0)'", "'(0,0)'"),
]


def test_row_text_tells_apart_what_copy_must_keep_apart(scratch):
    creates = []
    for n, (sql_type, left, right) in enumerate(DISTINCT_PAIRS):
        creates.append(f"CREATE TABLE l{n} (v {sql_type}); INSERT INTO l{n} VALUES ({left}), (NULL);")
        creates.append(f"CREATE TABLE r{n} (v {sql_type}); INSERT INTO r{n} VALUES ({right}), (NULL);")
    psql_restore("\n".join(creates), scratch)

    sums = table_checksums(scratch)

    confused = [DISTINCT_PAIRS[n] for n in range(len(DISTINCT_PAIRS)) if sums[f"public.l{n}"] == sums[f"public.r{n}"]]
    assert confused == []
    # The row text forms behind it: NULL is an empty field, '' is "".
    assert table_rows(scratch, "public.l0") == ["()", "()"]
    assert table_rows(scratch, "public.r0") == ['("")', "()"]


def test_checksums_ignore_row_order_but_count_duplicates(scratch):
    psql_restore(
        """
        CREATE TABLE forwards (id int, t text);
        INSERT INTO forwards SELECT i, 'row ' || i FROM generate_series(1, 500) AS i;
        CREATE TABLE backwards (id int, t text);
        INSERT INTO backwards SELECT i, 'row ' || i FROM generate_series(500, 1, -1) AS i;
        UPDATE backwards SET t = t WHERE id % 3 = 0;  -- moves tuples physically
        CREATE TABLE dup_a (v int); INSERT INTO dup_a VALUES (1), (1), (2);
        CREATE TABLE dup_b (v int); INSERT INTO dup_b VALUES (1), (2), (2);
        CREATE TABLE "Odd ""Name"" ✓" ("r" int); INSERT INTO "Odd ""Name"" ✓" VALUES (1);
        CREATE TABLE has_r_column (r int); INSERT INTO has_r_column VALUES (7);
        """,
        scratch,
    )

    sums = table_checksums(scratch)

    assert sums["public.forwards"] == sums["public.backwards"]
    assert sums["public.dup_a"][0] == sums["public.dup_b"][0] == 3
    assert sums["public.dup_a"] != sums["public.dup_b"]
    assert sums['public."Odd ""Name"" ✓"'][0] == 1
    assert table_rows(scratch, "public.has_r_column") == ["(7)"]  # a column named like the alias


def test_checksums_cover_partitions_inheritance_and_materialized_views(scratch):
    psql_restore(
        """
        CREATE TABLE p (id int, k text) PARTITION BY LIST (k);
        CREATE TABLE p_x PARTITION OF p FOR VALUES IN ('x');
        CREATE TABLE p_rest PARTITION OF p DEFAULT PARTITION BY RANGE (id);
        CREATE TABLE p_rest_low PARTITION OF p_rest FOR VALUES FROM (0) TO (10);
        CREATE TABLE p_rest_high PARTITION OF p_rest DEFAULT;
        INSERT INTO p SELECT i, CASE WHEN i % 2 = 0 THEN 'x' ELSE 'y' END FROM generate_series(1, 20) AS i;
        CREATE TABLE parent (id int);
        CREATE TABLE child () INHERITS (parent);
        INSERT INTO parent VALUES (1); INSERT INTO child VALUES (2), (3);
        CREATE MATERIALIZED VIEW full_mv AS SELECT count(*) AS n FROM p;
        CREATE MATERIALIZED VIEW empty_mv AS SELECT 1 AS one WITH NO DATA;
        CREATE VIEW just_a_view AS SELECT 1 AS one;
        """,
        scratch,
    )

    sums = table_checksums(scratch)

    counts = {name: count for name, (count, _digest) in sums.items()}
    assert counts == {
        "public.p": 20,
        "public.p_x": 10,
        "public.p_rest": 10,
        "public.p_rest_low": 5,
        "public.p_rest_high": 5,
        "public.parent": 1,  # FROM ONLY: the child's rows are the child's
        "public.child": 2,
        "public.full_mv": 1,
        "public.empty_mv": 0,
    }
    assert sums["public.empty_mv"][1] == NOT_POPULATED


def test_sequence_states_include_serial_identity_and_is_called(scratch):
    psql_restore(
        """
        CREATE TABLE s (id serial, a int GENERATED ALWAYS AS IDENTITY, b int GENERATED BY DEFAULT AS IDENTITY);
        INSERT INTO s DEFAULT VALUES; INSERT INTO s DEFAULT VALUES;
        CREATE SEQUENCE fresh;
        CREATE SEQUENCE reset START 5; SELECT setval('reset', 42, false);
        CREATE SEQUENCE "Odd ""Seq"" ✓" INCREMENT -1 START -1; SELECT nextval('"Odd ""Seq"" ✓"');
        ALTER TABLE s ALTER COLUMN b RESTART WITH 100;
        """,
        scratch,
    )

    assert sequence_states(scratch) == {
        "public.s_id_seq": (2, True),
        "public.s_a_seq": (2, True),
        "public.s_b_seq": (100, False),
        "public.fresh": (1, False),
        "public.reset": (42, False),
        'public."Odd ""Seq"" ✓"': (-1, True),
    }


def test_assert_same_database_says_which_rows_and_sequences_differ(pg_pair):
    source, restored = pg_pair
    schema = "CREATE TABLE t (id serial PRIMARY KEY, v text); CREATE TABLE u (id int);"
    psql_restore(schema + "INSERT INTO t (v) VALUES ('same'), (''), ('only in source');", source)
    psql_restore(schema + "INSERT INTO t (v) VALUES ('same'), (NULL); SELECT setval('t_id_seq', 2);", restored)
    psql_restore("CREATE TABLE only_here (id int);", restored)

    with pytest.raises(AssertionError) as failure:
        assert_same_database(source, restored)

    message = str(failure.value)
    assert "schema differs" in message
    assert "+CREATE TABLE public.only_here" in message
    assert "table public.t: source 3 rows" in message
    assert '- (2,"")' in message
    assert '- (3,"only in source")' in message
    assert "+ (2,)" in message
    assert "table public.only_here: only in restored database" in message
    assert "sequence public.t_id_seq: source (last_value, is_called) = (3, True), restored = (2, True)" in message
    assert "table public.u" not in message


# --- psql_restore ----------------------------------------------------------------


def test_psql_restore_stops_at_the_first_error_and_says_why(scratch):
    with pytest.raises(RuntimeError, match='relation "nowhere" does not exist'):
        psql_restore(
            "CREATE TABLE before_error (id int);\nSELECT * FROM nowhere;\nCREATE TABLE after (id int);", scratch
        )

    assert set(table_checksums(scratch)) == {"public.before_error"}


def test_psql_restore_reads_plain_and_zstd_files(scratch, tmp_path):
    plain = tmp_path / "dump.sql"
    plain.write_text("CREATE TABLE from_file (id int); INSERT INTO from_file VALUES (1);\n")
    packed = tmp_path / "dump.sql.zst"
    subprocess.run(["zstd", "-q", "-o", str(packed), "-"], input=b"INSERT INTO from_file VALUES (2);\n", check=True)

    psql_restore(plain, scratch)
    psql_restore(Path(packed), scratch)
    truncated = tmp_path / "truncated.sql.zst"
    truncated.write_bytes(packed.read_bytes()[:-4])

    assert table_rows(scratch, "public.from_file") == ["(1)", "(2)"]
    with pytest.raises(RuntimeError, match=r"zstd -dc .* failed"):
        psql_restore(truncated, scratch)


# --- the fixtures: loadable, fast, and the reference round-trips them -------------


def test_rich_schema_tags_every_fidelity_item():
    sql = pg_schemas.RICH_SCHEMA + pg_schemas.RICH_DATA
    assert [item for item in pg_schemas.FIDELITY_ITEMS if f"[fidelity: {item}]" not in sql] == []


def assert_rich_catalog(db) -> None:
    """What RICH_SCHEMA/RICH_DATA claim to hold, proven from the catalog and the data."""
    connection = db.connect()

    def catalog(_db, sql: str) -> list:
        return connection.run(sql)

    def values(sql: str) -> set:
        return {row[0] for row in catalog(db, sql)}

    assert set(pg_schemas.EXTENSIONS) <= values("SELECT extname FROM pg_extension")
    assert values(
        "SELECT typtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = typnamespace WHERE nspname = 'app'"
    ) >= {"e", "d", "c"}
    assert values(
        "SELECT amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
    ) >= {"btree", "gin", "gist", "brin", "hash"}
    assert values("SELECT contype::text FROM pg_constraint") >= {"p", "u", "f", "c", "x"}
    assert values("SELECT partstrat::text FROM pg_partitioned_table") == {"r", "l", "h"}
    assert catalog(db, "SELECT count(*) FROM pg_partitioned_table WHERE partdefid <> 0") == [[3]]
    assert catalog(db, "SELECT count(*) FROM pg_class WHERE relkind = 'p' AND relispartition") == [[1]]
    assert values("SELECT attidentity::text FROM pg_attribute WHERE attidentity <> ''") == {"a", "d"}
    assert values("SELECT attgenerated::text FROM pg_attribute WHERE attgenerated <> ''") == {"s"}
    assert values("SELECT confdeltype::text FROM pg_constraint WHERE contype = 'f'") >= {"c", "n", "a"}
    assert catalog(db, "SELECT count(*) FROM pg_constraint WHERE condeferrable AND condeferred") == [[2]]
    assert catalog(db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = confrelid") == [[2]]
    assert catalog(db, "SELECT count(*) FROM pg_index WHERE indpred IS NOT NULL") >= [[2]]
    assert catalog(db, "SELECT count(*) FROM pg_index WHERE indexprs IS NOT NULL") >= [[2]]
    assert catalog(db, "SELECT count(*) FROM pg_index WHERE indnkeyatts < indnatts") >= [[1]]
    assert values(
        "SELECT relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace WHERE nspname = 'app'"
    ) >= {"r", "p", "v", "m", "S", "i", "I"}
    assert values(
        "SELECT prokind::text FROM pg_proc p JOIN pg_namespace n ON n.oid = pronamespace WHERE nspname = 'app'"
    ) == {"f", "p"}
    assert values(
        "SELECT lanname FROM pg_proc p JOIN pg_language l ON l.oid = prolang"
        " JOIN pg_namespace n ON n.oid = pronamespace WHERE nspname = 'app'"
    ) == {"sql", "plpgsql"}
    triggers = catalog(
        db,
        "SELECT tgtype, tgqual IS NOT NULL, c.relkind::text FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = tgrelid WHERE NOT tgisinternal AND tgparentid = 0",
    )
    assert any(tgtype & 1 and tgtype & 2 for tgtype, _, _ in triggers)  # BEFORE ROW
    assert any(not tgtype & 1 and not tgtype & 2 for tgtype, _, _ in triggers)  # AFTER STATEMENT
    assert any(has_when for _, has_when, _ in triggers)
    assert any(kind == "p" for _, _, kind in triggers)
    assert values("SELECT classoid::regclass::text FROM pg_description WHERE objoid >= 16384") >= {
        "pg_class",
        "pg_namespace",
        "pg_proc",
        "pg_type",
        "pg_constraint",
        "pg_trigger",
    }
    assert values(
        "SELECT collname FROM pg_attribute a JOIN pg_collation c ON c.oid = attcollation"
        " WHERE attrelid = 'app.all_types'::regclass"
    ) >= {"C", "POSIX", "und-x-icu", "default"}
    assert values("SELECT nspname FROM pg_namespace") >= {"app", "ext", 'Ünïcode "Sch"ema'}
    assert values("SELECT relname FROM pg_class") >= {"order", "user", 'Mixed Case "Table" ✓', 'idx "Ωmega" désc'}
    assert values("SELECT conname FROM pg_constraint") >= {'chk Ünïcode "≥ 0" ✓', 'pk Mixed "Table" ✓'}
    # Data edge cases really are in the data.
    assert catalog(
        db,
        "SELECT count(*) FILTER (WHERE c_text IS NULL), count(*) FILTER (WHERE c_text = ''),"
        " count(*) FILTER (WHERE c_text_icu = '\\N'), count(*) FILTER (WHERE c_double::text = '-0'),"
        " count(*) FILTER (WHERE c_numeric = 'NaN'), count(*) FILTER (WHERE c_timestamp = 'infinity')"
        " FROM app.all_types",
    ) == [[1, 1, 1, 1, 1, 1]]
    assert catalog(
        db,
        "SELECT count(*) FILTER (WHERE c_double = 'NaN'),"
        " count(*) FILTER (WHERE c_double IN ('Infinity', '-Infinity')),"
        " count(*) FILTER (WHERE c_numeric IN ('Infinity', '-Infinity')), max(length(c_numeric::text)) > 1000"
        " FROM app.all_types",
    ) == [[1, 2, 2, True]]
    assert catalog(
        db,
        "SELECT length(blob), count(DISTINCT get_byte(blob, i)) FROM app.documents,"
        " generate_series(0, 255) AS i WHERE id = 1 GROUP BY blob",
    ) == [[256, 256]]
    assert catalog(db, "SELECT octet_length(body) > 1000000 FROM app.documents WHERE id = 3") == [[True]]
    assert catalog(
        db,
        "SELECT count(*) FROM app.employees e JOIN app.departments d ON d.head_employee_id = e.id"
        " AND e.department_id = d.id",
    ) == [[2]]


def restore_with_a_live_trigger(source, restored) -> None:
    """pg_dump's restore, but with one user trigger firing while the data loads (a naive restore).

    FK triggers stay off through session_replication_role, as with pg_dump
    --disable-triggers; the user trigger is made ENABLE ALWAYS meanwhile, then
    set back, so the schema ends up identical.
    """
    psql_restore(pg_dump(source, "--schema-only"), restored)
    trigger = "ALTER TABLE app.customers ENABLE {}TRIGGER customers_bump_revision;\n"
    script = [
        trigger.format("ALWAYS ").encode(),
        b"SET session_replication_role = replica;\n",
        pg_dump(source, "--data-only"),
        b"\nRESET session_replication_role;\n",
        trigger.format("").encode(),
    ]
    psql_restore(b"".join(script), restored)


def test_rich_schema_loads_fast_and_round_trips_through_pg_dump(pg_pair):
    source, restored = pg_pair
    started = time.monotonic()
    pg_schemas.load_rich(source)
    load_seconds = time.monotonic() - started

    pg_dump_round_trip(source, restored)

    assert load_seconds < 2.0
    assert_rich_catalog(source)
    assert_same_database(source, restored)
    assert sequence_states(restored)["app.reset_later"] == (42, False)

    # Teeth: a restore that lets a trigger fire during the data load is caught,
    # by the data alone (the BEFORE ROW trigger bumped every revision once more).
    reset_database(restored)
    restore_with_a_live_trigger(source, restored)
    with pytest.raises(AssertionError) as failure:
        assert_same_database(source, restored)
    message = str(failure.value)
    assert "table app.customers: source 60 rows" in message
    assert "schema differs" not in message
    assert "table app.invoices" not in message

    # EXTRA_SCHEMA on top: beyond issue 3's list, and pg_dump still keeps it all.
    psql_restore(pg_schemas.EXTRA_SCHEMA, source)
    reset_database(restored)
    pg_dump_round_trip(source, restored)
    assert_same_database(source, restored)
    extra = table_checksums(restored)
    assert extra["extra.unpopulated"] == (0, NOT_POPULATED)
    assert extra["extra.legacy"][0] == 2  # with the row that violates the NOT VALID check


def test_reset_database_is_as_good_as_a_new_one(databases):
    """Runs after the rich round trip: everything it left behind goes."""
    for db in databases[:2]:
        reset_database(db)

        assert schema_dump(db) == databases.new_schema_dump
        assert table_checksums(db) == {}
        assert sequence_states(db) == {}


def test_cf_like_database_loads_fast_and_round_trips_through_pg_dump(pg_pair):
    source, restored = pg_pair
    started = time.monotonic()
    pg_schemas.load_cf_like(source, rows=2000)
    load_seconds = time.monotonic() - started

    pg_dump_round_trip(source, restored)

    assert load_seconds < 2.0
    sums = table_checksums(source)
    assert sums["public.apps"][0] == 2000
    assert sums["public.events"][0] == 4000
    assert sum(count for count, _digest in sums.values()) > 15000
    assert_same_database(source, restored)

    # cf_like_data is deterministic: loading it again gives the very same rows.
    psql_restore(
        "TRUNCATE schema_migrations, quota_definitions, delayed_jobs, events, uaa.identity_zone, uaa.groups,"
        " uaa.oauth_client_details RESTART IDENTITY CASCADE;" + pg_schemas.cf_like_data(2000),
        source,
    )
    assert table_checksums(source) == table_checksums(restored)
