"""Partitions whose column order is not their parent's.

A table created with columns of its own and then ATTACHed as a partition
keeps its own column order (and dropped columns, in it or in the parent,
shift attnums apart). `CREATE TABLE ... PARTITION OF` would give it the
parent's order, so such a partition is dumped as pg_dump dumps it: CREATE
TABLE with its own columns (and the parent's CHECKs), then ATTACH PARTITION.
The round trip goes through psql and through our restore, judged by
`assert_same_database` (pg_dump --schema-only, data checksums, sequences).
"""

from __future__ import annotations

import pg8000.native
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.postgres.dump import DumpOptions, dump_database
from smokejumper.sources.postgres.restore import restore_database
from smokejumper.sources.postgres.schema import read_schema
from smokejumper.store import Store, open_store

from tests.support.pg_oracle import assert_same_database, psql_restore, schema_dump
from tests.support.services import PostgresDatabase, fresh_postgres_database

SCHEMA = r"""
CREATE SCHEMA part;

-- A parent with a CHECK, a default, a NOT NULL, a primary key, an index and
-- a row trigger, all of which reach the partitions.
CREATE TABLE part.sales (
    id integer NOT NULL,
    region text DEFAULT 'north',
    amount numeric(10, 2),
    sold_on date,
    CONSTRAINT sales_id_positive CHECK (id > 0)
) PARTITION BY RANGE (id);
ALTER TABLE part.sales ADD CONSTRAINT sales_pkey PRIMARY KEY (id);
CREATE INDEX sales_region ON part.sales (region);
CREATE FUNCTION part.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER sales_touch BEFORE INSERT ON part.sales FOR EACH ROW EXECUTE FUNCTION part.touch();

-- The common case: PARTITION OF, the parent's order.
CREATE TABLE part.sales_1 PARTITION OF part.sales FOR VALUES FROM (1) TO (100);

-- Columns in another order, a default of its own, a local CHECK, then attached.
CREATE TABLE part.sales_2 (
    sold_on date,
    amount numeric(10, 2),
    region text DEFAULT 'south',
    id integer NOT NULL,
    CONSTRAINT sales_id_positive CHECK (id > 0),
    CONSTRAINT sales_2_amount CHECK (amount >= 0)
);
ALTER TABLE part.sales ATTACH PARTITION part.sales_2 FOR VALUES FROM (100) TO (200);
ALTER TABLE part.sales_2 ALTER COLUMN region SET STORAGE MAIN;
ALTER TABLE part.sales_2 ALTER COLUMN amount SET STATISTICS 50;

-- Sub-partitioned, in another order, with a leaf of its own.
CREATE TABLE part.sales_3 (
    region text,
    id integer NOT NULL,
    sold_on date,
    amount numeric(10, 2),
    CONSTRAINT sales_id_positive CHECK (id > 0)
) PARTITION BY RANGE (id);
CREATE TABLE part.sales_3_low PARTITION OF part.sales_3 FOR VALUES FROM (200) TO (250);
CREATE TABLE part.sales_3_high PARTITION OF part.sales_3 FOR VALUES FROM (250) TO (300);
ALTER TABLE part.sales ATTACH PARTITION part.sales_3 FOR VALUES FROM (200) TO (300);

-- Same order as the parent, but a dropped column of its own: PARTITION OF does.
CREATE TABLE part.sales_4 (
    id integer NOT NULL, gone text, region text DEFAULT 'north', amount numeric(10, 2), sold_on date,
    CONSTRAINT sales_id_positive CHECK (id > 0)
);
ALTER TABLE part.sales_4 DROP COLUMN gone;
ALTER TABLE part.sales ATTACH PARTITION part.sales_4 FOR VALUES FROM (300) TO (400);

INSERT INTO part.sales VALUES (1, 'a', 1.5, '2024-01-01'), (150, DEFAULT, 2.5, '2024-02-01'),
    (220, 'east', 3.5, NULL), (250, 'east', 4.5, NULL), (350, 'west', NULL, '2024-04-01');

-- A parent with a dropped column.
CREATE TABLE part.events (kind text NOT NULL, gone integer, at timestamptz, payload jsonb) PARTITION BY LIST (kind);
ALTER TABLE part.events DROP COLUMN gone;
-- Same live order (attnums differ from the parent's): PARTITION OF does.
CREATE TABLE part.events_a PARTITION OF part.events FOR VALUES IN ('a');
CREATE TABLE part.events_b (kind text NOT NULL, at timestamptz, payload jsonb);
ALTER TABLE part.events ATTACH PARTITION part.events_b FOR VALUES IN ('b');
-- Another live order.
CREATE TABLE part.events_c (payload jsonb, kind text NOT NULL, at timestamptz);
ALTER TABLE part.events ATTACH PARTITION part.events_c FOR VALUES IN ('c');
-- Another order and a dropped column of its own.
CREATE TABLE part.events_d (at timestamptz, old text, kind text NOT NULL, payload jsonb);
ALTER TABLE part.events_d DROP COLUMN old;
ALTER TABLE part.events ATTACH PARTITION part.events_d DEFAULT;

INSERT INTO part.events VALUES ('a', '2024-01-01', '{"n": 1}'), ('b', NULL, '[]'), ('c', '2024-03-01', 'null'),
    ('zzz', '2024-05-01', '{"d": true}');
-- A NOT VALID CHECK the partitions inherit.
ALTER TABLE part.events ADD CONSTRAINT events_kind CHECK (kind <> '') NOT VALID;
"""


