"""Connecting to PostgreSQL: success over verified TLS, and one exact line for each way it fails.

Three private servers (tests/support/private_postgres.py), each started once
for this module: TLS with `host` lines, no TLS at all, and TLS with
`hostssl`-only lines. Every failure message is checked word for word and for
the absence of the password.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pg8000.native
import pytest
from smokejumper.errors import SmokejumperError
from smokejumper.sources.dsn import DatabaseTarget, SourceConnectionError, TlsOptions, parse_dsn
from smokejumper.sources.postgres.connection import connect

from tests.support.private_postgres import PrivatePostgres, make_ca, private_postgres
from tests.support.services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    with private_postgres(tmp_path_factory.mktemp("tls"), tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    with private_postgres(tmp_path_factory.mktemp("plain"), tls=False) as server:
        yield server


@pytest.fixture(scope="module")
def hostssl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    with private_postgres(tmp_path_factory.mktemp("hostssl"), tls=True, hba="hostssl") as server:
        yield server


def target(server: PrivatePostgres, **params: str) -> DatabaseTarget:
    password = params.pop("password", None)
    host = params.pop("host", None)
    database = params.pop("database", None)
    return parse_dsn(server.dsn(host=host, database=database, **params), password=password, environ={})


def verified(server: PrivatePostgres, **params: str) -> DatabaseTarget:
    return target(server, sslmode="verify-full", sslrootcert=str(server.ca_file), **params)


def uses_tls(connection: pg8000.native.Connection) -> bool:
    return connection.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0][0]


def failure(server: PrivatePostgres, where: DatabaseTarget, **kwargs: float) -> SourceConnectionError:
    """The error `connect` raises, checked to be one line and free of any password."""
    with pytest.raises(SourceConnectionError) as caught:
        connect(where, **kwargs)
    error = caught.value
    assert "\n" not in error.message
    assert error.hint
    for secret in filter(None, (server.password, where.password)):
        assert secret not in str(error)
        assert secret not in repr(error)
    return error


# --- success --------------------------------------------------------------------


def test_verify_full_with_the_right_ca_connects_over_tls(tls_server):
    connection = connect(verified(tls_server))
    try:
        assert uses_tls(connection)
        assert connection.run("SELECT current_user, current_setting('application_name')") == [
            ["smokejumper", "smokejumper"]
        ]
    finally:
        connection.close()


def test_verify_full_by_host_name(tls_server):
    connection = connect(verified(tls_server, host="localhost"), application_name="sj-test")
    try:
        assert connection.run("SELECT current_setting('application_name')") == [["sj-test"]]
    finally:
        connection.close()


def test_prefer_uses_tls_when_offered_and_plain_otherwise(tls_server, plain_server):
    with_tls = connect(target(tls_server, sslmode="prefer"))
    without = connect(target(plain_server))  # loopback, no sslmode: prefer
    try:
        assert uses_tls(with_tls)
        assert not uses_tls(without)
    finally:
        with_tls.close()
        without.close()


def test_a_copy_in_does_not_wait_for_a_delayed_ack(plain_server):
    """Nagle's algorithm held pg8000's final Sync of every COPY FROM until the server's delayed ACK."""
    connection = connect(target(plain_server))
    try:
        assert connection._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        connection.run("CREATE TEMP TABLE landing (n int)")
        connection.run("COPY landing FROM STDIN", stream=iter([b"1\n", b"2\n"]))
        assert connection.run("SELECT sum(n) FROM landing") == [[3]]
    finally:
        connection.close()


def test_prefer_without_tls_on_the_server_needs_one_connection(plain_server, monkeypatch):
    opened: list[tuple[str, int]] = []
    real_create_connection = socket.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    connection = connect(target(plain_server, sslmode="prefer"))
    try:
        assert connection.run("SELECT 1") == [[1]]
        assert not uses_tls(connection)
    finally:
        connection.close()
    assert opened == [("127.0.0.1", plain_server.port)]


def test_verify_ca_ignores_the_host_name(tls_server):
    ca_file = str(tls_server.ca_file)
    connection = connect(target(tls_server, host=tls_server.other_host, sslmode="verify-ca", sslrootcert=ca_file))
    connection.close()


def test_hostssl_server_accepts_verified_tls(hostssl_server):
    connection = connect(verified(hostssl_server))
    try:
        assert uses_tls(connection)
    finally:
        connection.close()


