"""COPY ... TO STDOUT at the speed of the socket.

pg8000 hands every CopyData message (one per row) to Python separately,
which makes a large table about 3.7x slower to read than pg_dump (measured,
see the design notes). Here the socket is read in batches of at least
256 KiB and the CopyData payloads are cut out of each batch in bulk and
written in large pieces; every other message (CommandComplete, errors,
notices, ReadyForQuery) goes to pg8000's own handlers, so the connection's
state stays pg8000's.

Cutting happens in two steps. A bulk cutter takes the leading CopyData
messages of the batch: the C extension `_copyframe` (about 0.3 s of CPU per
GB, and without the GIL, so parallel streams cut on several cores), or where
it was not compiled, numpy (`numpy_rows.RowCutter`, about 1.2 s per GB). A
message-by-message loop takes over where the bulk cutter stops (a message
that is not CopyData, a message cut by the end of the batch) for the rest of
the batch. The rows counted must equal the server's own count in
CommandComplete.

This relies on pg8000 internals (`_sock`, `message_types`, `send_QUERY`,
`Context`): pg8000 is pinned, and tests compare the bytes with psql's.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import BinaryIO

import pg8000.native
from pg8000.core import Context

CHUNK = 1024 * 1024
# Framing costs ~40 µs a call whatever the size, and a reader that keeps up with the server gets
# ~80 KiB a read: gather at least this much before framing (8,600 calls -> ~2,700 at pgbench scale 70).
MIN_BATCH = 256 * 1024
RECEIVE_BUFFER = 4 * 1024 * 1024
# A read that blocks wakes at every 8 KiB send of the server's, and on loopback the server's backend pays
# for those wakeups: at pgbench scale 70 its CPU time, which is the whole COPY's wall time, measured
# 1.8-2.1 s when batches were gathered read after read, 1.65-1.75 s when the reader pauses this long
# whenever the socket has nothing ready (the client also spent 10% less CPU). Only then: a TLS read
# returns one 16 KiB record at a time, and pausing after each one capped a COPY at ~40 MB/s. A pause
# begins with the receive buffer empty, and even at 1 GB/s the server sends only 300 KB meanwhile,
# which fits in it (see copy_out).
PACE_SLEEP = 0.0003
# PostgreSQL's own limit on a message is 1 GB; a length past this is a broken stream, not a row to wait for.
MAX_MESSAGE = (1 << 30) + 1024
_COPY_DATA = ord("d")
_COPY_OUT_RESPONSE = ord("H")
_READY_FOR_QUERY = ord("Z")
# The whole of a ReadyForQuery message but its status byte: after it the server sends nothing more.
_READY_MESSAGE = b"Z\x00\x00\x00\x05"
_HEADER = struct.Struct("!BI")  # message type, length (which counts itself but not the type)
HEADER_SIZE = _HEADER.size

Payload = bytes | memoryview
CutRows = Callable[[bytes], tuple[Payload | None, int, int]]


def row_cutter(*, compiled: bool = True) -> CutRows:
    """The bulk cutter: C where it was compiled (and `compiled`), else numpy. Both return (the payloads of
    the leading CopyData messages joined, bytes consumed, rows), or (None, 0, 0)."""
    if compiled:
        try:
            from smokejumper.sources.postgres._copyframe import cut_rows
        except ImportError:  # installed without a C compiler
            pass
        else:
            return cut_rows
    from smokejumper.sources.postgres.numpy_rows import RowCutter

    return RowCutter().cut


def socket_has_data(usock: socket.socket) -> Callable[[], bool]:
    """Whether a read of `usock` would return at once: bytes in the kernel, or decrypted in OpenSSL."""
    poller = select.poll()
    poller.register(usock, select.POLLIN)  # also set on a closed or failed socket: the read then says so
    tls = usock if isinstance(usock, ssl.SSLSocket) else None
    return lambda: bool((tls is not None and tls.pending()) or poller.poll(0))


def _read_batch(sock: BinaryIO, pending: bytes, has_data: Callable[[], bool]) -> bytes:
    """`pending` (what the last batch left: the start of a message) and what the socket has, waiting for
    more while that is under MIN_BATCH, or does not yet hold the whole first message, and the server is
    not done (pausing when nothing is ready, see PACE_SLEEP); empty if the socket is closed.

    Taking in the whole first message keeps a row larger than a batch from being joined again for
    every read (quadratic). The server is done once the data ends with ReadyForQuery (which may have
    begun in `pending`); waiting then would wait forever. Those bytes cannot end a batch by chance:
    rows hold no NUL byte, and a CopyData length field cannot start with "Z" (that would be over 1 GB).
    """
    first = sock.read1(CHUNK)
    if not first:
        return first
    pieces, size, tail = [pending, first], len(pending) + len(first), (pending[-6:] + first)[-6:]
    wanted = MIN_BATCH
    head = (pending[:HEADER_SIZE] + first[:HEADER_SIZE])[:HEADER_SIZE]
    if len(head) == HEADER_SIZE:
        _code, length = _HEADER.unpack(head)
        if length <= MAX_MESSAGE:
            wanted = max(wanted, 1 + length)
    while size < wanted and tail[:-1] != _READY_MESSAGE:
        if not has_data():
            time.sleep(PACE_SLEEP)
        more = sock.read1(CHUNK)
        if not more:
            break
        pieces.append(more)
        size += len(more)
        tail = (tail + more)[-6:]
    return b"".join(pieces) if len(pieces) > 2 or pending else first


def copy_out(connection: pg8000.native.Connection, sql: str, write: Callable[[Payload], object]) -> int:
    """Run a `COPY ... TO STDOUT` and pass its data to `write` in large chunks; returns the row count.

    Raises pg8000's DatabaseError if the server reports an error (after the
    connection is back to ready), InterfaceError if the connection drops or
    the rows received do not add up to the server's count.
    """
    context = Context(sql)
    # A deep receive buffer lets the server run ahead while this loop works: at pgbench scale 70 the COPY
    # took 1.66-1.70 s with it, 1.78-1.95 s with the kernel's own sizing. The kernel caps it at twice
    # net.core.rmem_max: 8 MiB on the machines here, 416 KiB on a stock kernel.
    connection._usock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    connection.send_QUERY(sql)
    connection._sock.flush()
    sock = connection._sock
    handlers = {code[0]: handler for code, handler in connection.message_types.items()}
    unpack_header = _HEADER.unpack_from
    cut_rows = row_cutter()
    has_data = socket_has_data(connection._usock)
    pending = b""
    received = 0
    ready = False
    while not ready:
        data = _read_batch(sock, pending, has_data)
        if not data:
            raise pg8000.native.InterfaceError("connection lost: the server closed the connection during COPY")
        payload, position, count = cut_rows(data)
        if payload is not None:
            write(payload)
            received += count
        # The rest, message by message: what cut_rows stopped at, up to the end of the chunk.
        size = len(data)
        last_header = size - HEADER_SIZE
        rows = bytearray()
        while position <= last_header:
            code, length = unpack_header(data, position)
            if length < 4 or length > MAX_MESSAGE or (code != _COPY_DATA and code not in handlers):
                raise pg8000.native.InterfaceError(
                    f"protocol error: a message of type {chr(code)!r} and length {length} during COPY"
                )
            message_end = position + 1 + length
            if message_end > size:
                break
            if code == _COPY_DATA:
                rows += data[position + HEADER_SIZE : message_end]
                received += 1
            else:
                if rows:
                    write(bytes(rows))
                    rows = bytearray()
                if code != _COPY_OUT_RESPONSE:  # format details we do not need
                    handlers[code](data[position + HEADER_SIZE : message_end], context)
                if code == _READY_FOR_QUERY:
                    ready = True
                    position = message_end
                    break
            position = message_end
        if rows:
            write(bytes(rows))
        pending = data[position:]
    if pending:
        raise pg8000.native.InterfaceError("protocol error: data after ReadyForQuery")
    if context.error is not None:
        raise context.error
    if received != context.row_count:
        raise pg8000.native.InterfaceError(
            f"protocol error: received {received} rows, the server reports {context.row_count}"
        )
    return received