def dump_to(database: PostgresDatabase, store: Store):
    connection = database.connect()
    try:
        writer = ArtifactWriter(store, "db", engine="postgres", name="db")
        return dump_database(connection, writer, options=DumpOptions())
    finally:
        connection.close()


def restore_with_ours(store: Store, database: PostgresDatabase) -> None:
    connection = database.connect()
    try:
        restore_database(store, connection, artifact_dir="db")
    finally:
        connection.close()


def column_orders(database: PostgresDatabase) -> dict[str, list[str]]:
    connection: pg8000.native.Connection = database.connect()
    try:
        found = connection.run(
            "SELECT c.oid::regclass::text, array_agg(a.attname::text ORDER BY a.attnum)"
            " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE n.nspname = 'part' AND c.relkind IN ('r', 'p') GROUP BY c.oid"
        )
    finally:
        connection.close()
    return {name: list(order) for name, order in found}


def test_attached_partitions_keep_their_column_order(pg_database, tmp_path):
    psql_restore(SCHEMA, pg_database)
    orders = column_orders(pg_database)
    # The scenario itself: the attached partitions' orders do differ from their parents'.
    assert orders["part.sales_2"] != orders["part.sales"]
    assert orders["part.events_c"] != orders["part.events"]
    connection = pg_database.connect()
    try:
        pre_data = "\n".join(read_schema(connection).pre_data)
    finally:
        connection.close()
    # PARTITION OF where the orders agree, ATTACH PARTITION where they differ.
    for common in ("sales_1", "sales_3_low", "sales_4", "events_a", "events_b"):
        assert f"CREATE TABLE part.{common} PARTITION OF " in pre_data, common
    for own in ("sales_2", "sales_3", "events_c", "events_d"):
        assert f" ATTACH PARTITION part.{own} " in pre_data, own
        assert f"CREATE TABLE part.{own} PARTITION OF " not in pre_data, own
    store = open_store(str(tmp_path))
    dump_to(pg_database, store)
    with fresh_postgres_database() as by_psql:
        psql_restore(tmp_path / "db" / "dump.sql.zst", by_psql)
        assert column_orders(by_psql) == orders
        assert_same_database(pg_database, by_psql)
    with fresh_postgres_database() as by_us:
        restore_with_ours(store, by_us)
        assert column_orders(by_us) == orders
        assert_same_database(pg_database, by_us)
        # Nothing the partitions inherit was made twice.
        assert schema_dump(by_us) == schema_dump(pg_database)
