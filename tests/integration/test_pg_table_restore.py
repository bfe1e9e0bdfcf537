"""`restore --table` creating tables the target lacks, and `--clean` across foreign keys.

Judged by PostgreSQL's own tools: `pg_dump --schema-only -t TABLE` of the
source and of the target must agree (normalised only where the restore
legitimately differs, and saying why), and the server-side data checksums
and sequence states of the restored tables must equal the source's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.postgres import restore as restore_module
from smokejumper.sources.postgres.dump import dump_database
from smokejumper.sources.postgres.restore import RestoreError, restore_database
from smokejumper.store import Store, open_store

from tests.e2e.test_cli import run as run_cli
from tests.support.pg_oracle import (
    normalize_schema_dump,
    pg_dump,
    psql_restore,
    schema_dump,
    sequence_states,
    table_checksums,
)
from tests.support.pg_schemas import load_rich
from tests.support.services import PostgresDatabase, fresh_postgres_database

# What the tables below use but do not create: the target of a table restore
# must have these (the enum, the trigger function) unless it lacks them on purpose.
DEPENDENCIES = r"""
CREATE TYPE public.entry_kind AS ENUM ('debit', 'credit');
-- Not idempotent on purpose: if the restore fired it while loading, the data oracle would see it.
CREATE FUNCTION public.toggle_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched := NOT NEW.touched;
    RETURN NEW;
END
$$;
"""

ACCOUNTS = """
CREATE TABLE public.accounts (id integer PRIMARY KEY, name text NOT NULL);
"""

# A table with most of what CREATE TABLE can say, using only built-in types
# and functions (so it can be created in an empty database).
ENTRIES = r"""
CREATE SEQUENCE public.entry_no AS integer INCREMENT BY 3 MINVALUE 100 START WITH 100 CACHE 2;
CREATE TABLE public.entries (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 50 INCREMENT BY 5) PRIMARY KEY,
    serial_no bigserial,
    entry_no integer NOT NULL DEFAULT nextval('public.entry_no') UNIQUE,
    account_id integer REFERENCES public.accounts (id) ON DELETE CASCADE,
    parent_id bigint REFERENCES public.entries (id) DEFERRABLE INITIALLY DEFERRED,
    label text COLLATE "C" NOT NULL DEFAULT 'x' CHECK (label <> ''),
    amount numeric(12,2) NOT NULL CHECK (amount > 0),
    doubled numeric(12,2) GENERATED ALWAYS AS (amount * 2) STORED,
    during tstzrange,
    tags text[] NOT NULL DEFAULT '{}',
    details jsonb,
    at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT entries_no_overlap EXCLUDE USING gist (during WITH &&),
    CONSTRAINT entries_label_amount UNIQUE (label, amount)
);
ALTER SEQUENCE public.entry_no OWNED BY public.entries.entry_no;
ALTER TABLE public.entries ALTER COLUMN details SET STATISTICS 500;
CREATE INDEX entries_lower_label ON public.entries (lower(label)) WHERE amount > 10;
CREATE INDEX entries_tags ON public.entries USING gin (tags);
CREATE INDEX entries_at_brin ON public.entries USING brin (at);
CREATE INDEX entries_account_at ON public.entries (account_id, at DESC) INCLUDE (amount);
COMMENT ON TABLE public.entries IS 'Ledger entries, ''quoted''';
COMMENT ON COLUMN public.entries.label IS 'A label';
COMMENT ON CONSTRAINT entries_account_id_fkey ON public.entries IS 'Goes with the key';
COMMENT ON INDEX public.entries_tags IS 'GIN on tags';
COMMENT ON SEQUENCE public.entry_no IS 'Owned by entries.entry_no';
"""

TAGGED = """
CREATE TABLE public.tagged (
    id integer PRIMARY KEY,
    kind public.entry_kind NOT NULL DEFAULT 'debit',
    touched boolean NOT NULL DEFAULT false,
    entry_id bigint REFERENCES public.entries (id)
);
CREATE TRIGGER tagged_toggle BEFORE INSERT OR UPDATE ON public.tagged
    FOR EACH ROW EXECUTE FUNCTION public.toggle_touched();
