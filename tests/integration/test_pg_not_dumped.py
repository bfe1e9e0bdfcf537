"""What a PostgreSQL dump leaves behind is said out loud, never skipped in silence.

Each kind of object the dump does not carry is created for real, and the
artifact record's `snapshot_point["not_dumped"]` must name every one; what an
extension brings (its operators, casts, wrappers) must not be listed, since
`CREATE EXTENSION` recreates it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pg8000.native
import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.sources.postgres.dump import dump_database
from smokejumper.store import open_store

from tests.support.services import PostgresDatabase

SMOKEJUMPER = Path(sys.executable).parent / "smokejumper"
REPO = Path(__file__).resolve().parents[2]


def dump_to(database: PostgresDatabase, tmp_path: Path) -> ArtifactRecord:
    connection = database.connect()
    try:
        writer = ArtifactWriter(open_store(str(tmp_path)), "ccdb", engine="postgres", name="ccdb")
        return dump_database(connection, writer)
    finally:
        connection.close()


def available(connection: pg8000.native.Connection, extension: str) -> bool:
    found = connection.run("SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = :name", name=extension)
    return bool(found)


@pytest.fixture
def skipped_objects(pg_database: PostgresDatabase) -> Iterator[tuple[PostgresDatabase, list[str]]]:
    """A database holding one of each kind the dump skips, and the lines the dump must print for them.

    The subscription and the event trigger are dropped afterwards: DROP
    DATABASE refuses a database a subscription belongs to, and an event
    trigger must not outlive the test in any form.
    """
    connection = pg_database.connect()
    expected: list[str] = []
    try:
        connection.run("CREATE TABLE public.orders (id integer PRIMARY KEY)")
        # A wrapper without handler: nothing can ever connect through it.
        connection.run("CREATE FOREIGN DATA WRAPPER dummy")
        connection.run("CREATE SERVER dummy_server FOREIGN DATA WRAPPER dummy")
        connection.run("CREATE FOREIGN TABLE public.dummy_rows (a integer) SERVER dummy_server")
        expected += ["foreign table public.dummy_rows", "foreign data wrapper dummy", "foreign server dummy_server"]
        if available(connection, "postgres_fdw"):
            # The extension's own wrapper is not listed; the server, mapping and table are the user's.
            # Nothing reads the foreign table, so nothing connects (and it would only be to 127.0.0.1).
            connection.run("CREATE EXTENSION postgres_fdw")
            connection.run(
                "CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw"
                " OPTIONS (host '127.0.0.1', port '5432', dbname 'nowhere')"
            )
            connection.run("CREATE USER MAPPING FOR postgres SERVER remote")
            connection.run("CREATE FOREIGN TABLE public.remote_orders (id integer) SERVER remote")
            expected += [
                "foreign table public.remote_orders",
                "foreign server remote",
                "user mapping for postgres server remote",
            ]
        connection.run("CREATE PUBLICATION cf_pub FOR TABLE public.orders")
        # connect = false: the subscription is created disabled, without reaching any server.
        connection.run(
            "CREATE SUBSCRIPTION cf_sub CONNECTION 'host=127.0.0.1 port=5432 dbname=nowhere'"
            " PUBLICATION cf_pub WITH (connect = false)"
        )
        expected += ["publication cf_pub", "subscription cf_sub"]
        for _ in range(3):
            connection.run("SELECT pg_catalog.lo_from_bytea(0, 'x')")
        expected.append("3 large objects")
        connection.run(
            "CREATE FUNCTION public.int_eq3(integer, integer) RETURNS boolean"
            " LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2'"
        )
        connection.run("CREATE OPERATOR public.=== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_eq3)")
        connection.run(
            "CREATE OPERATOR CLASS public.int4_alt_ops FOR TYPE integer USING btree AS"
            " OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,"
            " FUNCTION 1 pg_catalog.btint4cmp(integer, integer)"
        )
        connection.run("CREATE OPERATOR FAMILY public.my_fam USING hash")
        expected += [
            "operator public.===(integer, integer)",
            # Its implicit family of the same name is not listed a second time.
            "operator class public.int4_alt_ops USING btree",
            "operator family public.my_fam USING hash",
        ]
        connection.run("CREATE TYPE public.mood AS ENUM ('sad', 'ok')")
        connection.run(
            "CREATE FUNCTION public.to_mood(text) RETURNS public.mood LANGUAGE sql IMMUTABLE"
            " AS 'SELECT CASE $1 WHEN ''sad'' THEN ''sad''::public.mood ELSE ''ok''::public.mood END'"
        )
        connection.run("CREATE CAST (text AS public.mood) WITH FUNCTION public.to_mood(text)")
        expected.append("cast (text AS public.mood)")
        # FROM SQL only needs an (internal) -> internal function; a built-in one does.
        connection.run(
            "CREATE TRANSFORM FOR public.mood LANGUAGE plpgsql"
            " (FROM SQL WITH FUNCTION pg_catalog.gtsvector_compress(internal))"
        )
        expected.append("transform for public.mood language plpgsql")
        connection.run("CREATE TEXT SEARCH CONFIGURATION public.my_cfg (COPY = pg_catalog.english)")
        connection.run("CREATE TEXT SEARCH DICTIONARY public.my_dict (TEMPLATE = pg_catalog.simple)")
        connection.run(
            "CREATE TEXT SEARCH PARSER public.my_prs (START = prsd_start, GETTOKEN = prsd_nexttoken,"
            " END = prsd_end, LEXTYPES = prsd_lextype)"
        )
        connection.run("CREATE TEXT SEARCH TEMPLATE public.my_tmpl (INIT = dsimple_init, LEXIZE = dsimple_lexize)")
        expected += [
            "text search configuration public.my_cfg",
            "text search dictionary public.my_dict",
            "text search parser public.my_prs",
            "text search template public.my_tmpl",
        ]
        connection.run("CREATE CONVERSION public.my_conv FOR 'LATIN1' TO 'UTF8' FROM pg_catalog.iso8859_1_to_utf8")
        connection.run("CREATE TYPE public.shell_only")
        connection.run("CREATE LANGUAGE my_pl HANDLER pg_catalog.plpgsql_call_handler")
        connection.run("CREATE ACCESS METHOD my_heap TYPE TABLE HANDLER pg_catalog.heap_tableam_handler")
        expected += [
            "conversion public.my_conv",
            "type public.shell_only",
            "procedural language my_pl",
            "access method my_heap",
        ]
        # Last, so that it fires on none of the DDL above.
        connection.run("CREATE FUNCTION public.audit_ddl_fn() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'")
        connection.run("CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.audit_ddl_fn()")
        expected.append("event trigger audit_ddl")
        yield pg_database, expected
    finally:
        connection.run("DROP EVENT TRIGGER IF EXISTS audit_ddl")
        if connection.run("SELECT 1 FROM pg_catalog.pg_subscription WHERE subname = 'cf_sub'"):
            # Without a slot, DROP SUBSCRIPTION does not try to reach the publisher.
            connection.run("ALTER SUBSCRIPTION cf_sub SET (slot_name = NONE)")
            connection.run("DROP SUBSCRIPTION cf_sub")
        connection.close()


def test_every_skipped_object_is_named(skipped_objects, tmp_path):
    database, expected = skipped_objects
    record = dump_to(database, tmp_path)
    not_dumped = record.snapshot_point["not_dumped"]
    assert sorted(not_dumped) == sorted(expected)
    # The table beside them is dumped as usual.
    assert [frame.name for frame in record.files[0].frames if frame.meta.get("kind") == "table"] == ["public.orders"]


def test_extension_objects_are_not_listed(pg_database, tmp_path):
    connection = pg_database.connect()
    try:
        connection.run("CREATE TABLE public.plain (id integer PRIMARY KEY, note text)")
        # Each brings operators, operator classes/families, casts, functions or a wrapper of its own.
        extensions = [name for name in ("citext", "hstore", "pgcrypto", "postgres_fdw") if available(connection, name)]
        assert extensions, "no contrib extension to test with"
        for name in extensions:
            connection.run(f"CREATE EXTENSION {name}")
    finally:
        connection.close()
    record = dump_to(pg_database, tmp_path)
    assert record.snapshot_point["not_dumped"] == []


def test_the_cli_warns_about_what_it_did_not_dump(pg_database, tmp_path):
    connection = pg_database.connect()
    try:
        connection.run("CREATE TABLE public.orders (id integer PRIMARY KEY)")
        connection.run("CREATE PUBLICATION cf_pub FOR TABLE public.orders")
        connection.run("SELECT pg_catalog.lo_from_bytea(0, 'x')")
    finally:
        connection.close()
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("SMOKEJUMPER_STORE", None)
    result = subprocess.run(
        [str(SMOKEJUMPER), "backup", "postgres", "--dsn", pg_database.dsn, "--to", str(tmp_path / "ccdb")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "not dumped: publication cf_pub" in result.stderr
    assert "not dumped: 1 large object" in result.stderr
