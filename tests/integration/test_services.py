"""The test harness itself: each fixture gives a real, fresh, isolated service."""

from __future__ import annotations

import subprocess

import etcd3

from tests.support.services import fresh_postgres_database


def psql(dbname: str, sql: str) -> str:
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname, "-Atc", sql]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def test_postgres_database_is_fresh_and_real(pg_database):
    connection = pg_database.connect()
    assert connection.run("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [[0]]
    connection.run("CREATE TABLE marker (id int)")
    connection.run("INSERT INTO marker VALUES (42)")
    connection.close()
    # Judged by the engine's own client, not by our driver.
    out = subprocess.run(
        [
            "psql",
            "-h",
            pg_database.host,
            "-U",
            pg_database.user,
            "-d",
            pg_database.dbname,
            "-Atc",
            "SELECT id FROM marker",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "42"
    with fresh_postgres_database() as other:
        assert other.dbname != pg_database.dbname
        assert other.connect().run("SELECT to_regclass('public.marker')") == [[None]]


def test_postgres_database_is_dropped_after_use():
    with fresh_postgres_database() as database:
        name = database.dbname
    listed = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-Atc",
            f"SELECT count(*) FROM pg_database WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == "0"


def test_mysql_database_is_fresh_and_real(mysql_database):
    connection = mysql_database.connect()
    with connection.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()
        cursor.execute("CREATE TABLE marker (id INT) ENGINE=InnoDB")
        cursor.execute("INSERT INTO marker VALUES (7)")
    connection.close()
    out = subprocess.run(
        ["mysql", "-h", mysql_database.host, "-u", "root", "-N", "-e", "SELECT id FROM marker", mysql_database.dbname],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "7"


def test_etcd_server_starts_fast_and_answers(etcd_server):
    assert etcd_server.started_in < 5, f"etcd took {etcd_server.started_in:.2f}s to become healthy"
    host, port = etcd_server.endpoint.removeprefix("http://").split(":")
    client = etcd3.client(host=host, port=int(port))
    client.put("/registry/pods/default/web-0", b"pod")
    client.close()
    assert etcd_server.etcdctl("get", "--print-value-only", "/registry/pods/default/web-0").stdout.strip() == "pod"
