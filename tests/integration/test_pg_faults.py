"""PostgreSQL dumps and restores under faults: nothing half-written, nothing half-applied."""

from __future__ import annotations

import threading

import pg8000.native
import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import IntegrityError
from smokejumper.failures import error_type_of
from smokejumper.sources.postgres.dump import DumpError, DumpOptions, dump_database
from smokejumper.sources.postgres.restore import RestoreError, restore_database

from tests.support.services import fresh_postgres_database

SETUP = """
CREATE TABLE first_table (id int PRIMARY KEY, note text);
INSERT INTO first_table SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
CREATE TABLE second_table (id int PRIMARY KEY, payload text);
INSERT INTO second_table SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 50000) g;
"""


def load(database, sql=SETUP):
    connection = database.connect()
    connection.run(sql)
    connection.close()


def dump(database, store, **kwargs):
    connection = database.connect()
    try:
        writer = ArtifactWriter(store, "ccdb", engine="postgres", name="ccdb")
        return dump_database(connection, writer, **kwargs)
    finally:
        connection.close()


def table_names(database):
    connection = database.connect()
    try:
        return sorted(
            row[0]
            for row in connection.run(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        )
    finally:
        connection.close()


def test_backend_killed_mid_dump_commits_nothing(pg_database, store):
    load(pg_database)
    admin = pg_database.connect()
    victim = pg_database.connect()
    pid = victim.run("SELECT pg_backend_pid()")[0][0]

    def kill_after_first_table(table, rows, size):
        admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)

    writer = ArtifactWriter(store, "ccdb", engine="postgres", name="ccdb")
    with pytest.raises(
        DumpError, match=r"reading public\.second_table failed: (connection lost|terminating connection)"
    ):
        dump_database(victim, writer, on_table=kill_after_first_table)
    admin.close()
    assert list(store.list_keys()) == [], "no data file, no artifact.json"
    if hasattr(store, "client"):
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_table_locked_by_a_concurrent_drop_fails_clearly(pg_database, store):
    load(pg_database)
    dropper = pg_database.connect()
    dropper.run("BEGIN")
    dropper.run("DROP TABLE second_table")  # holds ACCESS EXCLUSIVE until it commits
    try:
        with pytest.raises(DumpError, match="could not lock tables") as caught:
            dump(pg_database, store, options=DumpOptions(lock_timeout_ms=300))
        assert "lock timeout" in str(caught.value)
        assert error_type_of(caught.value) == "LockTimeout", "a workflow retries it"
        assert list(store.list_keys()) == []
    finally:
        dropper.run("ROLLBACK")
        dropper.close()


def test_drop_during_the_dump_waits_for_it_and_the_dump_is_whole(pg_database, store):
    load(pg_database)
    dropped = threading.Event()

    def drop_second_table():
        connection = pg_database.connect()
        connection.run("DROP TABLE second_table")  # blocks on our ACCESS SHARE lock
        connection.close()
        dropped.set()

    dropper = threading.Thread(target=drop_second_table)

    def start_drop_after_first(table, rows, size):
        if not dropper.is_alive() and not dropped.is_set():
            dropper.start()
            assert not dropped.wait(0.5), "DROP TABLE must wait for the dump's lock"

    record = dump(pg_database, store, on_table=start_drop_after_first)
    dropper.join(timeout=30)
    assert dropped.is_set(), "the DROP went through once the dump released its locks"
    frames = {frame.name: frame.rows for frame in record.files[0].frames if frame.meta.get("kind") == "table"}
    assert frames == {"public.first_table": 1000, "public.second_table": 50000}


def test_restore_refuses_a_non_empty_target_and_changes_nothing(pg_database, store):
    load(pg_database)
    dump(pg_database, store)
    connection = pg_database.connect()
    try:
        with pytest.raises(RestoreError, match="is not empty") as caught:
            restore_database(store, connection, artifact_dir="ccdb")
        assert "--clean" in str(caught.value)
    finally:
        connection.close()
    assert table_names(pg_database) == ["first_table", "second_table"]