def test_timeouts_on_the_socket(tls_server):
    connection = connect(verified(tls_server), read_timeout=120)
    try:
        assert connection._usock.gettimeout() == 120
        assert connection._usock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert connection._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        connection.close()
    connection = connect(verified(tls_server))
    try:
        assert connection._usock.gettimeout() is None
    finally:
        connection.close()


# --- authentication and database ------------------------------------------------------


def test_wrong_password(tls_server):
    error = failure(tls_server, verified(tls_server, password="not-the-password"))
    assert error.message == f'password authentication failed for user "smokejumper" at 127.0.0.1:{tls_server.port}'
    assert error.hint == (
        'check the password (taken from the given password) and that role "smokejumper" exists: '
        "PostgreSQL reports both alike"
    )


def test_unknown_role_reads_like_a_wrong_password(tls_server):
    where = replace(verified(tls_server), user="nobody")
    error = failure(tls_server, where)
    assert error.message == f'password authentication failed for user "nobody" at 127.0.0.1:{tls_server.port}'
    assert "(taken from the DSN)" in (error.hint or "")


def test_no_password_given(tls_server):
    where = replace(verified(tls_server), password=None)
    error = failure(tls_server, where)
    assert error.message == (
        f'PostgreSQL at 127.0.0.1:{tls_server.port} asks for a password for user "smokejumper", but none was given'
    )


def test_unknown_database(tls_server):
    error = failure(tls_server, verified(tls_server, database="no_such_db"))
    assert error.message == f'database "no_such_db" does not exist at 127.0.0.1:{tls_server.port}'


def test_role_that_may_not_log_in_and_role_without_free_slots(tls_server):
    admin = connect(verified(tls_server))
    try:
        admin.run("DROP ROLE IF EXISTS no_login")
        admin.run("DROP ROLE IF EXISTS no_slots")
        admin.run("CREATE ROLE no_login NOLOGIN PASSWORD 'pw-no-login'")
        admin.run("CREATE ROLE no_slots LOGIN CONNECTION LIMIT 0 PASSWORD 'pw-no-slots'")
    finally:
        admin.close()
    base = verified(tls_server)
    error = failure(tls_server, replace(base, user="no_login", password="pw-no-login"))
    assert error.message == (
        f'PostgreSQL at 127.0.0.1:{tls_server.port} refused user "no_login": role "no_login" is not permitted to log in'
    )
    error = failure(tls_server, replace(base, user="no_slots", password="pw-no-slots"))
    assert error.message == (
        f"PostgreSQL at 127.0.0.1:{tls_server.port} has no free connection slot: "
        'too many connections for role "no_slots"'
    )
    assert "CONNECTION LIMIT" in (error.hint or "")


# --- reaching the server -----------------------------------------------------------------


def test_closed_port(tls_server):
    port = free_port()  # bound and released: nothing listens there now
    where = replace(verified(tls_server), port=port)
    error = failure(tls_server, where)
    assert error.message == f"cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused"


def test_name_that_does_not_resolve(tls_server, monkeypatch):
    def no_such_name(*args: object, **kwargs: object) -> socket.socket:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", no_such_name)
    where = replace(verified(tls_server), host="db.example.invalid")
    error = failure(tls_server, where)
    assert error.message == "cannot resolve host name 'db.example.invalid' (Name or service not known)"