"""

DATA = """
INSERT INTO public.accounts SELECT i, 'account ' || i FROM generate_series(1, 5) AS i;
INSERT INTO public.entries (account_id, label, amount, during, tags, details, at)
SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE 1 + i % 5 END, 'label ' || (i % 13), i * 1.25,
       CASE WHEN i % 3 = 0 THEN tstzrange(timestamptz '2024-01-01' + i * interval '1 hour',
                                          timestamptz '2024-01-01' + (i + 1) * interval '1 hour') END,
       ARRAY['t' || (i % 4), 'all'], CASE WHEN i % 2 = 0 THEN jsonb_build_object('i', i) END,
       timestamptz '2024-01-01' + i * interval '1 minute'
FROM generate_series(1, 300) AS i;
UPDATE public.entries SET parent_id = id - 5 WHERE id > 50 AND id % 3 = 0;
INSERT INTO public.tagged (id, kind, entry_id)
SELECT i, CASE WHEN i % 2 = 0 THEN 'credit' ELSE 'debit' END::public.entry_kind, 50 + 5 * i
FROM generate_series(1, 40) AS i;
SELECT nextval('public.entry_no');
"""

SOURCE = DEPENDENCIES + ACCOUNTS + ENTRIES + TAGGED + DATA
# A target with other tables: the dependencies, and accounts with other names but the ids the keys need.
OTHER_TABLES = DEPENDENCIES + ACCOUNTS + "INSERT INTO public.accounts SELECT i, 'other' FROM generate_series(1, 5) i;"
ENTRY_SEQUENCES = ("public.entries_id_seq", "public.entries_serial_no_seq", "public.entry_no")


def dump_to(database: PostgresDatabase, store: Store) -> None:
    connection = database.connect()
    try:
        dump_database(connection, ArtifactWriter(store, "db", engine="postgres", name="db"))
    finally:
        connection.close()


def restore_from(store: Store, database: PostgresDatabase, **kwargs):
    connection = database.connect()
    try:
        return restore_database(store, connection, artifact_dir="db", **kwargs)
    finally:
        connection.close()


def table_schema(database: PostgresDatabase, *tables: str) -> str:
    """pg_dump --schema-only of just these tables (with what pg_dump dumps with them: owned sequences...)."""
    selectors = [arg for table in tables for arg in ("-t", table)]
    return normalize_schema_dump(
        pg_dump(database, "--schema-only", "--no-owner", "--no-privileges", *selectors).decode()
    )


def without_object(dump: str, name: str) -> str:
    """The dump without the entries (`-- Name: ...` blocks) that mention `name` in their header."""
    blocks = re.split(r"(?m)^(?=--\n-- Name: )", dump)
    return "".join(block for block in blocks if not re.match(rf"--\n-- Name: [^\n]*\b{re.escape(name)}\b", block))


def checksums(database: PostgresDatabase, *tables: str) -> dict[str, tuple[int, str]]:
    found = table_checksums(database)
    return {table: found.get(table) for table in tables}


def sequences(database: PostgresDatabase, *names: str) -> dict[str, tuple[int, bool] | None]:
    found = sequence_states(database)
    return {name: found.get(name) for name in names}


@pytest.fixture
def source_store(pg_database: PostgresDatabase, tmp_path: Path) -> Store:
    psql_restore(SOURCE, pg_database)
    store = open_store(str(tmp_path))
    dump_to(pg_database, store)
    return store


def test_table_is_created_in_an_empty_database(pg_database, source_store):
    with fresh_postgres_database() as target:
        summary = restore_from(source_store, target, tables=["public.entries"])
        assert [(table.name, table.created, table.rows) for table in summary.tables] == [("public.entries", True, 300)]
        # The key to accounts cannot be made (no such table): skipped and said so; the self-reference is kept.
        assert len(summary.warnings) == 1
        assert "entries_account_id_fkey" in summary.warnings[0]
        assert "public.accounts" in summary.warnings[0]

        source_dump = table_schema(pg_database, "public.entries")
        # The one legitimate difference: the skipped foreign key (and its comment, which names it).
        expected = without_object(source_dump, "entries_account_id_fkey")
        assert expected != source_dump, "the normalisation removed the key from the source's dump"
        assert "entries_parent_id_fkey" in expected
        restored_dump = table_schema(target, "public.entries")
        assert restored_dump == expected
        assert checksums(target, "public.entries") == checksums(pg_database, "public.entries")
        assert sequences(target, *ENTRY_SEQUENCES) == sequences(pg_database, *ENTRY_SEQUENCES)
        assert None not in sequences(target, *ENTRY_SEQUENCES).values()
        # Only the named table was created.
        assert set(table_checksums(target)) == {"public.entries"}


def test_tables_are_created_next_to_existing_ones_with_their_keys(pg_database, source_store):
    with fresh_postgres_database() as target:
        psql_restore(OTHER_TABLES, target)
        summary = restore_from(source_store, target, tables=["public.tagged", "public.entries"])
        # In dump order: entries before tagged, whose key references it.
        assert [(table.name, table.created) for table in summary.tables] == [
            ("public.entries", True),
            ("public.tagged", True),
        ]
        assert summary.warnings == []
        # Every key exists here: both tables exactly as in the source.
        assert table_schema(target, "public.entries", "public.tagged") == table_schema(
            pg_database, "public.entries", "public.tagged"
        )
        # tagged's trigger toggles a column: equal data proves it was created after the load.
        assert checksums(target, "public.entries", "public.tagged") == checksums(
            pg_database, "public.entries", "public.tagged"
        )
        assert sequences(target, *ENTRY_SEQUENCES) == sequences(pg_database, *ENTRY_SEQUENCES)


def test_rich_table_is_recreated_in_a_database_that_has_the_rest(pg_database, tmp_path):
    """app.invoices: identity ALWAYS, an owned standalone sequence, a generated column using a
    function, an enum, CHECKs, keys, every kind of index, statement/transition/WHEN triggers,
    comments (one on its foreign key), and a foreign key to a table the target has."""
    load_rich(pg_database)
    store = open_store(str(tmp_path))
    dump_to(pg_database, store)
    with fresh_postgres_database() as target:
        restore_from(store, target)
        connection = target.connect()
        # CASCADE takes the views on it along; those are not the table's.
        connection.run("DROP TABLE app.invoices CASCADE")
        connection.close()
        audit_before = checksums(target, "app.audit")
        summary = restore_from(store, target, tables=["app.invoices"])
        assert [(table.name, table.created) for table in summary.tables] == [("app.invoices", True)]
        assert summary.warnings == []
        assert table_schema(target, "app.invoices") == table_schema(pg_database, "app.invoices")
        assert checksums(target, "app.invoices") == checksums(pg_database, "app.invoices")
        seqs = ("app.invoices_id_seq", "app.invoice_no")
        assert sequences(target, *seqs) == sequences(pg_database, *seqs)
        # The invoices' audit triggers write to app.audit on INSERT: they did not fire.
        assert checksums(target, "app.audit") == audit_before


def test_missing_dependency_is_named_and_nothing_changes(source_store):
    with fresh_postgres_database() as target:
        before = schema_dump(target)
        with pytest.raises(RestoreError, match="nothing was changed") as refused:
            restore_from(source_store, target, tables=["public.entries", "public.tagged"])
        message = str(refused.value)
        assert "public.tagged needs" in message
        assert "type public.entry_kind" in message
        assert "function public.toggle_touched()" in message
        # entries needs nothing the empty database lacks, but was not created either.
        assert "public.entries needs" not in message
        assert schema_dump(target) == before
        assert table_checksums(target) == {}

        # With the type but not the function: only the function is named.
        psql_restore("CREATE TYPE public.entry_kind AS ENUM ('debit', 'credit');", target)
        before = schema_dump(target)
        with pytest.raises(RestoreError) as refused:
            restore_from(source_store, target, tables=["public.tagged"])
        assert "function public.toggle_touched()" in str(refused.value)
        assert "entry_kind" not in str(refused.value)
        assert schema_dump(target) == before


def test_dump_without_table_ddl_refuses_to_create(source_store, monkeypatch):
    """Artifacts written before the DDL was recorded: a clear refusal, never a half-made table."""
    select_frames = restore_module.select_frames

    def old_frames(data_file, tables):
        frames = select_frames(data_file, tables)
        return [
            frame.model_copy(update={"meta": {k: v for k, v in frame.meta.items() if k != "ddl"}}) for frame in frames
        ]

    monkeypatch.setattr(restore_module, "select_frames", old_frames)
    with fresh_postgres_database() as target:
        with pytest.raises(RestoreError, match=r"predates .*create the table first"):
            restore_from(source_store, target, tables=["public.entries"])
        assert table_checksums(target) == {}


def test_clean_of_a_referenced_table_needs_its_referencing_tables(pg_database, source_store):
    with fresh_postgres_database() as target:
        restore_from(source_store, target)
        connection = target.connect()
        connection.run("DELETE FROM public.tagged WHERE id > 20")
        connection.run("UPDATE public.entries SET label = 'changed' WHERE id < 100")
        connection.run("UPDATE public.accounts SET name = 'renamed'")
        connection.close()
        changed = table_checksums(target)
        tables = ["public.accounts", "public.entries", "public.tagged"]
        assert changed != table_checksums(pg_database)

        # accounts alone: entries references it.
        with pytest.raises(RestoreError, match=r"public\.accounts is referenced by public\.entries") as refused:
            restore_from(source_store, target, tables=["public.accounts"], clean=True)
        assert "--table public.entries" in (refused.value.hint or "")
        assert table_checksums(target) == changed
        # accounts and entries: tagged still references entries (entries' self-reference is fine).
        with pytest.raises(RestoreError, match=r"public\.entries is referenced by public\.tagged") as refused:
            restore_from(source_store, target, tables=["public.accounts", "public.entries"], clean=True)
        assert "public.accounts is referenced" not in str(refused.value)
        assert table_checksums(target) == changed

        summary = restore_from(source_store, target, tables=tables, clean=True)
        assert sorted(table.name for table in summary.tables) == tables
        assert not any(table.created for table in summary.tables)
        assert table_schema(target, *tables) == table_schema(pg_database, *tables)
        assert checksums(target, "public.accounts", "public.entries") == checksums(
            pg_database, "public.accounts", "public.entries"
        )
        # tagged's BEFORE trigger fires on COPY into an existing table (that path is unchanged
        # by this feature, and pg_restore --data-only does the same without --disable-triggers):
        # its `touched` column comes back toggled, so only its row count is compared.
        assert table_checksums(target)["public.tagged"][0] == table_checksums(pg_database)["public.tagged"][0]
        # The keys are still there and enforced.
        connection = target.connect()
        try:
            with pytest.raises(Exception, match="foreign key"):
                connection.run("INSERT INTO public.tagged (id, entry_id) VALUES (1000, 1)")
        finally:
            connection.close()


def test_cli_creates_a_missing_table_and_refuses_a_lone_clean(pg_database, tmp_path):
    psql_restore(SOURCE, pg_database)
    artifact = tmp_path / "db"
    backup = run_cli("backup", "postgres", "--dsn", pg_database.dsn, "--to", str(artifact))
    assert backup.returncode == 0, backup.stderr
    with fresh_postgres_database() as target:
        psql_restore(OTHER_TABLES, target)
        created = run_cli(
            "restore", "postgres", "--from", str(artifact), "--dsn", target.dsn,
            "--table", "public.entries", "--table", "public.tagged", "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        result = json.loads(created.stdout)
        assert [(table["name"], table["created"]) for table in result["tables"]] == [
            ("public.entries", True),
            ("public.tagged", True),
        ]
        assert table_schema(target, "public.entries", "public.tagged") == table_schema(
            pg_database, "public.entries", "public.tagged"
        )
        assert checksums(target, "public.entries", "public.tagged") == checksums(
            pg_database, "public.entries", "public.tagged"
        )
        before = table_checksums(target)
        refused = run_cli(
            "restore", "postgres", "--from", str(artifact), "--dsn", target.dsn, "--table", "public.entries", "--clean"
        )
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr
        assert "public.tagged" in refused.stderr
        assert table_checksums(target) == before
