"""Open a pg8000 connection to a PostgreSQL target, and say in one line why one could not be opened.

pg8000 reports failures in several shapes: socket errors wrapped in
`InterfaceError` with the cause chained, raw `ssl` errors from the TLS
handshake, `DatabaseError` whose first argument is the server's error fields
(`C` SQLSTATE, `M` message), a few `InterfaceError` texts of its own, and
with SCRAM and no password, an AttributeError. `connect` turns every one of
them into a `SourceConnectionError` whose message names the cause and the
server (`host:port`) and whose hint says what to change. The password is
never part of a message: messages are built from our own words and the
server's, and scrubbed of it besides.

We open the TCP socket ourselves (then hand it to pg8000) so that
unreachable servers are told apart precisely -- refused, timed out, name not
resolved -- and so that TCP keepalives are on with short intervals: a server
that vanishes mid-dump is noticed in about two minutes, not at the Lambda's
15-minute limit.

We also ask for TLS ourselves (the SSLRequest), so that `sslmode=prefer` is
done as libpq does it: TLS (without certificate checks) if the server offers
it, and if it answers that it has none, the startup goes on in plain on the
same connection. (pg8000 raises instead when given our context, and a second
connection doubled the connection time of every stream of a dump.) Unlike
libpq, a TLS handshake that fails under `prefer` is an error, not a retry in
plain.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct

import pg8000.exceptions
import pg8000.native

from smokejumper.errors import UsageError
from smokejumper.sources.dsn import DatabaseTarget, SourceConnectionError

# What the driver raises when the server says no or the connection dies
# (a terminated backend shows up as a reset socket).
DRIVER_ERRORS = (pg8000.native.DatabaseError, pg8000.native.InterfaceError, OSError)


def server_message(exc: BaseException) -> str:
    """One line from a driver error: the server's message and SQLSTATE, or what happened to the connection."""
    if isinstance(exc, OSError):
        return f"connection lost ({exc.strerror or exc})"
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, dict):
        return f"{detail.get('M', detail)} (SQLSTATE {detail.get('C', '?')})"
    return str(detail)


__all__ = ["DRIVER_ERRORS", "connect", "server_message"]

KEEPALIVE_IDLE_S = 60
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_PROBES = 6

# OpenSSL X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code reports them.
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}
_NOT_YET_VALID = 9
_EXPIRED = 10
_NAME_MISMATCH = {62, 64}  # hostname mismatch, IP address mismatch

# The SSLRequest message: its length, then the request code 1234.5679.
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)

_AUTH_METHODS = {2: "Kerberos V5", 4: "crypt", 6: "SCM credentials", 7: "GSSAPI", 8: "GSSAPI", 9: "SSPI"}


def connect(
    target: DatabaseTarget,
    *,
    application_name: str = "smokejumper",
    timeout: float = 30,
    read_timeout: float | None = None,
) -> pg8000.native.Connection:
    """A pg8000 native connection to `target`, or SourceConnectionError with the cause.

    `timeout` bounds connecting: the TCP connect and each wait for the server
    during TLS and authentication. Once connected, a read waits at most
    `read_timeout` seconds (None: as long as the server works; keepalives still
    detect a dead peer), so a long `CREATE INDEX` or `COPY` is not cut short.
    Bad TLS files raise UsageError before anything is sent.
    """
    if target.engine != "postgres":
        raise UsageError(f"{target.redacted()} is not a PostgreSQL DSN", hint="use postgresql://...")
    context = target.tls.ssl_context()
    try:
        connection = _open(target, context, application_name, timeout)
    except SourceConnectionError:
        raise
    except Exception as exc:  # every failure becomes one line with a cause
        raise _explain(exc, target, timeout) from exc
    # pg8000 keeps the socket it was given (TLS-wrapped or not) as `_usock`; pg8000 is pinned.
    connection._usock.settimeout(read_timeout)
    return connection


