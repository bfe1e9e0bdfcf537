"""Offline inspection of etcd snapshots, judged by etcdctl reading the same live server.

The server is loaded with Kubernetes-shaped keys (several revisions each,
some deleted, some of those re-created), compacted part-way, then written
to some more (odd keys included), then snapshotted both by us and by
`etcdctl snapshot save` while it stays quiet. What `inspect` reads from the
file must equal what `etcdctl get` reads from the server at the same
revision: keys, values, create/mod revisions and versions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import zstandard
from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import IntegrityError, UsageError
from smokejumper.sources.etcd.bbolt import BoltFile, DamagedDatabaseError, fnv1a_64
from smokejumper.sources.etcd.client import EtcdEndpoint
from smokejumper.sources.etcd.offline import (
    EtcdSnapshot,
    export_prefix,
    fetch_snapshot,
    group_counts,
    key_path,
)
from smokejumper.sources.etcd.snapshot import SNAPSHOT_FILE, backup_etcd
from smokejumper.store import open_store

from tests.conftest import Bucket
from tests.support.etcd_data import all_kvs, load_kubernetes_keys, python_client
from tests.support.etcd_tls import new_peer_url, restore_snapshot, start_etcd
from tests.support.services import etcd_binary

pytestmark = pytest.mark.integration

FAST = ("--unsafe-no-fsync",)
ODD_KEYS = [
    b"/odd/dir",  # also a "directory" of the next key
    b"/odd/dir/child",
    b"/odd/../escape",
    b"/odd/./dot",
    b"/odd//empty-segment",
    "/odd/unicode/é-😀".encode(),
    b"/odd/binary/\xff\x00\x01",
    b"/odd/" + b"long" * 80,
    b"no-leading-slash/x",
]

Kvs = dict[bytes, tuple[bytes, int, int, int]]


def kvs_of(snapshot: EtcdSnapshot, prefix: bytes = b"", revision: int | None = None) -> Kvs:
    keys, _summary = snapshot.live(prefix, revision)
    values = snapshot.values(keys, revision)
    return {kv.key: (kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in values}


def smokejumper(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "smokejumper"), *args], capture_output=True, timeout=120, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"smokejumper {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return done


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("etcd-offline")
    with start_etcd(base / "server", extra_args=FAST) as server:
        load_kubernetes_keys(server)
        client = python_client(server)
        compacted = all_kvs(server)[0] - 40
        client.compact(compacted, physical=True)
        for key in ODD_KEYS:
            client.put(key, b"first " + key)
        client.delete(b"/odd/./dot")
        middle = all_kvs(server)[0]
        rng = random.Random(11)
        for key in ODD_KEYS[:4]:
            client.put(key, b"second " + key)
        client.put(b"/odd/./dot", b"re-created")
        for _ in range(50):
            client.put(f"/registry/events/ns-{rng.randint(0, 11)}/e-{rng.randint(0, 9)}", rng.randbytes(300))
        client.close()
        revision, live = all_kvs(server)
        artifact = open_store(str(base / "artifact"))
        record = backup_etcd([EtcdEndpoint(server.endpoint)], ArtifactWriter(artifact, "", engine="etcd", name="k8s"))
        plain = base / "etcdctl.db"
        server.etcdctl("snapshot", "save", str(plain))
        assert all_kvs(server)[0] == revision, "the server was not quiet"
        yield SimpleNamespace(
            server=server,
            revision=revision,
            live=live,
            compacted=compacted,
            middle=middle,
            record=record,
            artifact=base / "artifact",
            plain=plain,
            base=base,
        )


# --- what inspect reads equals what etcdctl reads -----------------------------


def test_live_keyspace_equals_etcdctl_at_the_snapshot_revision(loaded: SimpleNamespace) -> None:
    with EtcdSnapshot(loaded.plain) as snapshot:
        assert snapshot.revision == loaded.revision == loaded.record.snapshot_point["revision"]
        assert snapshot.compact_revision == loaded.compacted
        ours = kvs_of(snapshot)
    assert ours == loaded.live
    assert len(ours) > 2500
    assert b"/odd/./dot" in ours
    assert ours[b"/odd/./dot"][0] == b"re-created"


def test_an_earlier_revision_equals_etcdctl_at_that_revision(loaded: SimpleNamespace) -> None:
    _revision, expected = all_kvs(loaded.server, revision=loaded.middle)
    with EtcdSnapshot(loaded.plain) as snapshot:
        ours = kvs_of(snapshot, revision=loaded.middle)
        assert ours == expected
        assert b"/odd/./dot" not in ours  # deleted at that point
        with pytest.raises(UsageError, match="compacted"):
            snapshot.live(revision=loaded.compacted - 1)
        with pytest.raises(UsageError, match="after the snapshot"):
            snapshot.live(revision=loaded.revision + 1)


def test_summary_agrees_with_etcdutl_snapshot_status(loaded: SimpleNamespace) -> None:
    status = json.loads(
        subprocess.run(
            [str(etcd_binary("etcdutl")), "snapshot", "status", str(loaded.plain), "-w", "json"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    done = smokejumper("etcd", "inspect", str(loaded.artifact), "--json")
    summary = json.loads(done.stdout)
    assert summary["revision"] == status["revision"] == loaded.revision
    # etcdutl counts the entries of every bucket; ours are the key bucket's (history included).
    assert read_everything(loaded.plain) == status["totalKey"]
    with BoltFile(loaded.plain) as bolt:
        assert summary["revisions"] == sum(1 for _item in bolt.items(b"key")) > len(loaded.live)
    assert summary["db_size"] == status["totalSize"]
    assert summary["trailer"] == "verified"
    assert summary["live_keys"] == len(loaded.live)
    assert summary["live_bytes"] == sum(len(value) for value, *_ in loaded.live.values())
    assert [member["name"] for member in summary["members"]] == [loaded.server.name]


def test_counts_per_namespace_equal_etcdctl(loaded: SimpleNamespace) -> None:
    keys = loaded.server.etcdctl("get", "/registry/secrets/", "--prefix", "--keys-only").stdout.split()
    expected = Counter("/".join(key.split("/")[:4]) for key in keys)
    done = smokejumper("etcd", "inspect", str(loaded.plain), "--counts", "--prefix", "/registry/secrets/", "--json")
    counts = json.loads(done.stdout)
    assert counts["depth"] == 3
    assert {group["prefix"]: group["keys"] for group in counts["groups"]} == expected
    assert counts["keys"] == len(keys)
    # Without a prefix: per resource; the table form names the same totals.
    with EtcdSnapshot(loaded.plain) as snapshot:
        live, _summary = snapshot.live()
    per_resource = {group: n for group, n, _size in group_counts(live, 2)}
    assert per_resource["/registry/secrets"] == len(keys)
    assert per_resource["/registry/services"] == sum(1 for k in loaded.live if k.startswith(b"/registry/services/"))
    table = smokejumper("etcd", "inspect", str(loaded.plain), "--counts").stdout.decode()
    assert "/registry/secrets" in table
    assert f"{len(loaded.live)}" in table


def test_keys_lists_the_live_keys_in_order(loaded: SimpleNamespace) -> None:
    done = smokejumper("etcd", "inspect", str(loaded.plain), "--keys", "--prefix", "/registry/pods/ns-3/")
    listed = done.stdout.decode().splitlines()
    expected = sorted(k.decode() for k in loaded.live if k.startswith(b"/registry/pods/ns-3/"))
    assert listed == expected
    assert listed


def test_get_prints_exactly_the_value_etcdctl_reads(loaded: SimpleNamespace) -> None:
    key = next(k for k in sorted(loaded.live) if k.startswith(b"/registry/secrets/ns-5/"))
    theirs = json.loads(loaded.server.etcdctl("get", key.decode(), "-w", "json").stdout)["kvs"][0]
    done = smokejumper("etcd", "inspect", str(loaded.artifact), "--get", key.decode())
    assert done.stdout == base64.b64decode(theirs["value"])
    assert f"revision {theirs['mod_revision']}" in done.stderr.decode()
    as_json = json.loads(smokejumper("etcd", "inspect", str(loaded.plain), "--get", key.decode(), "--json").stdout)
    assert base64.b64decode(as_json["value_base64"]) == base64.b64decode(theirs["value"])
    assert (as_json["create_revision"], as_json["version"]) == (theirs["create_revision"], theirs["version"])

    # A deleted key is not there now, but is at an earlier revision.
    at_middle = ("--revision", str(loaded.middle))
    gone = smokejumper("etcd", "inspect", str(loaded.plain), "--get", "/odd/./dot", *at_middle, check=False)
    assert gone.returncode == 1
    assert b"not a live key" in gone.stderr
    earlier = smokejumper("etcd", "inspect", str(loaded.plain), "--get", "/odd/dir", "--revision", str(loaded.middle))
    assert earlier.stdout == b"first /odd/dir"


def test_export_writes_each_live_value_to_a_private_file(loaded: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "export"
    with EtcdSnapshot(loaded.plain) as snapshot:
        result = export_prefix(snapshot, b"/odd/", out)
    expected = {k: v for k, v in loaded.live.items() if k.startswith(b"/odd/")}
    index = json.loads((out / "index.json").read_text())
    assert result.keys == len(expected) == len(index["keys"])
    for entry in index["keys"]:
        path = out / entry["file"]
        assert path.resolve().is_relative_to(out.resolve())  # `..` and `.` cannot climb out
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        value = path.read_bytes()
        assert hashlib.sha256(value).hexdigest() == entry["sha256"]
    by_key = {key: out.joinpath("keys", *key_path(key)) for key in expected}
    by_key[b"/odd/dir"] = out / "keys" / "odd" / "dir" / "%value"  # a key that is also a directory
    for key, (value, *_revisions) in expected.items():
        assert by_key[key].read_bytes() == value, key
    assert stat.S_IMODE((out / "keys" / "odd").stat().st_mode) == 0o700
    assert stat.S_IMODE(out.stat().st_mode) == 0o700

    # Nothing is overwritten, and a failed export leaves no directory behind.
    with EtcdSnapshot(loaded.plain) as snapshot, pytest.raises(UsageError, match="not an empty directory"):
        export_prefix(snapshot, b"/odd/", out)
    done = smokejumper(
        "etcd", "inspect", str(loaded.plain), "--export", "/registry/secrets/ns-1/", "--out", str(tmp_path / "cli")
    )
    assert b"written to" in done.stdout
    exported = json.loads((tmp_path / "cli" / "index.json").read_text())["keys"]
    assert {entry["key"] for entry in exported} == {
        k.decode() for k in loaded.live if k.startswith(b"/registry/secrets/ns-1/")
    }
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_every_form_of_input_reads_the_same(loaded: SimpleNamespace, tmp_path: Path, s3_bucket: Bucket) -> None:
    compressed = tmp_path / "copy.db.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress(loaded.plain.read_bytes()))
    s3 = open_store(f"s3://{s3_bucket.name}/runs/r1/etcd/k8s", kms_key_id=s3_bucket.kms_key_id)
    for name in ("artifact.json", SNAPSHOT_FILE):
        s3.put_bytes(name, (loaded.artifact / name).read_bytes())
    sources = [
        str(loaded.plain),
        str(compressed),
        str(loaded.artifact),
        f"file://{loaded.artifact}",
        f"s3://{s3_bucket.name}/runs/r1/etcd/k8s",
    ]
    for index, url in enumerate(sources):
        scratch = tmp_path / f"scratch-{index}"
        scratch.mkdir()
        fetched = fetch_snapshot(url, scratch)
        assert fetched.path.read_bytes() == loaded.plain.read_bytes(), url
        if fetched.path != loaded.plain:
            assert stat.S_IMODE(fetched.path.stat().st_mode) == 0o600
        assert (fetched.record is not None) == ("artifact" in url or url.startswith("s3://"))


def test_an_artifact_of_another_engine_is_refused(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "pg"))
    writer = ArtifactWriter(store, "", engine="postgres", name="ccdb")
    with writer.data_file("dump.sql.zst") as frames, frames.frame("x") as section:
        section.write(b"select 1;\n")
    writer.commit()
    with pytest.raises(UsageError, match="postgres backup, not an etcd snapshot"):
        fetch_snapshot(str(tmp_path / "pg"), tmp_path)


# --- damage ------------------------------------------------------------------


def test_damaged_snapshots_are_refused_by_inspect_verify_and_restore_kit(
    loaded: SimpleNamespace, tmp_path: Path
) -> None:
    data = loaded.plain.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    truncated = data[: len(data) // 3]
    for name, content in (("flipped.db", bytes(flipped)), ("truncated.db", truncated)):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(IntegrityError):
            EtcdSnapshot(path).live()
        done = smokejumper("etcd", "inspect", str(path), check=False)
        assert done.returncode == 3, done.stderr
        assert b"damaged" in done.stderr or b"checksum" in done.stderr
        kit = smokejumper(
            "etcd", "restore-kit", "--from", str(path), "--member", "m0=http://127.0.0.1:2380",
            "--out", str(tmp_path / f"kit-{name}"), check=False,
        )  # fmt: skip
        assert kit.returncode == 3, kit.stderr
        assert not (tmp_path / f"kit-{name}").exists()

    # The same damage inside a stored artifact: verify, inspect and restore-kit all refuse it.
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "artifact.json").write_bytes((loaded.artifact / "artifact.json").read_bytes())
    stored = bytearray((loaded.artifact / SNAPSHOT_FILE).read_bytes())
    stored[len(stored) // 2] ^= 0x01
    (artifact / SNAPSHOT_FILE).write_bytes(bytes(stored))
    assert smokejumper("verify", str(artifact), check=False).returncode == 3
    assert smokejumper("etcd", "inspect", str(artifact), check=False).returncode == 3
    kit = smokejumper(
        "etcd", "restore-kit", "--from", str(artifact), "--member", "m0=http://127.0.0.1:2380",
        "--out", str(tmp_path / "kit-artifact"), check=False,
    )  # fmt: skip
    assert kit.returncode == 3
    assert not (tmp_path / "kit-artifact").exists()


@pytest.fixture(scope="module")
def raw_database(loaded: SimpleNamespace) -> bytes:
    """The database bytes without the trailer: only the bbolt checks stand between damage and an answer."""
    return loaded.plain.read_bytes()[:-32]


def read_everything(path: Path) -> int:
    with BoltFile(path) as bolt:
        return sum(1 for bucket in bolt.buckets() for _item in bolt.items(bucket))


def test_bbolt_structure_damage_gives_a_clear_error(raw_database: bytes, tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    path.write_bytes(raw_database)
    with BoltFile(path) as bolt:
        page_size, meta = bolt.meta.page_size, bolt.meta
        key_root = bolt._bucket_root(b"key")[0]  # a page of the live tree (freed pages keep stale contents)
    total = read_everything(path)
    assert raw_database[key_root * page_size + 8] == 0x01, "the key bucket's root should be a branch page"
    first_leaf = key_root
    while raw_database[first_leaf * page_size + 8] == 0x01:  # down the leftmost branch to a leaf
        first_leaf = int.from_bytes(raw_database[first_leaf * page_size + 24 : first_leaf * page_size + 32], "little")
    assert raw_database[first_leaf * page_size + 8] == 0x02

    def damaged(mutate: object, match: str) -> None:
        data = bytearray(raw_database)
        mutate(data)  # type: ignore[operator]
        path.write_bytes(bytes(data))
        with pytest.raises(DamagedDatabaseError, match=match):
            read_everything(path)

    # One broken meta page: bbolt falls back to the other one, and so do we.
    data = bytearray(raw_database)
    data[meta.page * page_size + 40] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_everything(path) == total

    def both_metas(data: bytearray) -> None:
        data[16 + 4] ^= 1
        data[page_size + 16 + 4] ^= 1

    damaged(both_metas, "neither meta page is valid")
    damaged(lambda data: data.__setitem__(slice(0, 2 * page_size), bytes(2 * page_size)), "not a bbolt database")
    damaged(lambda data: data.__delitem__(slice(len(data) - page_size, None)), "truncated")

    def page_id_lies(data: bytearray) -> None:
        root = meta.root * page_size
        data[root : root + 8] = (meta.root + 1).to_bytes(8, "little")

    damaged(page_id_lies, "says it is page")

    def child_out_of_range(data: bytearray) -> None:
        # Point every branch element of every branch page past the end.
        for page in range(2, meta.high_water):
            at = page * page_size
            if data[at + 8] == 0x01:  # branch
                count = int.from_bytes(data[at + 10 : at + 12], "little")
                for index in range(count):
                    element = at + 16 + index * 16
                    data[element + 8 : element + 16] = (meta.high_water + 5).to_bytes(8, "little")

    damaged(child_out_of_range, "outside the")

    def cycle(data: bytearray) -> None:
        element = key_root * page_size + 16
        data[element + 8 : element + 16] = key_root.to_bytes(8, "little")  # a branch whose child is itself

    damaged(cycle, "cycle|twice|levels deep")

    def element_outside_page(data: bytearray) -> None:
        at = first_leaf * page_size
        data[at + 16 + 4 : at + 16 + 8] = (page_size * 64).to_bytes(4, "little")  # pos of element 0

    damaged(element_outside_page, "outside the page")

    def flagged_as_bucket(data: bytearray) -> None:
        at = first_leaf * page_size
        data[at + 16 : at + 20] = (1).to_bytes(4, "little")  # element 0 of a key-bucket leaf "is a bucket"

    damaged(flagged_as_bucket, "nested bucket")

    def unknown_flags(data: bytearray) -> None:
        at = first_leaf * page_size
        data[at + 16 : at + 20] = (4).to_bytes(4, "little")

    damaged(unknown_flags, "unknown flags")


def test_a_huge_overflow_count_is_refused_before_anything_is_read(raw_database: bytes, tmp_path: Path) -> None:
    """A file large enough for the claim (sparse here) must still not make the reader allocate it."""
    path = tmp_path / "huge.db"
    path.write_bytes(raw_database)
    with BoltFile(path) as bolt:
        page_size, meta = bolt.meta.page_size, bolt.meta
        key_root = bolt._bucket_root(b"key")[0]
    data = bytearray(raw_database)
    high_water = 4 * 1024 * 1024 * 1024 // page_size  # 4 GiB of pages
    for page in (0, 1):
        at = page * page_size + 16
        data[at + 40 : at + 48] = high_water.to_bytes(8, "little")
        data[at + 56 : at + 64] = fnv1a_64(bytes(data[at : at + 56])).to_bytes(8, "little")
    root = key_root * page_size
    data[root + 12 : root + 16] = (high_water - key_root - 2).to_bytes(4, "little")  # overflow count
    path.write_bytes(bytes(data))
    os.truncate(path, high_water * page_size)
    assert meta.high_water < high_water
    with pytest.raises(DamagedDatabaseError, match="overflow pages"):
        read_everything(path)


def test_revision_survives_compacting_away_a_final_deletion(tmp_path: Path) -> None:
    """The newest entry of the key bucket is gone once a final delete is compacted: the snapshot's revision
    is then the compaction mark's, as etcd computes it (and etcdctl's get on the server shows)."""
    with start_etcd(tmp_path / "server", extra_args=FAST) as server:
        server.etcdctl("put", "/a", "1")
        server.etcdctl("put", "/b", "2")
        server.etcdctl("del", "/b")
        revision = all_kvs(server)[0]
        server.etcdctl("compact", str(revision), "--physical")
        server.etcdctl("snapshot", "save", str(tmp_path / "s.db"))
        with EtcdSnapshot(tmp_path / "s.db") as snapshot:
            assert snapshot.revision == revision
            assert snapshot.compact_revision == revision
            assert kvs_of(snapshot, revision=revision) == all_kvs(server)[1]


def test_random_corruption_never_crashes_or_hangs(raw_database: bytes, tmp_path: Path) -> None:
    """Flipped bits in a database without a trailer end in a read or an IntegrityError, never another
    exception or a hang. (bbolt has no page checksums: a flip inside a value cannot be seen, which is
    why snapshots carry the sha256 trailer, checked first; these files have none on purpose.)"""
    path = tmp_path / "fuzz.db"
    rng = random.Random(2026)
    outcomes: Counter[str] = Counter()

    def too_slow(_signum: int, _frame: object) -> None:
        raise AssertionError("a damaged file made the reader hang")

    previous = signal.signal(signal.SIGALRM, too_slow)
    try:
        for _ in range(300):
            data = bytearray(raw_database)
            for _flip in range(rng.choice((1, 4, 32))):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
            signal.alarm(20)
            try:
                with EtcdSnapshot(path) as snapshot:
                    snapshot.bolt.check()
                    snapshot.live()
                outcomes["read"] += 1
            except IntegrityError:  # DamagedDatabaseError is one
                outcomes["refused"] += 1
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert outcomes["refused"] > 0
    assert sum(outcomes.values()) == 300


def test_a_file_that_is_not_bbolt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(DamagedDatabaseError, match="not a bbolt database"):
        BoltFile(path)
    done = smokejumper("etcd", "inspect", str(path), check=False)
    assert done.returncode == 3
    assert b"error:" in done.stderr
    missing = smokejumper("etcd", "inspect", str(tmp_path / "nope.db"), check=False)
    assert missing.returncode != 0
    assert b"no such file" in missing.stderr


def test_usage_errors(loaded: SimpleNamespace, tmp_path: Path) -> None:
    plain = str(loaded.plain)
    for args, message in (
        (["--counts", "--keys"], b"cannot be combined"),
        (["--export", "/registry/"], b"--export needs --out"),
        (["--out", str(tmp_path / "x")], b"only used with --export"),
        (["--depth", "2"], b"only used with --counts"),
    ):
        done = smokejumper("etcd", "inspect", plain, *args, check=False)
        assert done.returncode == 2, args
        assert message in done.stderr, done.stderr


def test_kubernetes_keys_of_a_restored_member_db_without_trailer(loaded: SimpleNamespace, tmp_path: Path) -> None:
    """A member's own member/snap/db (no trailer) reads the same as the snapshot it was restored from."""
    peer = new_peer_url()
    data_dir = tmp_path / "restored" / "data"
    restore_snapshot(loaded.plain, data_dir, name="r", peer_url=peer)
    with start_etcd(tmp_path / "restored", name="r", data_dir=data_dir, peer_url=peer) as server:
        assert all_kvs(server)[1] == loaded.live
    raw = data_dir / "member" / "snap" / "db"
    with EtcdSnapshot(raw) as snapshot:
        assert snapshot.has_trailer is False
        assert kvs_of(snapshot) == loaded.live