def test_tampered_artifact_is_refused_and_target_unchanged(pg_database, store):
    load(pg_database)
    record = dump(pg_database, store)
    frame = next(frame for frame in record.files[0].frames if frame.name == "public.second_table")
    data = bytearray(store.get_bytes("ccdb/dump.sql.zst"))
    data[frame.offset + frame.length // 2] ^= 0x20
    store.put_bytes("ccdb/dump.sql.zst", bytes(data))
    with fresh_postgres_database() as target:
        connection = target.connect()
        try:
            with pytest.raises(IntegrityError, match=r"nothing was restored(.|\n)*public\.second_table"):
                restore_database(store, connection, artifact_dir="ccdb")
        finally:
            connection.close()
        assert table_names(target) == []


def test_restore_failing_midway_rolls_everything_back(pg_database, store):
    load(pg_database)
    dump(pg_database, store)
    with fresh_postgres_database() as target:
        connection = target.connect()

        def break_second_table(name, rows, size):
            if name == "public.first_table":
                # Inside the restore's transaction: the next COPY will violate this.
                connection.run("ALTER TABLE public.second_table ADD CONSTRAINT no_rows CHECK (id < 0)")

        try:
            with pytest.raises(RestoreError, match=r"nothing was changed(.|\n)*no_rows"):
                restore_database(store, connection, artifact_dir="ccdb", on_frame=break_second_table)
        finally:
            connection.close()
        assert table_names(target) == [], "schema and first table rolled back with the rest"


def test_s3_upload_failing_mid_dump_leaves_no_object_and_no_upload(pg_database, s3_bucket):
    from botocore.exceptions import EndpointConnectionError
    from smokejumper.errors import StoreError
    from smokejumper.store.s3 import S3Store

    class FailingSecondPart:
        def __init__(self, client):
            self._client = client
            self.parts = 0

        def upload_part(self, **kwargs):
            self.parts += 1
            if self.parts == 2:
                raise EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com")
            return self._client.upload_part(**kwargs)

        def __getattr__(self, name):
            return getattr(self._client, name)

    # About 20 MiB of barely compressible data: several 8 MiB parts.
    load(
        pg_database,
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;"
        " CREATE TABLE blobs AS SELECT g AS id, encode(gen_random_bytes(1024), 'base64') AS b"
        " FROM generate_series(1, 20000) g",
    )
    client = FailingSecondPart(s3_bucket.client)
    store = S3Store(s3_bucket.name, "cf", client=client, kms_key_id=s3_bucket.kms_key_id)
    with pytest.raises(StoreError, match="cannot upload part 2"):
        dump(pg_database, store)
    assert client.parts == 2
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []
    assert s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name).get("KeyCount") == 0


def test_rows_hidden_by_row_level_security_fail_the_dump(pg_database, store):
    """A backup role that row-level security would filter gets an error, never a dump missing rows."""
    role = f"sj_rls_{pg_database.dbname[-12:]}"
    admin = pg_database.connect()
    admin.run(
        "CREATE TABLE secrets (id int, owner text); INSERT INTO secrets VALUES (1, 'a'), (2, 'b');"
        " ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;"
        " CREATE POLICY only_a ON secrets USING (owner = 'a');"
    )
    admin.run(f"CREATE ROLE {role} LOGIN; GRANT SELECT ON secrets TO {role}")
    try:
        where = {"host": pg_database.host, "port": pg_database.port, "database": pg_database.dbname}
        as_role = pg8000.native.Connection(role, **where)
        assert as_role.run("SELECT count(*) FROM secrets") == [[1]], "the policy hides a row from the role"
        try:
            writer = ArtifactWriter(store, "ccdb", engine="postgres", name="ccdb")
            with pytest.raises(DumpError, match="row-level security"):
                dump_database(as_role, writer)
        finally:
            as_role.close()
        assert list(store.list_keys()) == []
    finally:
        admin.run(f"DROP OWNED BY {role}; DROP ROLE {role}")
        admin.close()
