"""MySQL/MariaDB dumps under faults: a clear failure and nothing stored, or a whole, consistent dump."""

from __future__ import annotations

import threading

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.sources.dsn import SourceConnectionError, parse_dsn
from smokejumper.sources.mysql.connection import connect
from smokejumper.sources.mysql.dump import DumpError, dump_database
from smokejumper.store import Store

from tests.support.services import HOST, MysqlDatabase, free_port

pytestmark = pytest.mark.integration

SETUP = (
    "CREATE TABLE first_table (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB",
    "INSERT INTO first_table SELECT seq, MD5(seq) FROM seq_1_to_1000",
    "CREATE TABLE second_table (id INT PRIMARY KEY, payload TEXT) ENGINE=InnoDB",
    "INSERT INTO second_table SELECT seq, REPEAT(MD5(seq), 20) FROM seq_1_to_20000",
)


def load(db: MysqlDatabase) -> None:
    connection = db.connect()
    with connection.cursor() as cursor:
        for statement in SETUP:
            cursor.execute(statement)
    connection.close()


def dump(db: MysqlDatabase, store: Store, **options: object) -> ArtifactRecord:
    connection = connect(parse_dsn(db.dsn))
    try:
        return dump_database(connection, ArtifactWriter(store, "", engine="mysql", name="ccdb"), **options)  # type: ignore[arg-type]
    finally:
        connection.close()


def nothing_stored(store: Store) -> None:
    assert list(store.list_keys()) == [], "no data file, no artifact.json"
    if hasattr(store, "client"):
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_connection_killed_mid_dump_commits_nothing(mysql_database: MysqlDatabase, store: Store) -> None:
    load(mysql_database)
    victim = connect(parse_dsn(mysql_database.dsn))
    with victim.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (connection_id,) = cursor.fetchone()
    admin = mysql_database.connect()

    def kill_after_first_table(_table: str, _rows: int, _size: int) -> None:
        with admin.cursor() as cursor:
            cursor.execute(f"KILL {int(connection_id)}")

    with pytest.raises(DumpError, match="nothing was stored") as caught:
        dump_database(victim, ArtifactWriter(store, "", engine="mysql", name="ccdb"), on_table=kill_after_first_table)
    admin.close()
    assert "Lost connection" in str(caught.value) or "server has gone away" in str(caught.value)
    nothing_stored(store)


def test_drop_during_the_dump_fails_clearly(mysql_database: MysqlDatabase, store: Store) -> None:
    """A DROP of a table not yet read goes through (the dump holds no lock on a table before or after
    reading it), and the dump then fails naming the table, with nothing stored."""
    load(mysql_database)
    dropped = threading.Event()
    errors: list[BaseException] = []

    def drop_second_table() -> None:
        try:
            connection = mysql_database.connect()
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE second_table")
            connection.close()
            dropped.set()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    dropper = threading.Thread(target=drop_second_table)

    def drop_after_first(table: str, _rows: int, _size: int) -> None:
        if table == "first_table":
            dropper.start()
            dropped.wait(5)  # give the DROP its chance before the dump reads second_table

    with pytest.raises(DumpError, match=r"second_table.* doesn't exist|[Dd]efinition has changed"):
        dump(mysql_database, store, on_table=drop_after_first)
    nothing_stored(store)
    dropper.join(timeout=30)
    assert not errors
    assert dropped.is_set()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://nobody@127.0.0.1:3306/mysql", "access denied for user 'nobody'"),
        ("mysql://root@127.0.0.1:3306/no_such_database_here", "there is no database 'no_such_database_here'"),
        ("mysql://root@127.0.0.1:{free}/mysql", "connection refused"),
        ("mysql://root@127.0.0.1:3306/mysql?ssl-mode=REQUIRED", "TLS"),
    ],
)
def test_connection_errors_are_one_line(url: str, message: str) -> None:
    target = parse_dsn(url.format(free=free_port()), environ={})
    with pytest.raises(SourceConnectionError) as caught:
        connect(target, timeout=5)
    text = str(caught.value)
    assert message in text
    assert "\n" not in caught.value.message
    assert f"{HOST}:" in text


def test_a_password_never_shows(mysql_database: MysqlDatabase) -> None:
    target = parse_dsn("mysql://nobody:hunter2-secret@127.0.0.1:3306/mysql", environ={})
    with pytest.raises(SourceConnectionError) as caught:
        connect(target, timeout=5)
    assert "hunter2" not in str(caught.value)
    assert "access denied" in str(caught.value)
