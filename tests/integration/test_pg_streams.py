"""Parallel COPY streams on one exported snapshot: tables split by page ranges, frames in order, one snapshot."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.dsn import SourceConnectionError
from smokejumper.sources.postgres import streams
from smokejumper.sources.postgres.copy import copy_out
from smokejumper.sources.postgres.dump import DumpOptions, dump_database
from smokejumper.sources.postgres.schema import Table
from smokejumper.store import open_store

from tests.integration.test_pg_roundtrip import check_books_restore, check_both_restores, restore_from
from tests.support.load import BankLoad
from tests.support.pg_oracle import assert_same_database, table_checksums
from tests.support.pg_schemas import load_rich
from tests.support.services import fresh_postgres_database

# Small enough that the test tables split into several parts.
SPLIT = 8192 * 3

BIG = r"""
CREATE TABLE public.big (id int PRIMARY KEY, label text, payload bytea, note text);
INSERT INTO public.big SELECT g, 'row ' || g || E'\ttab\\back', decode(md5(g::text), 'hex'),
  CASE WHEN g % 5 = 0 THEN NULL ELSE repeat('n', g % 300) END FROM generate_series(1, 6000) g;
DELETE FROM public.big WHERE id % 7 = 0;  -- holes in the pages
CREATE TABLE public.big_child (extra int) INHERITS (public.big);  -- ONLY: a part never takes the child's rows
INSERT INTO public.big_child SELECT g, 'child', NULL, NULL, g FROM generate_series(100001, 100050) g;
"""


def dump(database, store, *, streams=3, split_bytes=SPLIT, connect=None, on_table=None):
    connection = database.connect()
    try:
        writer = ArtifactWriter(store, "ccdb", engine="postgres", name="ccdb")
        options = DumpOptions(streams=streams, split_bytes=split_bytes)
        return dump_database(
            connection, writer, options=options, on_table=on_table, connect=connect or database.connect
        )
    finally:
        connection.close()


def parts_of(record, table):
    return [frame for frame in record.files[0].frames if frame.name == table]


def test_split_tables_round_trip_through_psql_and_our_restore(pg_database, tmp_path):
    load_rich(pg_database)
    pg_database.connect().run(BIG)
    store = open_store(str(tmp_path))
    record = dump(pg_database, store)
    assert record.snapshot_point["streams"] == 3
    big = parts_of(record, "public.big")
    assert len(big) >= 4, "the big table is dumped in parts"
    assert [frame.meta["part"] for frame in big] == list(range(1, len(big) + 1))
    assert all(frame.meta["parts"] == len(big) for frame in big)
    # The parts tile the pages, the last one open-ended, and lie next to each other in the file.
    pages = [frame.meta["pages"] for frame in big]
    assert pages[0][0] == 0
    assert pages[-1][1] is None
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(pages))
    assert all(a.offset + a.length == b.offset for a, b in itertools.pairwise(big))
    assert sum(frame.rows for frame in big) == 6000 - 6000 // 7
    # Frames keep the tables' order, as a one-stream dump writes them.
    one_stream = dump(pg_database, open_store(str(tmp_path / "one")), streams=1)
    assert [frame.name for frame in one_stream.files[0].frames] == list(
        dict.fromkeys(frame.name for frame in record.files[0].frames)
    )
    check_both_restores(pg_database, store, record, tmp_path / "ccdb" / "dump.sql.zst")


def test_table_restore_takes_every_part(pg_database, tmp_path):
    pg_database.connect().run(BIG)
    store = open_store(str(tmp_path))
    record = dump(pg_database, store)
    assert len(parts_of(record, "public.big")) >= 4
    with fresh_postgres_database() as target:
        summary = restore_from(store, target, tables=["public.big"])
        assert [(table.name, table.rows, table.created) for table in summary.tables] == [
            ("public.big", 6000 - 6000 // 7, True)
        ]
        assert table_checksums(target)["public.big"] == table_checksums(pg_database)["public.big"]


def test_streams_under_load_read_one_snapshot(pg_database, tmp_path):
    """Money moves while three streams read parts of `accounts` and `ledger`: the books still balance."""
    store = open_store(str(tmp_path))
    with BankLoad.for_database(pg_database, accounts=3000) as load:
        load.wait_for_commits(20)
        before = load.committed
        record = dump(pg_database, store, on_table=lambda *_: load.wait_for_commits(15))
        after = load.committed
    assert len(parts_of(record, "public.accounts")) >= 2, "accounts was read by several streams"
    assert after - before >= 30, "the writer kept committing during the dump"
    check_books_restore(store, tmp_path / "ccdb" / "dump.sql.zst", load, before, after)


@pytest.mark.parametrize(
    ("statement", "locked_relation"),
    [
        ("LOCK TABLE public.big IN ACCESS EXCLUSIVE MODE", "public.big"),
        # REINDEX locks the index, not the table: helpers meet it when planning a page range.
        ("REINDEX INDEX public.big_pkey", "public.big_pkey"),
    ],
)
def test_helper_locked_out_hands_its_part_back(pg_database, tmp_path, monkeypatch, statement, locked_relation):
    """Someone queues an exclusive lock mid-dump: helpers must not queue behind it (that would wait
    forever: the request waits for the dump's own locks). The dump's connection copies those parts."""
    connection = pg_database.connect()
    connection.run("CREATE TABLE public.a (id int); INSERT INTO public.a VALUES (1)")
    connection.run("CREATE TABLE public.b (id int); INSERT INTO public.b VALUES (2)")
    connection.run(BIG)
    connection.close()
    locker = pg_database.connect()
    locked = threading.Event()

    def take_exclusive_lock():
        locker.run("SET lock_timeout = '60s'")
        locker.run("BEGIN")
        locker.run(statement)  # waits until the dump ends
        locker.run("ROLLBACK")
        locked.set()

    def queue_the_lock(table, rows, size):
        if table != "public.a":
            return
        threading.Thread(target=take_exclusive_lock, daemon=True).start()
        watcher = pg_database.connect()
        deadline = time.monotonic() + 10
        while not watcher.run(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = CAST(:relation AS regclass)"
            " AND mode = 'AccessExclusiveLock' AND NOT granted)",
            relation=locked_relation,
        )[0][0]:
            assert time.monotonic() < deadline, "the exclusive lock request never queued"
            time.sleep(0.02)
        watcher.close()

    handed_back = []

    def take_locks(self, connection, part):
        try:
            real_take_locks(self, connection, part)
        except streams.HandedBack:
            handed_back.append(part.table.qualified)
            raise

    real_take_locks = streams.Helpers._take_locks
    monkeypatch.setattr(streams.Helpers, "_take_locks", take_locks)
    store = open_store(str(tmp_path))
    record = dump(pg_database, store, streams=2, on_table=queue_the_lock)
    assert locked.wait(30), "the exclusive lock was granted once the dump ended"
    locker.close()
    assert len(parts_of(record, "public.big")) >= 4
    assert handed_back, "a helper met the queued lock and handed its part back"
    assert set(handed_back) == {"public.big"}
    with fresh_postgres_database() as target:
        restore_from(store, target)
        assert_same_database(pg_database, target)


def test_server_timeouts_do_not_cut_a_long_dump_short(pg_database, tmp_path):
    """A server that ends idle transactions after 300 ms: the dump's connections wait longer than that
    (here in the progress callback; helpers between their parts) and must not be killed."""
    pg_database.connect().run(BIG)
    admin = pg_database.connect()
    admin.run(f"ALTER DATABASE {pg_database.dbname} SET idle_in_transaction_session_timeout = '300ms'")
    admin.close()
    record = dump(pg_database, open_store(str(tmp_path)), on_table=lambda *_: time.sleep(0.8))
    assert record.snapshot_point["streams"] == 3
    assert sum(frame.rows for frame in parts_of(record, "public.big")) == 6000 - 6000 // 7


def test_abort_stops_a_helper_copy_at_once(pg_database):
    """On failure the helpers' COPYs stop at once instead of streaming to their end."""
    connection = pg_database.connect()
    connection.run("CREATE TABLE public.wide AS SELECT g AS id, repeat('w', 200) AS t FROM generate_series(1, 1e5) g")
    connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    started = threading.Event()

    def slow_copy(helper, frames, part):
        def write(data):
            started.set()
            time.sleep(0.2)  # 20 MB in 256 KiB batches: about 16 s to the end
            return len(data)

        return copy_out(helper, part.copy_sql(), write)

    table = Table(1, "public.wide", "public", "wide", ["id", "t"], 20_000_000, 20_000_000)
    began = time.monotonic()
    with (
        pytest.raises(RuntimeError, match="main stream failed"),
        streams.open_helpers(
            connection,
            pg_database.connect,
            2,
            level=3,
            lock_timeout_ms=1000,
            prepare=lambda _connection: None,
            opening_errors=(Exception,),
            explain=str,
        ) as (helpers, _why_not),
    ):
        future = helpers.submit(streams.Part(table), slow_copy)
        assert started.wait(10)
        raise RuntimeError("main stream failed")
    assert time.monotonic() - began < 5, "close(abort=True) waited for the COPY to finish"
    assert future.exception() is not None, "the helper's COPY was cut off"
    connection.close()


def test_a_helper_that_cannot_connect_leaves_one_stream(pg_database, tmp_path):
    pg_database.connect().run(BIG)

    def refuse():
        raise SourceConnectionError("too many connections for role backup", hint="raise max_connections")

    record = dump(pg_database, open_store(str(tmp_path)), connect=refuse)
    assert record.snapshot_point["streams"] == 1
    assert "too many connections" in record.snapshot_point["streams_note"]
    assert len(parts_of(record, "public.big")) == 1, "one stream does not split tables"


@pytest.mark.parametrize("count", [1, 4])
def test_cli_streams_option(pg_database, tmp_path, count):
    """`backup postgres --streams N` records N streams and dumps the same rows."""
    from click.testing import CliRunner
    from smokejumper.cli import cli

    pg_database.connect().run(BIG)
    dsn = f"{pg_database.dsn}?sslmode=disable"
    arguments = ["backup", "postgres", "--dsn", dsn, "--to", f"file://{tmp_path}/out", "--streams", str(count)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    record = open_store(str(tmp_path / "out")).get_bytes("artifact.json").decode()
    assert f'"streams": {count}' in record