def _open(
    target: DatabaseTarget,
    ssl_context: ssl.SSLContext | None,
    application_name: str,
    timeout: float,
) -> pg8000.native.Connection:
    try:
        sock: socket.socket = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise _unreachable(exc, target, timeout) from exc
    _tune(sock)
    try:
        if ssl_context is not None:
            sock = _start_tls(sock, ssl_context, target)
        return pg8000.native.Connection(
            target.user,
            host=target.host,  # with sock given, pg8000 uses host only as the TLS server name
            port=target.port,
            database=target.database,
            password=target.password,
            ssl_context=False,  # done above
            timeout=timeout,
            application_name=application_name,
            sock=sock,
        )
    except BaseException:
        sock.close()
        raise


def _start_tls(sock: socket.socket, context: ssl.SSLContext, target: DatabaseTarget) -> socket.socket:
    """The socket wrapped in TLS if the server agrees; plain if it has none and the mode allows that."""
    sock.sendall(_SSL_REQUEST)
    answer = sock.recv(1)
    if answer == b"S":
        return context.wrap_socket(sock, server_hostname=target.host)
    if answer == b"E":  # a server that cannot start a backend (out of processes, say) says why, in plain
        raise _error(
            target,
            f"PostgreSQL at {target.address} refused the connection: {_error_text(sock)}",
            "see the server log",
        )
    if answer == b"N":
        if target.tls.mode == "prefer":
            return sock
        raise _error(
            target,
            f"PostgreSQL at {target.address} does not support TLS, but sslmode={target.tls.mode} requires it",
            "turn on ssl in the server's postgresql.conf; only on a network you trust, "
            "use sslmode=prefer or sslmode=disable",
        )
    raise _error(
        target,
        f"connection to {target.address} was closed during startup"
        if not answer
        else f"{target.address} answered the TLS request with {answer!r}, which PostgreSQL never sends",
        "is this a PostgreSQL server (or a proxy in front of one)? see the server log",
    )


def _error_text(sock: socket.socket) -> str:
    """The message of the ErrorResponse whose type byte was read; what arrives within the timeout."""
    data = b""
    with contextlib.suppress(OSError):
        # Its length (which counts itself), then fields: a type byte and a NUL-terminated text each.
        while len(data) < 4 or len(data) < min(struct.unpack_from("!I", data)[0], 8192):
            more = sock.recv(8192)
            if not more:
                break
            data += more
    fields = {field[:1]: field[1:] for field in data[4:].split(b"\x00") if field}
    text = fields.get(b"M", b"").decode("utf-8", "replace")
    return " ".join(text.split())[:500] or "no reason given"


def _tune(sock: socket.socket) -> None:
    """Keepalives (see the module notes), and no Nagle delay, as libpq does.

    pg8000 ends a COPY FROM with its last data, CopyDone and Sync in separate
    small sends; with Nagle's algorithm on, the last waits for the server's
    delayed ACK: 44 ms at the end of every COPY of a restore (measured), a
    second per 25 tables.
    """
    options = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), KEEPALIVE_IDLE_S),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL_S),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES),
    ]
    for level, option, value in options:
        if option is None:
            continue
        with contextlib.suppress(OSError):  # a platform without this knob keeps the OS default
            sock.setsockopt(level, option, value)


def _unreachable(exc: OSError, target: DatabaseTarget, timeout: float) -> SourceConnectionError:
    where = target.address
    if isinstance(exc, socket.gaierror):
        return _error(
            target,
            f"cannot resolve host name {target.host!r} ({exc.strerror})",
            "check the host in the DSN; from a Lambda, the name must resolve inside its VPC",
        )
    if isinstance(exc, ConnectionRefusedError):
        return _error(
            target,
            f"cannot reach PostgreSQL at {where}: connection refused",
            "nothing listens there: check host and port, that the server runs, and its listen_addresses",
        )
    if isinstance(exc, TimeoutError):
        return _error(
            target,
            f"cannot reach PostgreSQL at {where}: no answer within {timeout:g} s",
            "a firewall or security group is probably dropping the packets; "
            "a Lambda must run in subnets that can reach the database",
        )
    return _error(
        target,
        f"cannot reach PostgreSQL at {where}: {exc.strerror or exc}",
        "check routing, security groups and network ACLs between here and the database",
    )


