"""The fast COPY reader gives exactly the bytes psql's COPY gives, and leaves the connection usable."""

from __future__ import annotations

import re
import struct
import subprocess

import pg8000.native
import pytest
from smokejumper.sources.postgres import copy
from smokejumper.sources.postgres.copy import copy_out


@pytest.fixture(params=["c", "numpy"])
def cutter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with the compiled row cutter and with numpy's, the fallback where it was not built."""
    if request.param == "numpy":
        real_row_cutter = copy.row_cutter
        monkeypatch.setattr(copy, "row_cutter", lambda: real_row_cutter(compiled=False))
    return request.param


TRICKY = r"""
CREATE TABLE tricky (id int, t text, b bytea, j jsonb, a text[], n numeric, ts timestamptz, f float8);
INSERT INTO tricky VALUES
  (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (2, '', '\x', '{}', '{}', 'NaN', 'infinity', '-0'),
  (3, E'tab\there\nnewline\rcr\\backslash', '\x00ff00', '{"k": "é😀"}', '{NULL,"a b","c,d"}', 1e-30,
   '-infinity', 'NaN'),
  (4, '\N', '\x5c4e', 'null', '{{1,2},{3,4}}', 12345678901234567890.123456789, '2026-11-25 02:00:00+01', 'Infinity');
INSERT INTO tricky SELECT g, repeat(md5(g::text), 10), decode(md5(g::text), 'hex'), NULL, NULL, g, now(), g / 7.0
  FROM generate_series(10, 30000) g;
"""


def psql_copy(database, sql):
    command = ["psql", "-X", "-h", database.host, "-U", database.user, "-d", database.dbname, "-c", sql]
    return subprocess.run(command, capture_output=True, check=True).stdout


def test_bytes_match_psql_copy(pg_database, cutter):
    connection = pg_database.connect()
    connection.run(TRICKY)
    chunks = []
    rows = copy_out(connection, "COPY public.tricky TO STDOUT", chunks.append)
    assert rows == 4 + 29991
    assert b"".join(chunks) == psql_copy(pg_database, "COPY public.tricky TO STDOUT")
    # How much one socket read brings depends on timing; under load it was ~20 rows, never one.
    assert len(chunks) < rows / 4, "data is written in pieces of many rows, not one write per row"
    # The connection is still in a clean state for pg8000.
    assert connection.run("SELECT 41 + 1") == [[42]]
    connection.close()


def test_server_error_is_raised_and_connection_stays_usable(pg_database):
    connection = pg_database.connect()
    with pytest.raises(pg8000.native.DatabaseError, match="does not exist"):
        copy_out(connection, "COPY public.missing TO STDOUT", lambda _data: None)
    assert connection.run("SELECT 1") == [[1]]
    connection.close()


def test_error_in_the_middle_of_the_data(pg_database, cutter):
    connection = pg_database.connect()
    connection.run("CREATE TABLE numbers AS SELECT g FROM generate_series(-50000, 10) g")
    received = []
    with pytest.raises(pg8000.native.DatabaseError, match="division by zero"):
        copy_out(connection, "COPY (SELECT 1 / g FROM numbers) TO STDOUT", received.append)
    assert received, "rows before the failure were streamed"
    assert connection.run("SELECT 2") == [[2]]
    connection.close()


def test_rows_of_every_length(pg_database, cutter):
    """Row lengths whose CopyData length field holds a newline byte (10, 266, ..., 2560-2815) are framed right."""
    connection = pg_database.connect()
    connection.run(
        "CREATE TABLE lengths AS SELECT g AS id, repeat('x', g) AS t, CASE WHEN g % 7 = 0 THEN E'a\\nb' END AS n"
        " FROM generate_series(0, 3000) g"
    )
    chunks = []
    rows = copy_out(connection, "COPY public.lengths TO STDOUT", chunks.append)
    assert rows == 3001
    assert b"".join(chunks) == psql_copy(pg_database, "COPY public.lengths TO STDOUT")
    connection.close()


class Replay:
    """The server's side of a COPY, replayed from bytes: what a broken or hostile stream would send."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read1(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece

    def flush(self) -> None:
        pass


def message(code: bytes, payload: bytes) -> bytes:
    return code + struct.pack("!I", len(payload) + 4) + payload


@pytest.mark.parametrize(
    ("stream", "complaint"),
    [
        (message(b"d", b"1\n") + b"d\x00\x00\x00\x02" + b"\x00" * 16, "type 'd' and length 2"),
        (message(b"d", b"1\n") + message(b"?", b"what") + b"Z\x00\x00\x00\x05I", "type '?' and length 8"),
        (b"d\x7f\xff\xff\xff" + b"x" * 64, "type 'd' and length 2147483647"),
    ],
)
def test_a_broken_stream_is_a_protocol_error_not_a_hang(pg_database, monkeypatch, cutter, stream, complaint):
    connection = pg_database.connect()
    try:
        monkeypatch.setattr(connection, "send_QUERY", lambda _sql: None)
        monkeypatch.setattr(connection, "_sock", Replay(stream))
        with pytest.raises(pg8000.native.InterfaceError, match=re.escape(f"protocol error: a message of {complaint}")):
            copy_out(connection, "COPY nothing TO STDOUT", lambda _data: None)
    finally:
        monkeypatch.undo()
        connection.close()
