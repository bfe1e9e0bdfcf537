"""MySQL/MariaDB backup and restore against real MariaDB, judged by the mysqldump-based oracle.

`assert_same_database` compares `mysqldump --no-data` of source and target
(normalised only for definers and AUTO_INCREMENT policy), the database
defaults, CHECKSUM TABLE, per-table content digests over every column
(generated and invisible ones too) and row counts. Each restore is done
twice: by smokejumper, and by the plain `mysql` client (with --comments,
which keeps comments inside routine bodies: tests/support/mysql_oracle.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord, read_artifact_record
from smokejumper.errors import IntegrityError
from smokejumper.sources.dsn import parse_dsn
from smokejumper.sources.mysql.artifact_format import DUMP_FILE
from smokejumper.sources.mysql.connection import connect
from smokejumper.sources.mysql.dump import dump_database
from smokejumper.sources.mysql.restore import RestoreError, restore_database
from smokejumper.sources.results import RestoreSummary
from smokejumper.store import Store, open_store

from tests.support import mysql_schemas
from tests.support.load import BankLoad
from tests.support.mysql_oracle import (
    assert_same_database,
    content_digest,
    mysql_restore,
    schema_dump,
    table_checksums,
)
from tests.support.services import MysqlDatabase, fresh_mysql_database

pytestmark = pytest.mark.integration

SMOKEJUMPER = Path(sys.executable).parent / "smokejumper"


def dsn(db: MysqlDatabase) -> str:
    return f"mysql://{db.user}@{db.host}:{db.port}/{db.dbname}"


def dump_to(db: MysqlDatabase, store: Store, **options: Any) -> ArtifactRecord:
    connection = connect(parse_dsn(dsn(db)))
    try:
        return dump_database(connection, ArtifactWriter(store, "", engine="mysql", name=db.dbname), **options)
    finally:
        connection.close()


def restore_from(store: Store, db: MysqlDatabase, **options: Any) -> RestoreSummary:
    connection = connect(parse_dsn(dsn(db)))
    try:
        return restore_database(store, connection, **options)
    finally:
        connection.close()


def both_restores(source: MysqlDatabase, store: Store, dump_file: Path) -> None:
    with fresh_mysql_database() as ours, fresh_mysql_database() as theirs:
        summary = restore_from(store, ours)
        dumped = read_artifact_record(store)[0].files[0].frames
        assert summary.rows == sum(frame.rows or 0 for frame in dumped) > 0  # history rows included
        assert_same_database(source, ours)
        mysql_restore(dump_file, theirs)
        assert_same_database(source, theirs)


def test_rich_schema_round_trips_through_ours_and_the_mysql_client(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_rich(mysql_database)
    store = open_store(str(tmp_path))
    record = dump_to(mysql_database, store)
    both_restores(mysql_database, store, tmp_path / DUMP_FILE)

    # A MyISAM/Aria table cannot be read from the snapshot: said, not hidden.
    assert record.snapshot_point["not_consistent"] == ["legacy_notes"]
    assert record.snapshot_point["isolation"].startswith("REPEATABLE READ")
    frames = {frame.name: frame for frame in record.files[0].frames}
    assert [f.name for f in record.files[0].frames][:2] == ["header", "pre-data"]
    assert frames["all_types"].rows == 12
    assert frames["products"].meta["columns"].count("secret_note") == 1  # INVISIBLE: named explicitly
    # Definers are dropped by default: the restoring account owns what it creates.
    text = subprocess.run(["zstd", "-dcq", str(tmp_path / DUMP_FILE)], capture_output=True, check=True).stdout
    assert b"DEFINER=" not in text
    assert b"SET NAMES utf8mb4" in text


def test_mariadb_sequences_and_system_versioned_history_round_trip(mysql_database: MysqlDatabase, tmp_path: Path):
    """Beyond the issue's list: SEQUENCE objects with their next value, and history rows of a
    system-versioned table with their own row_start/row_end (mysqldump needs --dump-history)."""
    mysql_schemas.load_rich(mysql_database, extra=True)
    store = open_store(str(tmp_path))
    record = dump_to(mysql_database, store)
    assert record.snapshot_point["not_dumped"] == []
    both_restores(mysql_database, store, tmp_path / DUMP_FILE)
    with fresh_mysql_database() as target:
        restore_from(store, target)
        assert content_digest(target, "price_history") == content_digest(mysql_database, "price_history")
        assert content_digest(target, "price_history")[0] == 3  # versions: (1, 10.00), (1, 11.00), (2, 20.00)
        assert "DO SETVAL(`invoice_numbers`, 1070, 0);" in schema_dump(target)


def test_definers_are_kept_when_asked(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_rich(mysql_database)
    store = open_store(str(tmp_path))
    from smokejumper.sources.mysql.dump import DumpOptions

    dump_to(mysql_database, store, options=DumpOptions(definers=True))
    with fresh_mysql_database() as target:
        restore_from(store, target)
        assert_same_database(mysql_database, target, keep_definers=True)


def test_beyond_mysqldump_floats_and_routine_comments_survive(mysql_database: MysqlDatabase, tmp_path: Path):
    """mysqldump loses FLOAT digits (and a bare mysql strips routine comments); we keep both."""
    mysql_restore(mysql_schemas.BEYOND_MYSQLDUMP, mysql_database)
    store = open_store(str(tmp_path))
    dump_to(mysql_database, store)
    both_restores(mysql_database, store, tmp_path / DUMP_FILE)


def test_cf_like_database_through_the_command_line(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_cf_like(mysql_database, rows=2000)
    backup = subprocess.run(
        [str(SMOKEJUMPER), "backup", "mysql", "--dsn", dsn(mysql_database), "--to", str(tmp_path / "a"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    record = json.loads(backup.stdout)
    assert record["engine"] == "mysql"
    assert record["source"]["server_version"].startswith("10.11")
    with fresh_mysql_database() as target:
        restored = subprocess.run(
            [str(SMOKEJUMPER), "restore", "mysql", "--from", str(tmp_path / "a"), "--dsn", dsn(target), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert restored.returncode == 0, restored.stderr
        summary = json.loads(restored.stdout)
        assert summary["rows"] == sum(frame["rows"] or 0 for frame in record["files"][0]["frames"]) > 15000
        assert_same_database(mysql_database, target)

        again = subprocess.run(
            [str(SMOKEJUMPER), "restore", "mysql", "--from", str(tmp_path / "a"), "--dsn", dsn(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 1
        assert "is not empty" in again.stderr
        assert "--clean" in again.stderr


def test_clean_replaces_what_the_target_had(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_cf_like(mysql_database, rows=300)
    store = open_store(str(tmp_path))
    dump_to(mysql_database, store)
    with fresh_mysql_database() as target:
        connection = target.connect()
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE leftover (id INT)")
            cursor.execute("CREATE TABLE apps (x INT)")
            cursor.execute("CREATE VIEW stale AS SELECT 1 AS one")
            cursor.execute("CREATE PROCEDURE old_proc() SELECT 1")
        connection.close()
        with pytest.raises(RestoreError, match="not empty"):
            restore_from(store, target)
        restore_from(store, target, clean=True)
        assert_same_database(mysql_database, target)


def test_a_tampered_artifact_changes_nothing(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_cf_like(mysql_database, rows=300)
    store = open_store(str(tmp_path))
    record = dump_to(mysql_database, store)
    frame = next(f for f in record.files[0].frames if f.name == "events")
    dump = tmp_path / DUMP_FILE
    data = bytearray(dump.read_bytes())
    data[frame.offset + frame.length // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with fresh_mysql_database() as target:
        connection = target.connect()
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE precious (id INT)")
            cursor.execute("INSERT INTO precious VALUES (1)")
        connection.close()
        before = schema_dump(target), table_checksums(target)
        with pytest.raises(IntegrityError, match=r"'events'.*sha256 mismatch"):
            restore_from(store, target, clean=True)
        assert (schema_dump(target), table_checksums(target)) == before


def test_table_restores_one_table_creating_it_when_absent(mysql_database: MysqlDatabase, tmp_path: Path):
    mysql_schemas.load_cf_like(mysql_database, rows=300)
    store = open_store(str(tmp_path))
    dump_to(mysql_database, store)
    source_sums = table_checksums(mysql_database)
    with fresh_mysql_database() as target:
        summary = restore_from(store, target, tables=["spaces", "apps"])
        assert [(t.name, t.created) for t in summary.tables] == [("apps", True), ("spaces", True)]
        sums = table_checksums(target)
        assert sums == {name: source_sums[name] for name in ("apps", "spaces")}

        # A table with rows is not overwritten unless --clean, which reloads it.
        connection = target.connect()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM apps WHERE id % 2 = 0")
            cursor.execute("UPDATE apps SET name = 'changed'")
        connection.close()
        with pytest.raises(RestoreError, match="table apps already has rows"):
            restore_from(store, target, tables=["apps"])
        restore_from(store, target, tables=["apps"], clean=True)
        assert table_checksums(target)["apps"] == source_sums["apps"]

        with pytest.raises(Exception, match="not in this dump: nope"):
            restore_from(store, target, tables=["nope"])


def test_dump_under_load_is_one_consistent_snapshot(mysql_database: MysqlDatabase, tmp_path: Path):
    """Money moves while the dump runs (it pauses after every table); the restored books must balance."""
    store = open_store(str(tmp_path))
    with BankLoad.for_database(mysql_database) as load:
        load.wait_for_commits(10)
        before = load.committed

        def pause(_table: str, _rows: int, _size: int) -> None:
            load.wait_for_commits(15)

        dump_to(mysql_database, store, on_table=pause)
        after = load.committed
    assert after - before >= 30, "the writer kept committing during the dump"
    for restore in ("ours", "mysql"):
        with fresh_mysql_database() as target:
            if restore == "ours":
                restore_from(store, target)
            else:
                mysql_restore(tmp_path / DUMP_FILE, target)
            connection = target.connect()
            try:
                transfers = load.check_invariants(connection)
            finally:
                connection.close()
            assert before <= transfers <= after, "the snapshot lies between the commits seen before and after"
