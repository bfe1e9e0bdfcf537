"""Open a PyMySQL connection to a MySQL/MariaDB target, and say in one line why one could not be opened.

PyMySQL reports failures as `OperationalError(code, text)`: 2003 for a
socket that could not connect (the OS error in the text), 1045 for a wrong
user or password, 1049 for an unknown database, 2013 for a connection lost
during the handshake, and raw `ssl` errors (sometimes wrapped) for a TLS
handshake that failed. `connect` turns each into a `SourceConnectionError`
that names the cause and the server and says what to change; the password
is never part of a message.

TLS follows the DSN's libpq-style mode: `disable` sends no TLS request,
`prefer` lets PyMySQL use TLS without certificate checks when the server
offers it (PyMySQL's own default), and every stricter mode passes our
`ssl.SSLContext`, so a server without TLS fails instead of being used in
the clear.
"""

from __future__ import annotations

import ssl
from typing import Any

import pymysql
import pymysql.cursors

from smokejumper.sources.dsn import DatabaseTarget, SourceConnectionError

__all__ = ["DRIVER_ERRORS", "connect", "server_message"]

DRIVER_ERRORS = (pymysql.err.Error, OSError)

_ACCESS_DENIED = {1044, 1045, 1698}
_UNKNOWN_DATABASE = 1049
_CANNOT_CONNECT = {2003, 2002}
_LOST = {2013, 2006}
_SSL_CONNECTION_ERROR = 2026  # CR_SSL_CONNECTION_ERROR


def server_message(exc: BaseException) -> str:
    """One line: the server's (or driver's) error code and text."""
    if isinstance(exc, pymysql.err.Error) and len(exc.args) >= 2:
        return f"{exc.args[1]} (error {exc.args[0]})"
    return " ".join(str(exc).split()) or type(exc).__name__


def connect(
    target: DatabaseTarget,
    *,
    timeout: float = 30,
    read_timeout: float | None = None,
    streaming: bool = False,
) -> pymysql.connections.Connection:
    """A PyMySQL connection to `target` (utf8mb4, autocommit on, raw bytes out), or SourceConnectionError.

    Values come back as the server's bytes (`use_unicode=False`, no type
    conversion): the dump copies them into SQL without a round trip through
    Python types, and DDL with binary defaults cannot break the decoder.
    `streaming` makes cursors unbuffered (rows are read as they arrive).
    """
    options: dict[str, Any] = {
        "host": target.host,
        "port": target.port,
        "user": target.user,
        "password": target.password or "",
        "database": target.database,
        "charset": "utf8mb4",
        "use_unicode": False,
        "conv": {},
        "autocommit": True,
        "connect_timeout": timeout,
        "read_timeout": read_timeout,
        "write_timeout": read_timeout,
        "program_name": "smokejumper",
        "cursorclass": pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
    }
    if target.tls.mode == "disable":
        options["ssl_disabled"] = True
    elif target.tls.mode != "prefer":
        options["ssl"] = target.tls.ssl_context()
    try:
        return pymysql.connect(**options)
    except pymysql.err.OperationalError as exc:
        raise _explain(exc, target) from None
    except ssl.SSLError as exc:
        raise _tls_failed(str(exc), target) from None
    except UnicodeEncodeError:
        # PyMySQL sends the password as Latin-1; the exception would quote the password itself.
        refused = _error(
            target,
            f"the password of user {target.user!r} has characters outside Latin-1, which PyMySQL cannot send",
            "use a password of ASCII characters for the backup user",
        )
        refused.error_type = "AuthenticationFailed"
        raise refused from None
    except Exception as exc:  # whatever the driver raises, never let its text carry the password
        raise _error(
            target, f"cannot connect: {type(exc).__name__}: {target.scrub(str(exc))}", "see the server's log"
        ) from None


def _error(target: DatabaseTarget, message: str, hint: str) -> SourceConnectionError:
    return SourceConnectionError(target.scrub(f"MySQL at {target.address}: {message}"), hint=target.scrub(hint))


def _tls_failed(detail: str, target: DatabaseTarget) -> SourceConnectionError:
    error = _tls_problem(detail, target)
    if "certificate" in error.message:
        error.error_type = "TlsVerificationFailed"  # no retry will make the certificate verify
    return error


def _tls_problem(detail: str, target: DatabaseTarget) -> SourceConnectionError:
    detail = " ".join(detail.split())
    if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
        if "match" in detail or "mismatch" in detail:
            return _error(
                target,
                f"the server's certificate does not name {target.host} ({detail})",
                "connect with the name the certificate carries, or use ssl-mode=VERIFY_CA",
            )
        return _error(
            target,
            f"the server's certificate is not signed by a trusted CA ({detail})",
            "pass the CA that signed it with ssl-ca=/path/ca.pem (for RDS, the RDS CA bundle)",
        )
    if "WRONG_VERSION_NUMBER" in detail or "wrong version number" in detail:
        return _error(target, "the server did not answer TLS", "check the port, or that the server has TLS on")
    return _error(target, f"TLS handshake failed ({detail})", "check ssl-mode, ssl-ca and the server's TLS setup")


def _explain(exc: pymysql.err.OperationalError, target: DatabaseTarget) -> SourceConnectionError:
    code = exc.args[0] if exc.args else None
    text = " ".join(str(exc.args[1] if len(exc.args) > 1 else exc).split())
    cause = exc.__cause__ or exc.__context__
    # Only a TLS failure, never a user or host name that happens to contain "ssl".
    if isinstance(cause, ssl.SSLError) or code == _SSL_CONNECTION_ERROR or "SSL:" in text:
        return _tls_failed(str(cause or text), target)
    if code in _ACCESS_DENIED:
        source = f" (password from {target.password_from})" if target.password_from else ""
        denied = _error(
            target,
            f"access denied for user {target.user!r}{source}",
            "check the user name and password (MYSQL_PWD, or the secret), and the host the user may connect from",
        )
        denied.error_type = "AuthenticationFailed"
        return denied
    if code == _UNKNOWN_DATABASE:
        unknown = _error(
            target,
            f"there is no database {target.database!r}",
            "check the database name in the DSN (SHOW DATABASES lists them)",
        )
        unknown.error_type = "InvalidInput"
        return unknown
    if code in _CANNOT_CONNECT:
        if "refused" in text.lower():
            return _error(target, "connection refused", "check the host and port, and that the server is running")
        if "timed out" in text.lower():
            return _error(target, "no answer (timed out)", "check the host, the port, security groups and routes")
        if "Name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
            return _error(target, f"host name {target.host!r} not found", "check the host name in the DSN")
        return _error(target, f"cannot connect ({text})", "check the host and port")
    if code in _LOST:
        if target.tls.verifies_certificate or target.tls.mode == "require":
            return _error(
                target,
                "the server closed the connection during the handshake (it may not have TLS on)",
                "check that the server has TLS enabled, or lower ssl-mode for a loopback test server",
            )
        return _error(target, f"connection lost during the handshake ({text})", "check the port and the server's log")
    return _error(target, f"cannot connect: {text} (error {code})", "check the DSN and the server's log")