def _explain(exc: BaseException, target: DatabaseTarget, timeout: float) -> SourceConnectionError:
    where = target.address
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_rejected(exc, target)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.strerror or str(exc)
        if "CERTIFICATE_REQUIRED" in str(reason).upper():
            return _error(
                target,
                f"PostgreSQL at {where} requires a TLS client certificate",
                "give sslcert=PATH and sslkey=PATH in the DSN",
            )
        return _error(
            target,
            f"TLS handshake with {where} failed: {reason}",
            "the server's TLS setup and ours disagree (TLS 1.2 or newer is required); see the server log",
        )
    if isinstance(exc, pg8000.exceptions.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return _server_refused(exc.args[0], target)
    if isinstance(exc, pg8000.exceptions.InterfaceError):
        return _driver_refused(exc, target, timeout)
    if isinstance(exc, AttributeError) and target.password is None:
        # pg8000 1.31.6 dereferences the missing password when the server asks for SCRAM.
        return _no_password(target)
    if isinstance(exc, TimeoutError):
        return _silent(target, timeout)
    if isinstance(exc, OSError):
        return _error(
            target,
            f"connection to {where} failed during startup: {exc.strerror or exc}",
            "is this a PostgreSQL server? see the server log",
        )
    return _error(
        target,
        f"cannot connect to PostgreSQL at {where}: {type(exc).__name__}: {exc}",
        "see the server log; if this persists, report it with this message",
    )


def _error(target: DatabaseTarget, message: str, hint: str) -> SourceConnectionError:
    """A SourceConnectionError on one line, scrubbed of the password whatever its source."""
    one_line = re.sub(r"\s+", " ", message).strip()
    return SourceConnectionError(target.scrub(one_line), hint=target.scrub(hint))


def _certificate_rejected(exc: ssl.SSLCertVerificationError, target: DatabaseTarget) -> SourceConnectionError:
    error = _certificate_problem(exc, target)
    error.error_type = "TlsVerificationFailed"  # no retry will make the certificate verify
    return error


def _certificate_problem(exc: ssl.SSLCertVerificationError, target: DatabaseTarget) -> SourceConnectionError:
    where = target.address
    code = exc.verify_code
    detail = (exc.verify_message or "").rstrip(".")
    if code in _NAME_MISMATCH:
        return _error(
            target,
            f"TLS certificate of {where} does not name {target.host!r}, the host connected to",
            "connect with a host name the certificate lists, or use sslmode=verify-ca to check only the CA",
        )
    if code in _UNKNOWN_ISSUER:
        if target.tls.ca_file:
            hint = (
                f"the server certificate was not issued by the CA in {target.tls.ca_file}: "
                "set sslrootcert to the CA that issued it"
            )
        else:
            hint = (
                "the system CAs do not know the server's CA: set sslrootcert=PATH to the CA that issued it "
                "(Amazon RDS: the region's certificate bundle)"
            )
        return _error(target, f"TLS certificate of {where} is not signed by a trusted CA ({detail})", hint)
    if code == _EXPIRED:
        return _error(
            target,
            f"TLS certificate of {where} has expired",
            "renew the server certificate (or check this machine's clock)",
        )
    if code == _NOT_YET_VALID:
        return _error(
            target, f"TLS certificate of {where} is not valid yet", "check the clocks of this machine and the server"
        )
    return _error(
        target,
        f"TLS certificate of {where} was rejected: {detail or exc}",
        "check the server certificate, or the CA given as sslrootcert",
    )


# SQLSTATEs of a refusal that no retry will change: credentials, pg_hba, a missing database, no CONNECT right.
_PERMANENT_REFUSALS = {"28P01": "AuthenticationFailed", "28000": "AuthenticationFailed",
                       "42501": "AuthenticationFailed", "3D000": "InvalidInput"}  # fmt: skip


def _server_refused(fields: dict[str, str], target: DatabaseTarget) -> SourceConnectionError:
    error = _refusal(fields, target)
    error.error_type = _PERMANENT_REFUSALS.get(fields.get("C", ""), error.error_type)
    return error


def _refusal(fields: dict[str, str], target: DatabaseTarget) -> SourceConnectionError:
    where = target.address
    code = fields.get("C", "")
    text = fields.get("M", "unknown error")
    user, database = target.user, target.database
    if code == "28P01":
        source = f" (taken from {target.password_from})" if target.password_from else ""
        return _error(
            target,
            f'password authentication failed for user "{user}" at {where}',
            f'check the password{source} and that role "{user}" exists: PostgreSQL reports both alike',
        )
    if code == "28000" and text.startswith("no pg_hba.conf entry"):
        if text.endswith("no encryption"):
            return _error(
                target,
                f"PostgreSQL at {where} refused an unencrypted connection: {text}",
                "the server accepts only TLS from here (hostssl, rds.force_ssl): use sslmode=verify-full with "
                "sslrootcert=CA file; otherwise pg_hba.conf has no line for this user, database and address",
            )
        return _error(
            target,
            f"PostgreSQL at {where} has no pg_hba.conf entry for this connection: {text}",
            f'ask the DBA to allow user "{user}" to database "{database}" from this address',
        )
    if code == "28000":
        return _error(
            target,
            f'PostgreSQL at {where} refused user "{user}": {text}',
            f'check the role (ALTER ROLE "{user}" LOGIN) and pg_hba.conf',
        )
    if code == "3D000":
        return _error(
            target,
            f'database "{database}" does not exist at {where}',
            "check the database name at the end of the DSN (psql -l lists them)",
        )
    if code == "42501":
        return _error(
            target,
            f'user "{user}" may not connect to database "{database}" at {where}: {text}',
            f'GRANT CONNECT ON DATABASE "{database}" TO "{user}"',
        )
    if code == "53300":
        return _error(
            target,
            f"PostgreSQL at {where} has no free connection slot: {text}",
            "retry later, lower the backup's concurrency, or raise max_connections / the role's CONNECTION LIMIT",
        )
    if code == "57P03":
        return _error(
            target,
            f"PostgreSQL at {where} is not accepting connections: {text}",
            "the server is starting, stopping or recovering: retry when it is up",
        )
    return _error(
        target,
        f"PostgreSQL at {where} refused the connection: {text} (SQLSTATE {code or 'unknown'})",
        "see the server log for details",
    )


def _driver_refused(
    exc: pg8000.exceptions.InterfaceError, target: DatabaseTarget, timeout: float
) -> SourceConnectionError:
    where = target.address
    text = str(exc)
    if "no password was provided" in text:
        return _no_password(target)
    method = re.match(r"Authentication method (\d+) not", text)
    if method:
        name = _AUTH_METHODS.get(int(method.group(1)), f"method {method.group(1)}")
        return _error(
            target,
            f'PostgreSQL at {where} asks user "{target.user}" for {name} authentication, which pg8000 cannot do',
            "give this role password authentication (scram-sha-256) in pg_hba.conf",
        )
    if text in ("network error", "communication error"):
        if isinstance(exc.__cause__, TimeoutError):
            return _silent(target, timeout)
        return _error(
            target,
            f"connection to {where} was closed during startup",
            "is this a PostgreSQL server (or a proxy in front of one)? see the server log",
        )
    return _error(target, f"cannot connect to PostgreSQL at {where}: {text}", "see the server log")


def _no_password(target: DatabaseTarget) -> SourceConnectionError:
    error = _error(
        target,
        f'PostgreSQL at {target.address} asks for a password for user "{target.user}", but none was given',
        "put it in the DSN, or in $PGPASSWORD or $SMOKEJUMPER_DB_PASSWORD (in Lambda: the database secret)",
    )
    error.error_type = "AuthenticationFailed"
    return error


def _silent(target: DatabaseTarget, timeout: float) -> SourceConnectionError:
    return _error(
        target,
        f"no answer from {target.address} within {timeout:g} s after connecting",
        "is this a PostgreSQL server? an overloaded server or a stuck proxy also looks like this",
    )
