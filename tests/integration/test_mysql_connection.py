"""Connecting to MySQL/MariaDB: success over verified TLS, one exact line for each way it fails, binlog coordinates.

One private MariaDB (tests/support/private_mariadb.py) with TLS and a binary
log, started once for this module. A server without TLS under ssl-mode=REQUIRED
is covered against the shared server in test_mysql_faults.py and not repeated.
Every failure message is checked to be one line, to name the cause and the
server, and to hold no password.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.sources.dsn import DatabaseTarget, SourceConnectionError, parse_dsn
from smokejumper.sources.mysql.connection import connect
from smokejumper.sources.mysql.dump import dump_database
from smokejumper.store import open_store

from tests.support.private_mariadb import PrivateMariadb, private_mariadb

pytestmark = pytest.mark.integration

ROWS = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariadb]:
    with private_mariadb(tmp_path_factory.mktemp("mariadb")) as running:
        yield running


@pytest.fixture
def table(server: PrivateMariadb) -> Iterator[str]:
    """A fresh InnoDB table of ROWS rows in the test database, dropped after."""
    admin = server.admin()
    with admin.cursor() as cursor:
        cursor.execute(f"USE `{server.database}`")
        cursor.execute("DROP TABLE IF EXISTS notes")
        cursor.execute("CREATE TABLE notes (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB")
        cursor.execute(f"INSERT INTO notes SELECT seq, MD5(seq) FROM seq_1_to_{ROWS}")
    try:
        yield "notes"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{server.database}`.notes")
        admin.close()


def target(
    server: PrivateMariadb, *, host: str | None = None, password: str | None = None, **params: str
) -> DatabaseTarget:
    """The server as a DSN would name it; `password` replaces the real one (the DSN then carries none)."""
    url = server.dsn(host=host, password=password is None, **params)
    return parse_dsn(url, password=password, environ={})


def verified(server: PrivateMariadb, *, ca: Path | None = None, **kwargs: str) -> DatabaseTarget:
    params = {"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": str(ca or server.ca_file)}
    return target(server, **kwargs, **params)


def tls_version(connection: pymysql.connections.Connection) -> str:
    """The session's TLS version as the server sees it; empty when the session is plaintext."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        row = cursor.fetchone()
    value = row[1] if row else b""
    return value.decode() if isinstance(value, bytes) else str(value)


def failure(server: PrivateMariadb, where: DatabaseTarget) -> SourceConnectionError:
    """The error `connect` raises, checked to be one line, to name the server and to hold no password."""
    with pytest.raises(SourceConnectionError) as caught:
        connect(where, timeout=5)
    error = caught.value
    assert "\n" not in error.message
    assert error.hint
    assert f"MySQL at {where.address}: " in error.message
    for secret in filter(None, (server.password, where.password)):
        assert secret not in str(error)
        assert secret not in repr(error)
    return error


def dump(server: PrivateMariadb, where: DatabaseTarget, tmp_path: Path) -> ArtifactRecord:
    connection = connect(where)
    try:
        return dump_database(connection, ArtifactWriter(open_store(str(tmp_path)), "", engine="mysql", name="x"))
    finally:
        connection.close()


# --- success --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_identity_with_the_right_ca_connects_over_tls(server: PrivateMariadb, host: str) -> None:
    connection = connect(verified(server, host=host))
    try:
        assert tls_version(connection).startswith("TLSv1.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER(), DATABASE()")
            assert cursor.fetchone() == (f"{server.user}@%".encode(), server.database.encode())
    finally:
        connection.close()


def test_a_dump_through_verified_tls_is_whole(server: PrivateMariadb, table: str, tmp_path: Path) -> None:
    record = dump(server, verified(server), tmp_path)
    frames = {frame.name: frame for file in record.files for frame in file.frames}
    assert frames[table].rows == ROWS
    assert record.source["database"] == server.database
    assert (tmp_path / "artifact.json").is_file()


def test_verify_ca_does_not_check_the_name(server: PrivateMariadb) -> None:
    """127.0.0.2 is not in the certificate: VERIFY_CA still connects (chain checked, name not)."""
    where = target(server, host=server.other_host, **{"ssl-mode": "VERIFY_CA", "ssl-ca": str(server.ca_file)})
    connection = connect(where)
    try:
        assert tls_version(connection)
    finally:
        connection.close()


