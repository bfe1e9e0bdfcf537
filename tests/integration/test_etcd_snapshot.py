"""etcd snapshots against real etcd servers: judged by etcdctl, etcdutl and zstd, never by our own reader.

- A snapshot of Kubernetes-shaped data and `etcdctl snapshot save` of the same
  quiet server restore (`etcdutl snapshot restore`) into servers holding the
  same keys, values and revisions; `etcdutl snapshot status` accepts ours;
  `zstd -dc` of the artifact gives a file whose sha256 trailer checks.
- Mutual TLS works with good certificates; each misconfiguration, each auth
  problem and each unreachable endpoint is one line naming its cause.
- Faults (member killed mid-stream, stream cut short, a flipped byte) fail the
  backup and leave nothing in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import stat
import subprocess
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import etcd3
import pytest
from click.testing import CliRunner
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord, read_artifact_record
from smokejumper.cli import cli
from smokejumper.errors import IntegrityError, UsageError
from smokejumper.secrets import SecretsManagerSecrets
from smokejumper.sources.etcd.client import (
    EtcdClient,
    EtcdConnectionError,
    EtcdEndpoint,
    EtcdSnapshotError,
    SnapshotChunk,
    pick_healthy,
)
from smokejumper.sources.etcd.credentials import endpoints_from_secret
from smokejumper.sources.etcd.snapshot import SNAPSHOT_FILE, backup_etcd
from smokejumper.store import Store, open_store

from tests.support.etcd_data import all_kvs, load_kubernetes_keys, python_client
from tests.support.etcd_tls import (
    Etcd,
    EtcdPki,
    make_pki,
    new_peer_url,
    restore_snapshot,
    start_cluster,
    start_etcd,
)
from tests.support.services import HOST, etcd_binary, free_port

pytestmark = pytest.mark.integration

FAST = ("--unsafe-no-fsync",)


# --- helpers ----------------------------------------------------------------


def backup(store: Store, endpoints: list[EtcdEndpoint], **options: Any) -> ArtifactRecord:
    return backup_etcd(endpoints, ArtifactWriter(store, "", engine="etcd", name="k8s"), **options)


def plain(server: Etcd, **options: Any) -> EtcdEndpoint:
    return EtcdEndpoint(server.endpoint, **options)


def mtls(server: Etcd, pki: EtcdPki, **options: Any) -> EtcdEndpoint:
    settings = {
        "url": server.endpoint,
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client.cert),
        "key_file": str(pki.client.key),
    }
    return EtcdEndpoint(**{**settings, **options})


def trailer_checks(path: Path) -> bool:
    data = path.read_bytes()
    return hashlib.sha256(data[:-32]).digest() == data[-32:]


def zstd_decompress(source: Path, target: Path) -> None:
    with target.open("wb") as out:
        subprocess.run(["zstd", "-q", "-d", "-c", str(source)], stdout=out, check=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> EtcdPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def servers(pki: EtcdPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """TLS etcd (good certificate), TLS etcd whose certificate lacks IP:127.0.0.1, plaintext etcd."""
    base = tmp_path_factory.mktemp("servers")
    with (
        start_etcd(base / "tls", pki=pki, extra_args=FAST) as tls,
        start_etcd(base / "no-ip", pki=pki, server=pki.server_without_ip, extra_args=FAST) as no_ip,
        start_etcd(base / "plain", extra_args=FAST) as plaintext,
    ):
        tls.etcdctl("put", "/registry/pods/default/web-0", "pod")
        yield SimpleNamespace(tls=tls, no_ip=no_ip, plain=plaintext)


@pytest.fixture
def local_store(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "backups"))


# --- the oracle: etcdctl and etcdutl ----------------------------------------


def test_snapshot_restores_to_the_same_keys_as_etcdctl_snapshot_save(tmp_path: Path, local_store: Store) -> None:
    with start_etcd(tmp_path / "source", extra_args=FAST) as source:
        load_kubernetes_keys(source)
        live_revision, live = all_kvs(source)
        status = json.loads(source.etcdctl("endpoint", "status", "-w", "json").stdout)[0]["Status"]

        record = backup(local_store, [plain(source)])
        theirs = tmp_path / "etcdctl.db"
        source.etcdctl("snapshot", "save", str(theirs))
        assert all_kvs(source)[0] == live_revision, "the server was not quiet"

    ours = tmp_path / "ours.db"
    zstd_decompress(local_store.root / SNAPSHOT_FILE, ours)
    assert trailer_checks(ours)
    # Same bytes as etcdctl's on a quiet server; the restores below are the real oracle.
    assert ours.read_bytes() == theirs.read_bytes()

    utl = subprocess.run(
        [str(etcd_binary("etcdutl")), "snapshot", "status", str(ours), "-w", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    utl_status = json.loads(utl.stdout)
    assert utl_status["revision"] == live_revision
    assert utl_status["totalSize"] == ours.stat().st_size - 32

    point, source_info = record.snapshot_point, record.source
    assert point["revision"] == live_revision
    assert point["revision_exact"] is True
    assert point["key_count"] == len(live) > 2500
    assert point["trailer_verified"] is True
    assert point["snapshot_size"] == ours.stat().st_size
    assert point["db_sha256"] == ours.read_bytes()[-32:].hex()
    assert point["raft_term"] == status["raftTerm"]
    assert source_info["cluster_id"] == f"{status['header']['cluster_id']:x}"
    assert source_info["member_id"] == f"{status['header']['member_id']:x}"
    assert source_info["server_version"] == "3.5.1"
    assert source_info["member_name"] == source.name
    assert record.files[0].frames[0].meta == {"kind": "etcd-snapshot"}
    assert read_artifact_record(local_store)[0] == record

    restored = []
    for label, snapshot in (("ours", ours), ("theirs", theirs)):
        peer = new_peer_url()
        data_dir = tmp_path / f"restore-{label}" / "data"
        restore_snapshot(snapshot, data_dir, name=label, peer_url=peer)
        with start_etcd(tmp_path / f"restore-{label}", name=label, data_dir=data_dir, peer_url=peer) as server:
            restored.append(all_kvs(server))
    assert restored[0] == restored[1] == (live_revision, live)

    # Snapshots hold every Kubernetes secret: nobody else may read the local copy.
    for path in (local_store.root / SNAPSHOT_FILE, local_store.root / "artifact.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- TLS ----------------------------------------------------------------------


def test_mutual_tls_snapshot(servers: SimpleNamespace, pki: EtcdPki, local_store: Store, tmp_path: Path) -> None:
    record = backup(local_store, [mtls(servers.tls, pki)])
    assert record.source["tls"] is True
    assert record.snapshot_point["key_count"] == 1
    ours = tmp_path / "snapshot.db"
    zstd_decompress(local_store.root / SNAPSHOT_FILE, ours)
    assert trailer_checks(ours)


def test_server_certificate_names_are_honoured(servers: SimpleNamespace, pki: EtcdPki, tmp_path: Path) -> None:
    # The certificate without IP:127.0.0.1 still names DNS:localhost.
    by_name = mtls(servers.no_ip, pki, url=f"https://localhost:{servers.no_ip.port}")
    record = backup(open_store(str(tmp_path / "backups")), [by_name])
    assert record.source["endpoint"] == f"https://localhost:{servers.no_ip.port}"


def _silent_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)  # accepts TCP (the kernel does), never answers
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


silent_port = pytest.fixture(_silent_port)


MISCONFIGURED: dict[str, tuple[Callable[[SimpleNamespace, EtcdPki], EtcdEndpoint], str]] = {
    "plaintext-to-tls": (lambda s, p: EtcdEndpoint(f"http://{HOST}:{s.tls.port}"), "speaks TLS"),
    "tls-to-plaintext": (
        lambda s, p: mtls(s.plain, p, url=f"https://{HOST}:{s.plain.port}"),
        "does not speak TLS",
    ),
    "server-name-mismatch": (
        lambda s, p: mtls(s.no_ip, p),
        "does not name '127.0.0.1', the host connected to (it names DNS:localhost)",
    ),
    "unknown-ca": (lambda s, p: mtls(s.tls, p, ca_file=str(p.other_ca)), "is not signed by a trusted CA"),
    "client-cert-required": (
        lambda s, p: mtls(s.tls, p, cert_file=None, key_file=None),
        "requires a TLS client certificate",
    ),
    "client-cert-no-client-auth": (
        lambda s, p: mtls(
            s.tls,
            p,
            cert_file=str(p.client_without_client_auth.cert),
            key_file=str(p.client_without_client_auth.key),
        ),
        "lacks the clientAuth extended key usage",
    ),
    "client-cert-untrusted": (
        lambda s, p: mtls(
            s.tls, p, cert_file=str(p.client_from_other_ca.cert), key_file=str(p.client_from_other_ca.key)
        ),
        "is not signed by the CA in",
    ),
    "unreachable": (lambda s, p: EtcdEndpoint(f"https://{HOST}:{free_port()}"), "connection refused"),
}


@pytest.mark.parametrize("cause", list(MISCONFIGURED))
def test_each_misconfiguration_names_its_cause(
    cause: str, servers: SimpleNamespace, pki: EtcdPki, local_store: Store
) -> None:
    make_endpoint, words = MISCONFIGURED[cause]
    endpoint = make_endpoint(servers, pki)
    with pytest.raises(EtcdConnectionError) as caught:
        backup(local_store, [endpoint])
    error = caught.value
    assert (error.cause, "\n" in error.message) == (cause, False), error.message
    assert words in error.message
    assert str(endpoint) in error.message
    assert error.hint
    assert list(local_store.list_keys()) == []


BAD_SETTINGS: dict[str, tuple[Callable[[EtcdPki], dict[str, Any]], str]] = {
    "missing CA file": (lambda p: {"ca_file": str(p.ca) + ".missing"}, "does not exist"),
    "certificate and key of different pairs": (
        lambda p: {"cert_file": str(p.client.cert), "key_file": str(p.client_user.key)},
        "do not belong together",
    ),
    "a key as CA file": (lambda p: {"ca_file": str(p.client.key)}, "is not usable"),
    "certificate without key": (lambda p: {"key_file": None}, "needs both"),
    "TLS files for http://": (lambda p: {"url": f"http://{HOST}:2379"}, "plaintext (http://) but TLS files"),
    "a path in the URL": (lambda p: {"url": f"https://{HOST}:2379/v3"}, "must be just SCHEME://HOST:PORT"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_are_usage_errors_before_any_connection(case: str, pki: EtcdPki, local_store: Store) -> None:
    change, words = BAD_SETTINGS[case]
    settings = {
        "url": f"https://{HOST}:{free_port()}",  # nothing listens: a connection attempt would say so instead
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client.cert),
        "key_file": str(pki.client.key),
        **change(pki),
    }
    with pytest.raises(UsageError) as caught:
        backup(local_store, [EtcdEndpoint(**settings)])
    assert words in caught.value.message


def test_silent_endpoint_times_out(silent_port: int, local_store: Store) -> None:
    with pytest.raises(EtcdConnectionError) as caught:
        backup(local_store, [EtcdEndpoint(f"https://{HOST}:{silent_port}", timeout=0.5)])
    assert caught.value.cause == "timeout"
    assert "did not answer within 0.5 s" in caught.value.message


# --- auth -----------------------------------------------------------------------


def test_auth_needs_the_root_role(tmp_path: Path, pki: EtcdPki) -> None:
    with start_etcd(tmp_path / "plain", extra_args=FAST) as server:
        server.etcdctl("user", "add", "root", "--new-user-password=rootpw")
        server.etcdctl("user", "add", "backup", "--new-user-password=backuppw")
        server.etcdctl("auth", "enable")
        cases = {
            "auth-required": plain(server),
            "auth-not-root": plain(server, user="backup", password="backuppw"),
            "auth-failed": plain(server, user="root", password="wrong"),
        }
        for cause, endpoint in cases.items():
            store = open_store(str(tmp_path / cause))
            with pytest.raises(EtcdConnectionError) as caught:
                backup(store, [endpoint])
            assert caught.value.cause == cause, caught.value.message
            assert list(store.list_keys()) == []
        record = backup(open_store(str(tmp_path / "root")), [plain(server, user="root", password="rootpw")])
        assert record.snapshot_point["trailer_verified"] is True

    # With client certificates, the certificate's CN is the user.
    with start_etcd(tmp_path / "tls", pki=pki, extra_args=FAST) as server:
        server.etcdctl("user", "add", "root", "--new-user-password=rootpw")
        server.etcdctl("user", "add", "backup", "--new-user-password=backuppw")
        server.etcdctl("auth", "enable")
        as_backup = mtls(server, pki, cert_file=str(pki.client_user.cert), key_file=str(pki.client_user.key))
        with pytest.raises(EtcdConnectionError) as caught:
            backup(open_store(str(tmp_path / "cn-backup")), [as_backup])
        assert caught.value.cause == "auth-not-root"
        assert "needs the root role" in caught.value.message
        backup(open_store(str(tmp_path / "cn-root")), [mtls(server, pki)])


# --- choosing a member ------------------------------------------------------------


def test_prefers_a_healthy_follower_and_skips_dead_endpoints(tmp_path: Path, local_store: Store) -> None:
    with start_cluster(tmp_path / "cluster", size=3) as members:
        leader_id = json.loads(members[0].etcdctl("endpoint", "status", "-w", "json").stdout)[0]["Status"]["leader"]
        statuses = {
            m.endpoint: json.loads(m.etcdctl("endpoint", "status", "-w", "json").stdout)[0]["Status"] for m in members
        }
        leader = next(m for m in members if statuses[m.endpoint]["header"]["member_id"] == leader_id)
        followers = [m for m in members if m is not leader]
        dead = EtcdEndpoint(f"http://{HOST}:{free_port()}")

        client, status = pick_healthy([dead, plain(leader), *(plain(f) for f in followers)])
        with client:
            assert not status.is_leader
            assert status.endpoint == followers[0].endpoint
            assert status.leader_id == leader_id

        client, status = pick_healthy([dead, plain(leader)])  # no follower given: the leader will do
        client.close()
        assert status.is_leader

        record = backup(local_store, [dead, plain(leader), plain(followers[1])])
        assert record.source["endpoint"] == followers[1].endpoint
        assert len(record.source["members"]) == 3

    with pytest.raises(EtcdConnectionError) as caught:
        pick_healthy([dead, EtcdEndpoint(f"http://{HOST}:{free_port()}")])
    assert caught.value.cause == "unreachable"
    assert caught.value.message.startswith("no healthy etcd member among 2 endpoints: ")


# --- faults: nothing committed ------------------------------------------------------


def test_member_killed_mid_stream_commits_nothing(tmp_path: Path, local_store: Store) -> None:
    with start_etcd(tmp_path / "big", extra_args=(*FAST, "--quota-backend-bytes=4294967296")) as server:
        client = python_client(server)
        for index in range(110):  # ~110 MiB of incompressible values
            client.put(f"/registry/blobs/b-{index}", os.urandom(1024 * 1024))
        client.close()

        # A whole snapshot of it streams in bounded memory (Python heap; gRPC and zstd buffers are C-side),
        # while a write lands mid-stream: the snapshot was cut before it, so its revision is a lower bound.
        writer = python_client(server)
        late_writes: list[int] = []

        def write_once(received: int, expected: int | None) -> None:
            if not late_writes:
                late_writes.append(received)
                writer.put("/registry/late", b"written during the stream")

        whole = open_store(str(tmp_path / "whole"))
        tracemalloc.start()
        try:
            record = backup(whole, [plain(server)], on_progress=write_once)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            writer.close()
        point = record.snapshot_point
        assert point["snapshot_size"] > 110 * 1024 * 1024
        assert peak < 16 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"
        assert (point["revision_exact"], point["revision_after"]) == (False, point["revision"] + 1)
        assert point["key_count"] == 110  # at `revision`, before the late key
        snapshot = tmp_path / "whole.db"
        zstd_decompress(whole.root / SNAPSHOT_FILE, snapshot)
        assert trailer_checks(snapshot)
        utl = subprocess.run(
            [str(etcd_binary("etcdutl")), "snapshot", "status", str(snapshot), "-w", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert point["revision"] <= json.loads(utl.stdout)["revision"] <= point["revision_after"]

        seen: list[int] = []

        def kill_after_8_mib(received: int, expected: int | None) -> None:
            seen.append(received)
            if received >= 8 * 1024 * 1024 and server.process.poll() is None:
                server.kill()

        with pytest.raises(EtcdSnapshotError) as caught:
            backup(local_store, [plain(server)], on_progress=kill_after_8_mib)
    assert "broke after" in caught.value.message
    assert seen[-1] < point["snapshot_size"]
    assert list(local_store.list_keys()) == []


@pytest.mark.parametrize("sizes", [(1,), (31, 1, 5), (32,), (33,), (7,) * 20, (32_768, 32_768, 32)])
def test_trailer_check_holds_back_exactly_32_bytes_whatever_the_chunking(sizes: tuple[int, ...]) -> None:
    from smokejumper.sources.etcd.snapshot import _TrailerCheck

    data = random.Random(len(sizes)).randbytes(sum(sizes))
    check = _TrailerCheck()
    offset = 0
    for size in sizes:
        check.update(data[offset : offset + size])
        offset += size
    assert check.size == len(data)
    assert check.tail == data[-32:]
    assert check.computed == hashlib.sha256(data[:-32]).digest()


def _patch_stream(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[list[SnapshotChunk]], list[SnapshotChunk]]
) -> None:
    original = EtcdClient.snapshot

    def snapshot(self: EtcdClient, *, timeout: float | None = None) -> Iterator[SnapshotChunk]:
        yield from change(list(original(self, timeout=timeout)))

    monkeypatch.setattr(EtcdClient, "snapshot", snapshot)


def _flip_a_byte(chunks: list[SnapshotChunk]) -> list[SnapshotChunk]:
    middle = chunks[len(chunks) // 2]
    damaged = bytearray(middle.blob)
    damaged[100] ^= 0x01
    return [*chunks[: len(chunks) // 2], middle._replace(blob=bytes(damaged)), *chunks[len(chunks) // 2 + 1 :]]


STREAM_FAULTS: dict[str, tuple[Callable[[list[SnapshotChunk]], list[SnapshotChunk]], type[Exception], str]] = {
    "cut in the middle": (lambda chunks: chunks[: len(chunks) // 2], EtcdSnapshotError, "ended early"),
    "trailer missing": (lambda chunks: chunks[:-1], EtcdSnapshotError, "ended early"),
    "empty": (lambda chunks: [], EtcdSnapshotError, "ended early: 0 bytes"),
    "a flipped bit": (_flip_a_byte, IntegrityError, "failed its checksum"),
    "a flipped bit in the trailer": (
        lambda chunks: [
            *chunks[:-1],
            chunks[-1]._replace(blob=bytes([chunks[-1].blob[0] ^ 0x80]) + chunks[-1].blob[1:]),
        ],
        IntegrityError,
        "failed its checksum",
    ),
    "a chunk sent twice": (lambda chunks: [chunks[0], *chunks], EtcdSnapshotError, "more than the"),
}


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_bad_stream_commits_nothing(
    fault: str, etcd_server: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = etcd3.client(host=HOST, port=int(etcd_server.endpoint.rsplit(":", 1)[1]))
    for index in range(40):
        client.put(f"/registry/configmaps/default/cm-{index}", os.urandom(20_000))
    client.close()
    change, error, words = STREAM_FAULTS[fault]
    _patch_stream(monkeypatch, change)
    with pytest.raises(error) as caught:
        backup(store, [EtcdEndpoint(etcd_server.endpoint)])
    assert words in caught.value.message
    assert "nothing was stored" in caught.value.message
    assert list(store.list_keys()) == []


# --- credentials from Secrets Manager (the Lambda's way) ----------------------------


def test_client_certificates_from_a_secret(
    servers: SimpleNamespace, pki: EtcdPki, local_store: Store, aws: Any, tmp_path: Path
) -> None:
    secrets = aws.client("secretsmanager")
    secret = {"ca": pki.ca.read_text(), "cert": pki.client.cert.read_text(), "key": pki.client.key.read_text()}
    arn = secrets.create_secret(Name="smokejumper/etcd-client", SecretString=json.dumps(secret))["ARN"]

    fetched = SecretsManagerSecrets().json(arn)
    with endpoints_from_secret([servers.tls.endpoint], fetched) as endpoints:
        first = endpoints[0]
        files = [Path(name or "") for name in (first.ca_file, first.cert_file, first.key_file)]
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
        assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
        record = backup(local_store, endpoints)
    assert record.source["tls"] is True
    assert not any(path.exists() for path in files)  # the key does not outlive its use

    # The command line takes the same secret (in-process: the emulated AWS lives in this process).
    target = tmp_path / "cli"
    result = CliRunner().invoke(
        cli,
        ["backup", "etcd", "--endpoint", servers.tls.endpoint, "--tls-secret", arn, "--to", str(target), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"]["tls"] is True
    assert (target / "artifact.json").is_file()
    both = CliRunner().invoke(
        cli, ["backup", "etcd", "--endpoint", servers.tls.endpoint, "--tls-secret", arn, "--user", "root",
              "--to", str(tmp_path / "both")],
    )  # fmt: skip
    assert isinstance(both.exception, UsageError)  # exit code 2 through `smokejumper`'s main()
    assert "--tls-secret replaces" in str(both.exception)

    for broken, message in (
        ({**secret, "key": ""}, "has no key"),
        ({**secret, "ca": "not a pem"}, "'ca' is not a PEM certificate"),
    ):
        with pytest.raises(UsageError, match=message), endpoints_from_secret([servers.tls.endpoint], broken):
            pass
    secrets.create_secret(Name="not-json", SecretString="ca=x")
    with pytest.raises(UsageError, match="is not JSON"):
        SecretsManagerSecrets().json("not-json")
    with pytest.raises(UsageError, match="ResourceNotFoundException"):
        SecretsManagerSecrets().json("arn:aws:secretsmanager:eu-west-1:111111111111:secret:missing-AbCdEf")
