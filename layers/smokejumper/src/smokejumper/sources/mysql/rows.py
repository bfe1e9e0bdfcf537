"""Read a one-column result set at the speed of the socket.

PyMySQL turns each row packet into Python objects through several calls (a
packet object, a row tuple, length decoding): about 2 µs a row, most of a
dump's time. The dump asks the server for one column per row (the row's
VALUES tuple, already SQL: see schema.Column.literal), so here the row
packets are cut straight out of the socket buffer in one tight loop, and
everything else (the result set's header, an error packet) stays PyMySQL's.

This relies on PyMySQL internals (`_rfile`, `_sock`, `_read_timeout`,
`_next_seq_id`, the unbuffered `MySQLResult`): PyMySQL is pinned, and the
round-trip tests compare every byte through the mysqldump oracle.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pymysql
from pymysql.constants import CLIENT, CR
from pymysql.protocol import MysqlPacket

__all__ = ["one_column_values"]

CHUNK = 256 * 1024
MAX_PACKET = 0xFFFFFF  # a payload this long continues in the next packet
_HEADER = struct.Struct("<HBB")  # payload length (low 16 bits, high 8 bits), sequence number


def _lost(connection: pymysql.connections.Connection) -> pymysql.err.OperationalError:
    connection._force_close()
    return pymysql.err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")


def _value(payload: bytes | memoryview) -> bytes:
    """The one length-encoded string a row payload holds."""
    first = payload[0]
    skip = 1 if first < 0xFB else {0xFC: 3, 0xFD: 4, 0xFE: 9}.get(first)
    if skip is None:
        # 0xFB is NULL. The dump's tuples never are, unless the server gave up building one:
        # a result longer than max_allowed_packet becomes NULL (with warning 1301).
        raise pymysql.err.DataError(
            1301, "the server could not build a row's SQL text: it is longer than max_allowed_packet"
        )
    return bytes(payload[skip:])


def one_column_values(cursor: pymysql.cursors.SSCursor, sql: str, on_rows: Callable[[list[bytes]], None]) -> int:
    """Run `sql` (a SELECT of one non-NULL column) and hand its values to `on_rows`, a list at a time.

    Returns the number of rows. Raises PyMySQL's errors (a server error
    packet, a lost connection) as PyMySQL would.
    """
    connection = cursor.connection
    if connection.client_flag & CLIENT.DEPRECATE_EOF:
        # Then a result ends with an OK packet, not the EOF packet this reader looks for.
        raise pymysql.err.InterfaceError("one_column_values needs a connection without CLIENT_DEPRECATE_EOF")
    cursor.execute(sql)
    result = cursor._result
    if result is None or not result.unbuffered_active or result.field_count != 1:
        raise pymysql.err.InterfaceError("one_column_values needs an unbuffered one-column SELECT")
    if connection._current_timeout != connection._read_timeout:
        connection._sock.settimeout(connection._read_timeout)
        connection._current_timeout = connection._read_timeout
    count = 0
    try:
        for values in _read_rows(connection, result):
            count += len(values)
            on_rows(values)
    except pymysql.err.MySQLError as exc:
        if connection._sock is not None and result.unbuffered_active:  # type: ignore[attr-defined]
            _abandon(connection, result)
        raise exc
    except BaseException:
        # Bytes of this result are still in our buffer or on the wire: PyMySQL could not read
        # the next reply correctly, so the connection is closed and the original error kept.
        _abandon(connection, result)
        raise
    return count


def _abandon(connection: pymysql.connections.Connection, result: object) -> None:
    result.unbuffered_active = False  # type: ignore[attr-defined]
    result.connection = None  # type: ignore[attr-defined]
    connection._force_close()


def _read_rows(connection: pymysql.connections.Connection, result: object) -> Iterator[list[bytes]]:
    rfile = connection._rfile
    sequence = connection._next_seq_id
    unpack = _HEADER.unpack_from
    pending = b""
    continued: list[bytes] = []  # the parts of a row longer than one packet
    while True:
        try:
            chunk = rfile.read1(CHUNK)
        except OSError:
            raise _lost(connection) from None
        if not chunk:
            raise _lost(connection)
        data = pending + chunk if pending else chunk
        size = len(data)
        position = 0
        values: list[bytes] = []
        while position + 4 <= size:
            low, high, number = unpack(data, position)
            length = low | high << 16
            end = position + 4 + length
            if end > size:
                break
            if number != sequence:
                raise _lost(connection)
            sequence = (sequence + 1) & 0xFF
            first = data[position + 4] if length else -1
            if length == MAX_PACKET or continued:
                continued.append(data[position + 4 : end])
                if length < MAX_PACKET:
                    values.append(_value(b"".join(continued)))
                    continued = []
            elif first < 0xFB:
                values.append(data[position + 5 : end])
            elif first == 0xFC:  # 251 to 65535 bytes: most rows of a real table
                values.append(data[position + 7 : end])
            elif first == 0xFE and length < 9:  # EOF: the last row was sent
                if end != size:
                    raise pymysql.err.InternalError("data after the end of a result set")
                if values:
                    yield values
                connection._next_seq_id = sequence
                result.unbuffered_active = False  # type: ignore[attr-defined]
                result.connection = None  # type: ignore[attr-defined]
                return
            elif first == 0xFF:
                result.unbuffered_active = False  # type: ignore[attr-defined]
                connection._next_seq_id = sequence
                MysqlPacket(data[position + 4 : end], connection.encoding).raise_for_error()
            else:
                values.append(_value(data[position + 4 : end]))
            position = end
        if values:
            yield values
        pending = data[position:]
