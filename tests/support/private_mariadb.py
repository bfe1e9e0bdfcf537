"""A private MariaDB server for tests that need what the shared one lacks.

The shared server at 127.0.0.1:3306 has no TLS, no binary log and a root
without a password, and must not be reconfigured, so it cannot show a
verified TLS session, an untrusted certificate, a wrong password or the
binlog coordinates of a snapshot. This one is made in a few seconds
(`mariadb-install-db`, then `mariadbd` with durability turned down) on a free
loopback port, with:

- a user `smokejumper` with a password full of URL-special characters, owning
  the database `smokejumper`;
- TLS: a throw-away CA signs a server certificate for DNS:localhost and
  IP:127.0.0.1 only; a second, unrelated CA is written for "unknown CA" tests;
- a second listening address, 127.0.0.2, that the certificate does not name,
  for hostname-mismatch tests;
- the binary log on (`--log-bin`, `--server-id=1`), so GTIDs and snapshot
  coordinates exist.

`mariadbd` runs as the current user (`--user` is required when that is root).
Every server file lives in a temporary directory under /tmp (a Unix socket
path must stay short), removed when the `with` block ends.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pymysql
import pytest

# The certificate code is shared with the private PostgreSQL: same CA and SAN layout.
from tests.support.private_postgres import make_ca, make_server_cert
from tests.support.services import free_port, stop_process

HOST = "127.0.0.1"
OTHER_HOST = "127.0.0.2"  # also listened on; not in the server certificate
USER = "smokejumper"
DATABASE = "smokejumper"
MARIADBD = Path(os.environ.get("SMOKEJUMPER_TEST_MARIADBD", "/usr/sbin/mariadbd"))
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class PrivateMariadb:
    """Where the private server is and what a client needs to reach it."""

    host: str
    other_host: str
    port: int
    user: str
    password: str
    database: str
    socket: Path
    data_dir: Path
    log: Path
    ca_file: Path
    wrong_ca_file: Path

    def dsn(self, *, host: str | None = None, password: bool = True, database: str | None = None, **params: str) -> str:
        """A mysql:// URL for this server; `params` become the query string (e.g. `**{"ssl-mode": "DISABLED"}`)."""
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + quote(self.password, safe="")
        query = "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in params.items())
        url = f"mysql://{auth}@{host or self.host}:{self.port}/{quote(database or self.database, safe='')}"
        return f"{url}?{query}" if query else url

    def admin(self) -> pymysql.connections.Connection:
        """root over the Unix socket: no password, no TLS, whatever the TCP side is being tested for."""
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True, connect_timeout=10)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no server log)"


def _install(data_dir: Path, log: Path) -> None:
    installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if installer is None:
        pytest.fail("mariadb-install-db not found: apt-get install mariadb-server", pytrace=False)
    done = subprocess.run(
        [
            installer,
            "--no-defaults",  # the machine's my.cnf belongs to the shared server
            f"--user={getpass.getuser()}",
            f"--datadir={data_dir}",
            # root may log in without a password (we only use it over our own socket), not via unix_socket auth.
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        pytest.fail(f"mariadb-install-db failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)


def _wait_ready(server: PrivateMariadb, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mariadbd exited with {process.returncode} at start:\n{server.log_tail()}", pytrace=False)
        if server.socket.exists():
            try:
                server.admin().close()
                return
            except pymysql.err.Error as exc:
                last_error = exc
        time.sleep(0.05)
    pytest.fail(
        f"mariadbd on {HOST}:{server.port} not ready after {START_TIMEOUT}s ({last_error}):\n{server.log_tail()}",
        pytrace=False,
    )


def _create_user_and_database(server: PrivateMariadb) -> None:
    admin = server.admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{server.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            # '%' so the user can come in over both loopback addresses; the password is
            # interpolated client-side by PyMySQL with proper escaping.
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (server.user, server.password))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{server.database}`.* TO %s@'%%'", (server.user,))
    finally:
        admin.close()


@contextmanager
def private_mariadb(client_dir: Path) -> Iterator[PrivateMariadb]:
    """Run a private MariaDB with TLS and a binary log for the duration of the `with` block.

    `client_dir` receives what a client needs (the CA files); the server's own
    files live in a temporary directory, removed after.
    """
    if not MARIADBD.is_file():
        pytest.fail(f"{MARIADBD} not found (set SMOKEJUMPER_TEST_MARIADBD)", pytrace=False)
    client_dir.mkdir(parents=True, exist_ok=True)
    # Characters that must be percent-encoded in a URL, so DSN tests exercise decoding.
    password = f"p@ss:w/rd?#%{secrets.token_hex(6)}"
    server_dir = Path(tempfile.mkdtemp(prefix="smokejumper-mariadb-"))
    data_dir = server_dir / "data"
    log = server_dir / "server.log"
    ca_file, ca_cert, ca_key = make_ca(client_dir, "test-ca")
    wrong_ca_file, _, _ = make_ca(client_dir, "untrusted-ca")
    server_cert, server_key = server_dir / "server.crt", server_dir / "server.key"
    make_server_cert(ca_cert, ca_key, server_cert, server_key, dns_names=("localhost",), ip_addresses=(HOST,))
    server = PrivateMariadb(
        host=HOST,
        other_host=OTHER_HOST,
        port=free_port(),
        user=USER,
        password=password,
        database=DATABASE,
        socket=server_dir / "mariadb.sock",
        data_dir=data_dir,
        log=log,
        ca_file=ca_file,
        wrong_ca_file=wrong_ca_file,
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        _install(data_dir, server_dir / "install.log")
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    str(MARIADBD),
                    "--no-defaults",  # must come first; keeps /etc/mysql out of it
                    f"--user={getpass.getuser()}",
                    f"--datadir={data_dir}",
                    f"--port={server.port}",
                    f"--bind-address={HOST},{OTHER_HOST}",
                    f"--socket={server.socket}",
                    f"--pid-file={server_dir / 'mariadbd.pid'}",
                    f"--tmpdir={server_dir}",
                    "--skip-name-resolve",
                    f"--log-bin={data_dir / 'binlog'}",
                    "--server-id=1",
                    f"--ssl-ca={ca_file}",
                    f"--ssl-cert={server_cert}",
                    f"--ssl-key={server_key}",
                    # Throw-away data: speed over durability, and little memory.
                    "--innodb-buffer-pool-size=32M",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-doublewrite=0",
                    "--sync-binlog=0",
                    "--max-connections=50",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,  # no --log-error: the log goes to stderr, into `log`
            )
        _wait_ready(server, process)
        _create_user_and_database(server)
        yield server
    finally:
        if process is not None:
            stop_process(process)  # SIGTERM is mariadbd's clean shutdown
        shutil.rmtree(server_dir, ignore_errors=True)