def test_connect_timeout(tls_server, monkeypatch):
    def dropped(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", dropped)
    where = replace(verified(tls_server), host="10.9.8.7")
    error = failure(tls_server, where, timeout=2.5)
    assert error.message == f"cannot reach PostgreSQL at 10.9.8.7:{tls_server.port}: no answer within 2.5 s"
    assert "security group" in (error.hint or "")


@pytest.mark.parametrize("sslmode", ["disable", "require"])
def test_server_that_never_answers(tls_server, sslmode):
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()  # the kernel accepts; nobody ever speaks
        port = mute.getsockname()[1]
        where = replace(target(tls_server, sslmode=sslmode), port=port)
        error = failure(tls_server, where, timeout=0.3)
    assert error.message == f"no answer from 127.0.0.1:{port} within 0.3 s after connecting"


def failure_after_answer(server: PrivatePostgres, answer: bytes, sslmode: str) -> tuple[SourceConnectionError, int]:
    """The error `connect` raises when what listens answers the TLS request with `answer`, and its port."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_once() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.recv(8)
                peer.sendall(answer)

        thread = threading.Thread(target=answer_once)
        thread.start()
        error = failure(server, replace(target(server, sslmode=sslmode), port=port), timeout=5)
        thread.join()
    return error, port


def test_a_server_that_cannot_start_a_backend_says_why(tls_server):
    """PostgreSQL answers the TLS request with an ErrorResponse when it cannot fork (libpq shows it)."""
    text = b"could not fork new process for connection: Resource temporarily unavailable"
    fields = b"SFATAL\x00C53000\x00M" + text + b"\x00\x00"
    error, port = failure_after_answer(tls_server, b"E" + struct.pack("!I", len(fields) + 4) + fields, "require")
    assert error.message == f"PostgreSQL at 127.0.0.1:{port} refused the connection: {text.decode()}"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "connection to 127.0.0.1:{port} was closed during startup"),
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            "127.0.0.1:{port} answered the TLS request with b'H', which PostgreSQL never sends",
        ),
    ],
)
def test_something_else_than_postgresql_listens(tls_server, answer, message):
    error, port = failure_after_answer(tls_server, answer, "prefer")
    assert error.message == message.format(port=port)
    assert "is this a PostgreSQL server" in (error.hint or "")


# --- TLS ---------------------------------------------------------------------------------


def test_tls_required_but_server_has_none(plain_server, tmp_path):
    ca_file, _, _ = make_ca(tmp_path, "some-ca")
    error = failure(plain_server, target(plain_server, sslmode="verify-full", sslrootcert=str(ca_file)))
    assert error.message == (
        f"PostgreSQL at 127.0.0.1:{plain_server.port} does not support TLS, but sslmode=verify-full requires it"
    )
    error = failure(plain_server, target(plain_server, sslmode="require"))
    assert error.message.endswith("does not support TLS, but sslmode=require requires it")


def test_unknown_ca(tls_server):
    wrong = str(tls_server.wrong_ca_file)
    error = failure(tls_server, target(tls_server, sslmode="verify-full", sslrootcert=wrong))
    assert error.message == (
        f"TLS certificate of 127.0.0.1:{tls_server.port} is not signed by a trusted CA "
        "(unable to get local issuer certificate)"
    )
    assert error.hint == (
        f"the server certificate was not issued by the CA in {wrong}: set sslrootcert to the CA that issued it"
    )


def test_unknown_ca_with_system_cas(tls_server):
    error = failure(tls_server, target(tls_server, sslmode="verify-full"))
    assert error.message.startswith(f"TLS certificate of 127.0.0.1:{tls_server.port} is not signed by a trusted CA")
    assert error.hint == (
        "the system CAs do not know the server's CA: set sslrootcert=PATH to the CA that issued it "
        "(Amazon RDS: the region's certificate bundle)"
    )


def test_hostname_mismatch(tls_server):
    # The certificate names localhost and 127.0.0.1; the server also listens on 127.0.0.2.
    error = failure(tls_server, verified(tls_server, host=tls_server.other_host))
    assert error.message == (
        f"TLS certificate of 127.0.0.2:{tls_server.port} does not name '127.0.0.2', the host connected to"
    )
    assert error.hint == (
        "connect with a host name the certificate lists, or use sslmode=verify-ca to check only the CA"
    )


def test_plain_connection_to_hostssl_only_server(hostssl_server):
    error = failure(hostssl_server, target(hostssl_server, sslmode="disable"))
    assert error.message == (
        f"PostgreSQL at 127.0.0.1:{hostssl_server.port} refused an unencrypted connection: "
        'no pg_hba.conf entry for host "127.0.0.1", user "smokejumper", database "postgres", no encryption'
    )
    assert (error.hint or "").startswith("the server accepts only TLS from here")


def test_bad_tls_files_fail_before_connecting(tls_server, tmp_path):
    where = replace(verified(tls_server), tls=TlsOptions(ca_file=str(tmp_path / "nope.pem")))
    with pytest.raises(SmokejumperError) as caught:
        connect(where)
    assert caught.value.exit_code == 2
    assert caught.value.message == f"TLS CA file {tmp_path / 'nope.pem'} does not exist"


def test_other_engines_are_refused(tls_server):
    where = replace(verified(tls_server), engine="mysql")
    with pytest.raises(SmokejumperError, match="is not a PostgreSQL DSN"):
        connect(where)
