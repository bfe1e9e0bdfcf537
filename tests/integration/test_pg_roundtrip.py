"""PostgreSQL round trips judged by pg_dump, server-side checksums and sequence states.

Every dump is restored twice: by plain `zstd -dc | psql` (nobody is locked
in) and by our restore; both must be indistinguishable from the source,
owners and grants included: the default dump keeps them, as pg_dump does
(test_pg_privileges.py has roles of its own and the restore's no_owner /
no_privileges).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.postgres.dump import dump_database
from smokejumper.sources.postgres.restore import RestoreError, restore_database
from smokejumper.store import open_store

from tests.support.load import BankLoad
from tests.support.pg_oracle import assert_same_database, psql_restore
from tests.support.pg_schemas import load_cf_like, load_rich
from tests.support.services import fresh_postgres_database


def dump_to(database, store, artifact_dir="ccdb"):
    connection = database.connect()
    try:
        return dump_database(connection, ArtifactWriter(store, artifact_dir, engine="postgres", name="ccdb"))
    finally:
        connection.close()


def restore_from(store, database, artifact_dir="ccdb", **kwargs):
    connection = database.connect()
    try:
        return restore_database(store, connection, artifact_dir=artifact_dir, **kwargs)
    finally:
        connection.close()


def check_both_restores(source, store, record, local_path: Path | None):
    """Restore with psql (when the dump is a local file) and with our tool; both must equal the source.

    Judged with owners and grants (`pg_dump --schema-only` without --no-owner/--no-privileges).
    """
    if local_path is not None:
        with fresh_postgres_database() as by_psql:
            psql_restore(local_path, by_psql)
            assert_same_database(source, by_psql, owners=True, privileges=True)
    with fresh_postgres_database() as by_us:
        summary = restore_from(store, by_us)
        assert summary.rows == sum(frame.rows or 0 for frame in record.files[0].frames)
        assert_same_database(source, by_us, owners=True, privileges=True)


def check_books_restore(store, local_path: Path, load, before: int, after: int) -> None:
    """Restored by psql and by our tool, the bank's books balance at a point between `before` and `after`."""
    for restore in ("ours", "psql"):
        with fresh_postgres_database() as target:
            if restore == "ours":
                restore_from(store, target)
            else:
                psql_restore(local_path, target)
            connection = target.connect()
            try:
                transfers = load.check_invariants(connection)
            finally:
                connection.close()
            assert before <= transfers <= after, "the snapshot lies between the commits seen before and after"


def test_rich_schema_round_trips_through_psql_and_our_restore(pg_database, tmp_path):
    load_rich(pg_database)
    store = open_store(str(tmp_path))
    record = dump_to(pg_database, store)
    assert record.snapshot_point["txid_snapshot"]
    assert record.source["server_version_num"] >= 150000
    # Owners and grants by default, in frames of their own after post-data.
    kinds = [frame.meta.get("kind") for frame in record.files[0].frames]
    assert kinds[kinds.index("post-data") :][:3] == ["post-data", "owners", "privileges"]
    assert record.source["objects"]["owners"] > 0
    check_both_restores(pg_database, store, record, tmp_path / "ccdb" / "dump.sql.zst")


def test_cf_like_database_round_trips_through_s3(pg_database, s3_bucket):
    load_cf_like(pg_database, rows=3000)
    store = open_store(f"s3://{s3_bucket.name}/cf", s3_client=s3_bucket.client, kms_key_id=s3_bucket.kms_key_id)
    record = dump_to(pg_database, store)
    tables = [frame for frame in record.files[0].frames if frame.meta.get("kind") == "table"]
    assert len(tables) >= 10
    assert sum(frame.rows for frame in tables) >= 3000
    check_both_restores(pg_database, store, record, None)


