"""The bulk row cutters (C and numpy) frame CopyData rows exactly as reading the messages one by one does."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from smokejumper.sources.postgres import copy
from smokejumper.sources.postgres._copyframe import cut_rows as cut_rows_in_c
from smokejumper.sources.postgres.copy import MIN_BATCH, _read_batch, row_cutter, socket_has_data
from smokejumper.sources.postgres.numpy_rows import RowCutter

# One numpy cutter for every example: its scratch arrays are reused across chunks of any size, as in a COPY.
cut_rows = RowCutter().cut


def message(code: bytes, payload: bytes) -> bytes:
    return code + struct.pack("!I", len(payload) + 4) + payload


def one_by_one(data: bytes, *, text_rows_only: bool = True) -> tuple[bytes, int, int]:
    """The reference: leading complete CopyData messages (for numpy's cutter, those holding one text row)."""
    position, rows, payloads = 0, 0, []
    while position + 5 <= len(data):
        code, length = struct.unpack_from("!BI", data, position)
        end = position + 1 + length
        payload = data[position + 5 : end]
        if code != ord("d") or length < 4 or end > len(data):
            break
        if text_rows_only and (not payload.endswith(b"\n") or b"\n" in payload[:-1]):
            break
        payloads.append(payload)
        rows += 1
        position = end
    return b"".join(payloads), position, rows


def reference_for_c(data: bytes) -> tuple[bytes | None, int, int]:
    payload, consumed, rows = one_by_one(data, text_rows_only=False)
    return (payload if rows else None), consumed, rows


# Text rows: no newline inside, one at the end; lengths around those whose length field holds a 0x0a byte.
text_rows = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"),
    st.sampled_from([6, 262, 518, 2556, 2811, 2812]).map(lambda n: b"x" * (n - 1) + b"\n"),
)
odd_messages = st.one_of(
    st.binary(max_size=20).map(lambda b: message(b"d", b)),  # not a text row (binary COPY, say)
    st.sampled_from([b"C", b"N", b"Z", b"E"]).map(lambda code: message(code, b"COPY 3\x00")),
)


@settings(max_examples=800)
@given(
    rows=st.lists(text_rows, max_size=30),
    tail=st.lists(st.one_of(text_rows.map(lambda r: message(b"d", r)), odd_messages), max_size=5),
    cut=st.integers(min_value=0, max_value=12),
)
@example(rows=[b"12345\n"] * 4, tail=[], cut=0)  # length field 10 = a newline byte, in every header
def test_matches_reading_messages_one_by_one(rows, tail, cut):
    data = b"".join(message(b"d", row) for row in rows) + b"".join(tail)
    data = data[: len(data) - cut] if cut else data  # the chunk may end inside a message
    payload, consumed, count = cut_rows(data)
    expected_payload, expected_consumed, expected_count = one_by_one(data)
    assert (count, consumed) == (expected_count, expected_consumed)
    assert (bytes(payload) if payload is not None else b"") == expected_payload
    if not tail and cut == 0:  # only text rows: all of them
        assert (count, consumed) == (len(rows), len(data))
    # The C cutter takes every complete CopyData message, text row or not.
    assert cut_rows_in_c(data) == reference_for_c(data)


@settings(max_examples=500)
@given(st.lists(st.one_of(st.binary(max_size=12), st.binary(max_size=3).map(lambda b: b"d" + b)), max_size=12))
def test_the_c_cutter_trusts_no_length(pieces):
    """The input comes from the network: lengths under 4, past the end or absurd only stop the cutter."""
    data = b"".join(pieces)
    assert cut_rows_in_c(data) == reference_for_c(data)
    assert cut_rows_in_c(b"d\x00\x00\x00\x03x") == (None, 0, 0)  # a length below its own 4 bytes
    assert cut_rows_in_c(b"d\xff\xff\xff\xffxx") == (None, 0, 0)  # 4 GB promised, 2 bytes there


def test_the_c_cutter_takes_only_bytes():
    """Its loops run without the GIL and the second trusts the lengths the first checked: a buffer that
    another thread could change in between (a bytearray) is refused."""

    class Bytes(bytes):
        pass

    data = message(b"d", b"1\n")
    for mutable in (bytearray(data), memoryview(bytearray(data)), Bytes(data)):
        with pytest.raises(TypeError, match="takes bytes"):
            cut_rows_in_c(mutable)


def test_copy_uses_the_compiled_cutter():
    """The extension builds wherever `make setup` runs (a C compiler and Python's headers are needed);
    without it copies still work, with numpy's cutter, at about four times the CPU."""
    assert row_cutter() is cut_rows_in_c
    assert row_cutter(compiled=False).__self__.__class__ is RowCutter  # type: ignore[attr-defined]