@pytest.mark.parametrize(("mode", "encrypted"), [("DISABLED", False), ("PREFERRED", True), ("REQUIRED", True)])
def test_modes_without_a_ca(server: PrivateMariadb, mode: str, encrypted: bool) -> None:
    """DISABLED stays plaintext on a TLS server; PREFERRED and REQUIRED use TLS when it is offered."""
    connection = connect(target(server, **{"ssl-mode": mode}))
    try:
        assert bool(tls_version(connection)) is encrypted
    finally:
        connection.close()


# --- failures -------------------------------------------------------------------


def test_an_unknown_ca_is_named(server: PrivateMariadb) -> None:
    error = failure(server, verified(server, ca=server.wrong_ca_file))
    assert "the server's certificate is not signed by a trusted CA" in error.message
    assert "ssl-ca=" in str(error.hint)


def test_a_host_the_certificate_does_not_name(server: PrivateMariadb) -> None:
    error = failure(server, verified(server, host=server.other_host))
    assert f"the server's certificate does not name {server.other_host}" in error.message
    assert "VERIFY_CA" in str(error.hint)


@pytest.mark.parametrize("params", [{"ssl-mode": "DISABLED"}, {"ssl-mode": "VERIFY_IDENTITY"}])
def test_a_wrong_password_is_access_denied(server: PrivateMariadb, params: dict[str, str]) -> None:
    """Over plaintext and over verified TLS alike (the check happens after the TLS handshake)."""
    if params["ssl-mode"] == "VERIFY_IDENTITY":
        params = {**params, "ssl-ca": str(server.ca_file)}
    wrong = "not-the-password-" + server.password
    error = failure(server, target(server, password=wrong, **params))
    assert f"access denied for user '{server.user}'" in error.message
    assert "not-the-password" not in str(error)


def test_error_types_tell_credentials_from_tls_whatever_the_names(server: PrivateMariadb) -> None:
    # A wrong password is AuthenticationFailed even for a user whose name says "ssl"; a certificate that
    # does not verify is TlsVerificationFailed; neither is "unreachable", which a workflow would retry.
    wrong = failure(server, target(server, password="wrong-" + server.password, **{"ssl-mode": "DISABLED"}))
    assert wrong.error_type == "AuthenticationFailed"
    ssl_user = replace(target(server, **{"ssl-mode": "DISABLED"}), user="ssl_backup", password="x")
    assert failure(server, ssl_user).error_type == "AuthenticationFailed"
    assert failure(server, verified(server, host=server.other_host)).error_type == "TlsVerificationFailed"


def test_a_password_the_driver_cannot_send_is_named_not_shown(server: PrivateMariadb) -> None:
    # PyMySQL sends passwords as Latin-1; its own error would quote the password.
    error = failure(server, target(server, password="S3cr€t-pw", **{"ssl-mode": "DISABLED"}))
    assert "outside Latin-1" in error.message
    assert error.error_type == "AuthenticationFailed"
    assert "S3cr" not in str(error)


# --- binlog ---------------------------------------------------------------------


def test_the_dump_records_the_binlog_position_and_gtid(server: PrivateMariadb, table: str, tmp_path: Path) -> None:
    admin = server.admin()
    try:
        with admin.cursor() as cursor:
            # Writes after the table was made: the coordinates must move past them.
            cursor.execute(f"UPDATE `{server.database}`.{table} SET note = 'changed' WHERE id <= 10")
            cursor.execute(f"DELETE FROM `{server.database}`.{table} WHERE id > {ROWS - 5}")
            cursor.execute("SHOW MASTER STATUS")
            file, position = cursor.fetchone()[:2]
            cursor.execute("SELECT @@gtid_binlog_pos")
            (gtid,) = cursor.fetchone()
        record = dump(server, verified(server), tmp_path)
        with admin.cursor() as cursor:
            cursor.execute("SHOW MASTER STATUS")
            assert cursor.fetchone()[:2] == (file, position), "nothing wrote to the binlog during the dump"
    finally:
        admin.close()
    assert gtid, "the server has logged transactions, so it has a GTID position"
    point = record.snapshot_point
    assert (point["binlog_file"], point["binlog_position"]) == (file, position)
    assert point["gtid"] == gtid
    frames = {frame.name: frame for file in record.files for frame in file.frames}
    assert frames[table].rows == ROWS - 5