def test_single_table_restore_reads_only_that_tables_frame(pg_database, tmp_path):
    load_cf_like(pg_database, rows=2000)
    store = open_store(str(tmp_path))
    record = dump_to(pg_database, store)
    frames = {frame.name: frame for frame in record.files[0].frames}
    wanted = max((frame for frame in frames.values() if frame.meta.get("kind") == "table"), key=lambda f: f.rows)
    with fresh_postgres_database() as target:
        restore_from(store, target)
        connection = target.connect()
        connection.run(f"ALTER TABLE {wanted.name} DISABLE TRIGGER ALL")
        connection.run(f"DELETE FROM {wanted.name}")
        connection.run(f"ALTER TABLE {wanted.name} ENABLE TRIGGER ALL")
        connection.close()
        reads = []
        counting = CountingStore(store, reads)
        with pytest.raises(Exception, match="already has rows"):
            # Another table still holds its rows: refused without --clean.
            other = next(
                name for name, frame in frames.items() if frame.meta.get("kind") == "table" and name != wanted.name
            )
            restore_from(counting, target, tables=[other])
        reads.clear()
        summary = restore_from(counting, target, tables=[wanted.name])
        assert [table.name for table in summary.tables] == [wanted.name]
        assert summary.rows == wanted.rows
        assert_same_database(pg_database, target, owners=True, privileges=True)
        data_reads = [(start, length) for key, start, length in reads if key.endswith("dump.sql.zst")]
        allowed = {(frames["header"].offset, frames["header"].length), (wanted.offset, wanted.length)}
        assert set(data_reads) <= allowed, "only the header and the table's own frame are fetched"


class CountingStore:
    """A store wrapper that records every ranged read (key, start, length)."""

    def __init__(self, inner, reads):
        self._inner = inner
        self._reads = reads

    def iter_chunks(self, key, *, start=0, length=None):
        self._reads.append((key, start, length))
        return self._inner.iter_chunks(key, start=start, length=length)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_dump_under_load_is_one_consistent_snapshot(pg_database, tmp_path):
    """Money moves between accounts while the dump runs; the restored books must balance.

    The dump pauses after every table so the writer commits many transfers
    between reading `accounts` and reading `ledger`: only a single snapshot
    for all tables keeps them in agreement.
    """
    store = open_store(str(tmp_path))
    with BankLoad.for_database(pg_database) as load:
        load.wait_for_commits(10)
        before = load.committed
        connection = pg_database.connect()
        try:
            writer = ArtifactWriter(store, "ccdb", engine="postgres", name="ccdb")

            def pause(table, rows, size):
                load.wait_for_commits(15)

            dump_database(connection, writer, on_table=pause)
        finally:
            connection.close()
        after = load.committed
    assert after - before >= 30, "the writer kept committing during the dump"
    check_books_restore(store, tmp_path / "ccdb" / "dump.sql.zst", load, before, after)


def test_clean_replaces_what_the_target_had(pg_database, tmp_path):
    load_cf_like(pg_database, rows=300)
    store = open_store(str(tmp_path))
    dump_to(pg_database, store)
    with fresh_postgres_database() as target:
        connection = target.connect()
        connection.run("CREATE SCHEMA stale; CREATE TABLE stale.leftover (id int); CREATE TABLE public.spaces (x int)")
        connection.close()
        restore_from(store, target, clean=True)
        assert_same_database(pg_database, target, owners=True, privileges=True)


def test_clean_with_table_reloads_just_that_table(pg_database, tmp_path):
    load_cf_like(pg_database, rows=300)
    store = open_store(str(tmp_path))
    record = dump_to(pg_database, store)
    events = next(frame for frame in record.files[0].frames if frame.name == "public.events")
    with fresh_postgres_database() as target:
        restore_from(store, target)
        connection = target.connect()
        connection.run("UPDATE public.events SET metadata = 'changed by hand'")
        connection.run("DELETE FROM public.events WHERE id % 2 = 0")
        connection.close()
        summary = restore_from(store, target, tables=["public.events"], clean=True)
        assert summary.rows == events.rows
        assert_same_database(pg_database, target, owners=True, privileges=True)
        # A table other tables point at cannot be emptied alone: refused, naming them, nothing changed.
        with pytest.raises(RestoreError, match=r"nothing was changed: public\.apps is referenced by") as refused:
            restore_from(store, target, tables=["public.apps"], clean=True)
        assert "public.processes" in str(refused.value)
        assert "--table public.processes" in (refused.value.hint or "")
        assert_same_database(pg_database, target, owners=True, privileges=True)