@pytest.mark.parametrize("cutter", [cut_rows, cut_rows_in_c], ids=["numpy", "c"])
def test_every_row_framed_in_bulk(cutter):
    rows = [b"%d\t%s\n" % (n, b"y" * (n % 3000)) for n in range(5000)]
    data = b"".join(message(b"d", row) for row in rows) + message(b"C", b"COPY 5000\x00")
    payload, consumed, count = cutter(data)
    assert count == 5000
    assert bytes(payload) == b"".join(rows)
    assert data[consumed : consumed + 1] == b"C"


def test_nothing_to_vouch_for():
    for cutter in (cut_rows, cut_rows_in_c):
        assert cutter(b"") == (None, 0, 0)
        assert cutter(message(b"H", b"\x00\x00\x01\x00\x00")) == (None, 0, 0)
    assert cut_rows(message(b"d", b"no newline")) == (None, 0, 0)  # numpy needs the newline; C does not
    assert cut_rows_in_c(message(b"d", b"no newline")) == (b"no newline", 15, 1)


class Socket:
    """Hands out the given pieces one read at a time; a read past them would block forever, so it fails.

    `has_data` says whether a read would return at once: here, whether a piece is left (a real socket
    may have nothing yet, which `pauses_when_empty` plays).
    """

    def __init__(self, *pieces: bytes, ready: bool = True) -> None:
        self.pieces = list(pieces)
        self.ready = ready
        self.reads = 0

    def read1(self, size: int) -> bytes:
        assert self.pieces, "read again after the server was done: this would block forever"
        piece = self.pieces.pop(0)
        assert len(piece) <= size
        self.reads += 1
        return piece

    def has_data(self) -> bool:
        return self.ready and bool(self.pieces)


def batch(sock: Socket, pending: bytes = b"") -> bytes:
    return _read_batch(sock, pending, sock.has_data)


def test_batch_stops_at_ready_for_query_even_split_across_reads():
    rows = message(b"d", b"1\n") * 3
    done = message(b"C", b"COPY 3\x00") + b"Z\x00\x00\x00\x05I"
    assert batch(Socket(rows, done[:-4], done[-4:-1], done[-1:])) == rows + done
    assert batch(Socket(rows + done)) == rows + done
    # The last batch may have stopped inside ReadyForQuery: what it left counts too.
    assert batch(Socket(done[-3:]), done[:-3]) == done
    assert batch(Socket(b"I"), b"Z\x00\x00\x00\x05") == b"Z\x00\x00\x00\x05I"


def test_batch_is_empty_when_the_server_hung_up():
    assert batch(Socket(b""), b"d\x00") == b""
    rows = message(b"d", b"1\n")
    assert batch(Socket(rows, b"")) == rows  # what came before the end is still handed over


def test_batch_gathers_small_reads():
    rows = [message(b"d", b"x" * 1000 + b"\n") for _ in range(400)]
    gathered = batch(Socket(*rows))
    assert len(gathered) >= MIN_BATCH
    assert gathered == b"".join(rows[: len(gathered) // len(rows[0])])


def test_a_row_larger_than_a_batch_is_taken_in_whole_in_one_batch():
    """Joined again for each read, a 5 MB row read 16 KiB at a time (TLS) would copy 800 MB."""
    row = message(b"d", b"x" * (5 * 1024 * 1024) + b"\n")
    pieces = [row[i : i + 16384] for i in range(0, len(row), 16384)]
    sock = Socket(*pieces, message(b"d", b"next\n"))
    assert batch(sock) == row
    assert sock.reads == len(pieces)
    # The header may be split between what the last batch left and the first read.
    sock = Socket(*[row[3:][i : i + 16384] for i in range(0, len(row) - 3, 16384)])
    assert batch(sock, row[:3]) == row


@pytest.mark.parametrize("ready", [True, False])
def test_batch_pauses_only_when_nothing_is_ready(monkeypatch: pytest.MonkeyPatch, ready: bool):
    """A TLS read returns one 16 KiB record while more waits: pausing after it capped a COPY at ~40 MB/s."""
    pauses: list[float] = []
    monkeypatch.setattr(copy.time, "sleep", pauses.append)
    row = message(b"d", b"x" * 16000 + b"\n")
    reads = MIN_BATCH // len(row) + 1
    batch(Socket(*[row] * (reads + 5), ready=ready))
    assert len(pauses) == (0 if ready else reads - 1)
    # The server is done: a pause would only delay the end of every small table.
    pauses.clear()
    done = message(b"C", b"COPY 10\x00") + b"Z\x00\x00\x00\x05I"
    batch(Socket(row + done, ready=ready))
    batch(Socket(row, done, ready=ready))
    assert len(pauses) == (0 if ready else 1)


def test_has_data_sees_the_kernel_buffer():
    left, right = socket.socketpair()
    with left, right:
        has_data = socket_has_data(right)
        assert not has_data()
        left.sendall(b"row")
        assert has_data()
        assert right.recv(10) == b"row"
        assert not has_data()
        left.close()
        assert has_data()  # end of stream: the read returns at once, and says so
