"""Artifact stores: the same contract for the local directory and S3 (moto)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from datetime import UTC, datetime, timedelta

import pytest
from smokejumper.errors import NotFoundError, ObjectLockedError, StoreError, UsageError
from smokejumper.store import LocalStore, open_store
from smokejumper.store.local import TEMP_MARKER
from smokejumper.store.s3 import MAX_PARTS, MIB, MIN_PART_SIZE, S3Store, part_size_for


def pseudo_random(size: int, seed: int = 1) -> bytes:
    """Incompressible-looking bytes, deterministic and fast."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def test_streaming_write_reports_size_and_sha256(store):
    chunks = [b"alpha\n", b"", b"beta\n" * 1000, b"gamma"]
    with store.writer("runs/r1/data.bin") as out:
        for chunk in chunks:
            out.write(chunk)
    whole = b"".join(chunks)
    assert out.result.size == len(whole)
    assert out.result.sha256 == hashlib.sha256(whole).hexdigest()
    assert store.get_bytes("runs/r1/data.bin") == whole
    assert store.size("runs/r1/data.bin") == len(whole)


def test_ranged_reads(store):
    store.put_bytes("a/b.bin", bytes(range(256)))
    assert store.read_range("a/b.bin", 10, 5) == bytes([10, 11, 12, 13, 14])
    assert store.read_range("a/b.bin", 250, 6) == bytes(range(250, 256))
    assert store.read_range("a/b.bin", 0, 0) == b""
    assert b"".join(store.iter_chunks("a/b.bin", start=200)) == bytes(range(200, 256))


def test_listing_and_children(store):
    for key in ["runs/2/x/artifact.json", "runs/1/manifest.json", "runs/1/db/dump.sql.zst", "other.txt"]:
        store.put_bytes(key, b"x")
    assert list(store.list_keys("runs")) == [
        "runs/1/db/dump.sql.zst",
        "runs/1/manifest.json",
        "runs/2/x/artifact.json",
    ]
    assert store.list_children("runs") == ["1", "2"]
    assert store.list_children("missing") == []
    child = store.child("runs/1")
    assert child.get_bytes("manifest.json") == b"x"
    assert list(child.list_keys()) == ["db/dump.sql.zst", "manifest.json"]
    assert child.url.endswith("/runs/1")


def test_missing_key_is_not_found(store):
    with pytest.raises(NotFoundError, match="does not exist"):
        store.get_bytes("nope.json")
    with pytest.raises(NotFoundError):
        store.size("nope.json")
    assert not store.exists("nope.json")


def test_failure_inside_the_block_leaves_nothing(store):
    with pytest.raises(RuntimeError, match="source died"), store.writer("runs/r1/dump.sql.zst") as out:
        out.write(b"partial data")
        raise RuntimeError("source died")
    assert not store.exists("runs/r1/dump.sql.zst")
    assert list(store.list_keys()) == []
    with pytest.raises(StoreError, match="after it was aborted"):
        out.write(b"more")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_keys_cannot_escape_the_root(store, key):
    with pytest.raises(UsageError, match="invalid store key"):
        store.writer(key)


def test_delete_removes_the_object_from_every_view(store):
    for key in ["runs/1/manifest.json", "runs/1/db/dump.sql.zst", "runs/2/manifest.json"]:
        store.put_bytes(key, b"x")
    store.delete("runs/1/db/dump.sql.zst")
    store.delete("runs/1/manifest.json")
    for key in ["runs/1/db/dump.sql.zst", "runs/1/manifest.json"]:
        assert not store.exists(key)
        with pytest.raises(NotFoundError):
            store.size(key)
        with pytest.raises(NotFoundError):
            store.get_bytes(key)
    assert list(store.list_keys()) == ["runs/2/manifest.json"]
    assert list(store.list_keys("runs/1")) == []


def test_delete_removes_a_deleted_run_from_list_children(store, request):
    if isinstance(store, S3Store):
        # AWS lists a CommonPrefix only if a current (non-delete-marker) object
        # is under it. moto 5.2.5 gathers CommonPrefixes before it drops delete
        # markers, so on a versioned bucket a deleted run's prefix still shows.
        # Strict: this starts failing, as a reminder, once moto is fixed.
        request.applymarker(
            pytest.mark.xfail(reason="moto 5.2.5 lists prefixes holding only delete markers", strict=True)
        )
    for key in ["runs/1/db/dump.sql.zst", "runs/2/manifest.json"]:
        store.put_bytes(key, b"x")
    store.delete("runs/1/db/dump.sql.zst")
    assert store.list_children("runs") == ["2"]


def test_delete_leaves_siblings(store):
    for key in ["runs/1/a.bin", "runs/1/b.bin", "runs/1/sub/c.bin"]:
        store.put_bytes(key, key.encode())
    store.delete("runs/1/a.bin")
    assert list(store.list_keys("runs/1")) == ["runs/1/b.bin", "runs/1/sub/c.bin"]
    assert store.get_bytes("runs/1/b.bin") == b"runs/1/b.bin"
    assert store.list_children("runs") == ["1"]
    assert store.list_children("runs/1") == ["sub"]


def test_delete_is_idempotent(store):
    store.delete("runs/never/written.bin")  # missing: not an error
    store.put_bytes("runs/1/manifest.json", b"{}")
    store.delete("runs/1/manifest.json")
    store.delete("runs/1/manifest.json")  # an interrupted sweep running again
    assert list(store.list_keys()) == []


def test_delete_through_a_child_store(store):
    store.put_bytes("runs/1/manifest.json", b"{}")
    store.put_bytes("runs/2/manifest.json", b"{}")
    store.child("runs/1").delete("manifest.json")
    assert list(store.list_keys()) == ["runs/2/manifest.json"]
    assert not store.exists("runs/1/manifest.json")


def test_delete_checks_the_key(store):
    with pytest.raises(UsageError, match="invalid store key"):
        store.delete("../escape")


def test_open_store_chooses_by_url(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    s3 = open_store("s3://bucket/some/prefix/")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == ("bucket", "some/prefix", "s3://bucket/some/prefix")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket/x", "unknown store URL scheme 'gs'"),
        ("http://example.com/x", "unknown store URL scheme 'http'"),
        ("s3:///prefix", "names no bucket"),
        ("file://otherhost/dir", "remote host"),
        ("", "empty store URL"),
    ],
)
def test_bad_store_urls_say_what_is_wrong(url, message):
    with pytest.raises(UsageError, match=message) as caught:
        open_store(url)
    assert "s3://bucket/prefix" in str(caught.value)  # the hint shows the accepted forms


# --- local directory --------------------------------------------------------


def test_local_files_are_private_and_temporaries_are_gone(tmp_path):
    store = open_store(str(tmp_path / "backups"))
    store.put_bytes("runs/r1/etcd/snapshot.db.zst", b"secret")
    path = tmp_path / "backups" / "runs" / "r1" / "etcd" / "snapshot.db.zst"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [name for name in os.listdir(path.parent) if name.startswith(TEMP_MARKER)]


def test_local_object_is_invisible_until_commit(tmp_path):
    store = open_store(str(tmp_path))
    with store.writer("x/data.bin") as out:
        out.write(b"half")
        assert not store.exists("x/data.bin")
        assert list(store.list_keys()) == []  # the temporary name is not listed
    assert store.get_bytes("x/data.bin") == b"half"


def test_unwritable_path_gives_a_clear_error(tmp_path):
    # Works as root too: a regular file where a directory must be.
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create directory") as caught:
        open_store(str(tmp_path / "file" / "backups")).put_bytes("runs/a.bin", b"x")
    assert "hint" in str(caught.value)


def test_read_only_filesystem_path_gives_a_clear_error():
    with pytest.raises(StoreError, match=r"cannot (create directory|write to)"):
        open_store("file:///proc/smokejumper-test").put_bytes("a.bin", b"x")


def test_local_delete_leaves_no_empty_directories(tmp_path):
    root = tmp_path / "backups"
    store = open_store(str(root))
    store.put_bytes("runs/1/db/dump.sql.zst", b"x")
    store.put_bytes("other.txt", b"x")
    store.delete("runs/1/db/dump.sql.zst")
    assert sorted(path.name for path in root.iterdir()) == ["other.txt"]
    store.delete("other.txt")
    assert root.is_dir(), "the store root itself stays"
    assert list(root.iterdir()) == []


def test_local_delete_stops_at_a_child_store_root(tmp_path):
    store = open_store(str(tmp_path / "backups"))
    child = store.child("runs/1")
    child.put_bytes("db/dump.sql.zst", b"x")
    child.delete("db/dump.sql.zst")
    assert (tmp_path / "backups" / "runs" / "1").is_dir()
    assert not (tmp_path / "backups" / "runs" / "1" / "db").exists()


def test_local_delete_again_prunes_directories_an_interrupted_sweep_left(tmp_path):
    root = tmp_path / "backups"
    (root / "runs" / "9" / "db").mkdir(parents=True)  # file unlinked, then the sweep died
    store = open_store(str(root))
    store.delete("runs/9/db/dump.sql.zst")
    assert store.list_children("runs") == []
    assert list(root.iterdir()) == []


def test_local_delete_keeps_a_directory_that_holds_an_unfinished_write(tmp_path):
    store = open_store(str(tmp_path / "backups"))
    store.put_bytes("runs/1/a.bin", b"x")
    with store.writer("runs/1/b.bin") as out:
        out.write(b"in flight")
        store.delete("runs/1/a.bin")  # the writer's temporary file keeps runs/1
    assert list(store.list_keys()) == ["runs/1/b.bin"]


def test_local_delete_failure_is_a_store_error(tmp_path):
    # Works as root too: a directory where the object's file would be.
    (tmp_path / "backups" / "runs" / "1").mkdir(parents=True)
    with pytest.raises(StoreError, match="cannot delete"):
        open_store(str(tmp_path / "backups")).delete("runs/1")


def test_local_delete_under_a_file_is_a_missing_key(tmp_path):
    store = open_store(str(tmp_path / "backups"))
    store.put_bytes("runs", b"a file, not a directory")
    store.delete("runs/1/manifest.json")
    assert store.get_bytes("runs") == b"a file, not a directory"


# --- S3 ---------------------------------------------------------------------


def test_part_size_covers_any_object_within_s3_limits():
    assert part_size_for(None, 1) == MIN_PART_SIZE
    assert part_size_for(10 * MIB, 1) == MIN_PART_SIZE
    # A 1 TiB object fits in the planned number of parts.
    one_tib = 1024 * 1024 * MIB
    assert part_size_for(one_tib, 1) * 9000 >= one_tib
    # Without an expected size, growth still reaches S3's 5 TiB object limit within 10,000 parts.
    reachable = sum(part_size_for(None, number) for number in range(1, MAX_PARTS + 1))
    assert reachable >= 5 * one_tib


def test_s3_multipart_write_with_checksums_kms_and_tags(s3_bucket):
    store = S3Store(
        s3_bucket.name, "plan-a", client=s3_bucket.client, kms_key_id=s3_bucket.kms_key_id, tags={"plan": "plan-a"}
    )
    data = pseudo_random(2 * MIN_PART_SIZE + 12345)
    with store.writer("runs/r1/db/dump.sql.zst", tags={"run": "r1"}) as out:
        for start in range(0, len(data), 3 * MIB):
            out.write(data[start : start + 3 * MIB])
    assert out.result.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="plan-a/runs/r1/db/dump.sql.zst")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3_bucket.kms_key_id in head["SSEKMSKeyId"]
    assert head["ContentLength"] == len(data)
    assert out.result.version_id == head["VersionId"]
    assert head["ETag"].endswith('-3"'), "three parts: two of 8 MiB and the rest"
    tags = s3_bucket.client.get_object_tagging(Bucket=s3_bucket.name, Key="plan-a/runs/r1/db/dump.sql.zst")
    assert {tag["Key"]: tag["Value"] for tag in tags["TagSet"]} == {"plan": "plan-a", "run": "r1"}
    assert store.get_bytes("runs/r1/db/dump.sql.zst") == data


class FailingUploads:
    """Wraps an S3 client so that upload_part fails on the Nth call (a network cut mid-stream)."""

    def __init__(self, client, fail_on_part: int) -> None:
        self._client = client
        self._fail_on = fail_on_part
        self.calls = 0

    def upload_part(self, **kwargs):
        self.calls += 1
        if self.calls == self._fail_on:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com")
        return self._client.upload_part(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_s3_upload_failing_mid_stream_leaves_no_object_and_no_multipart_upload(s3_bucket):
    failing = FailingUploads(s3_bucket.client, fail_on_part=2)
    store = S3Store(s3_bucket.name, "plan-a", client=failing, kms_key_id=s3_bucket.kms_key_id)
    data = pseudo_random(3 * MIN_PART_SIZE)
    with (
        pytest.raises(
            StoreError, match=re.escape("cannot upload part 2 of s3://smokejumper-test-backups/plan-a/big.bin")
        ),
        store.writer("big.bin") as out,
    ):
        for start in range(0, len(data), MIB):
            out.write(data[start : start + MIB])
    assert failing.calls == 2
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []
    assert s3_bucket.client.list_object_versions(Bucket=s3_bucket.name).get("Versions", []) == []


def test_s3_failure_in_the_source_aborts_the_upload(s3_bucket):
    store = S3Store(s3_bucket.name, client=s3_bucket.client)
    with pytest.raises(ValueError, match="bad row"), store.writer("big.bin") as out:
        out.write(pseudo_random(MIN_PART_SIZE + 1))  # one part already uploaded
        raise ValueError("bad row")
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == []
    assert not store.exists("big.bin")


def test_s3_missing_bucket_is_a_clear_error(aws):
    store = open_store("s3://no-such-bucket/x", s3_client=aws.client("s3"))
    with pytest.raises(StoreError, match="NoSuchBucket") as caught:
        store.put_bytes("a.json", b"{}")
    assert "bucket name" in str(caught.value)


def test_s3_delete_on_a_versioned_bucket_adds_a_delete_marker_and_keeps_the_version(s3_bucket):
    # Documented behaviour: the noncurrent version stays until the bucket's
    # lifecycle rule expires it; smokejumper never deletes versions itself.
    store = S3Store(s3_bucket.name, "plan-a", client=s3_bucket.client)
    written = store.put_bytes("runs/1/manifest.json", b"{}")
    store.delete("runs/1/manifest.json")
    store.delete("runs/1/manifest.json")  # already gone: no second marker
    assert not store.exists("runs/1/manifest.json")
    versions = s3_bucket.client.list_object_versions(Bucket=s3_bucket.name, Prefix="plan-a/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("plan-a/runs/1/manifest.json", written.version_id, False)
    ]
    assert [(m["Key"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [("plan-a/runs/1/manifest.json", True)]
    old = s3_bucket.client.get_object(
        Bucket=s3_bucket.name, Key="plan-a/runs/1/manifest.json", VersionId=written.version_id
    )
    assert old["Body"].read() == b"{}"


class DeniedCalls:
    """Wraps an S3 client so that the named operation is refused, as IAM would."""

    def __init__(self, client, operation: str) -> None:
        self._client = client
        self._operation = operation

    def __getattr__(self, name):
        if name != self._operation:
            return getattr(self._client, name)

        def denied(**kwargs):
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError(error, name)

        return denied


@pytest.mark.parametrize("operation", ["head_object", "delete_object"])
def test_s3_delete_failure_is_a_store_error(s3_bucket, operation):
    S3Store(s3_bucket.name, client=s3_bucket.client).put_bytes("a.json", b"{}")
    store = S3Store(s3_bucket.name, client=DeniedCalls(s3_bucket.client, operation))
    with pytest.raises(StoreError, match=re.escape(f"cannot delete s3://{s3_bucket.name}/a.json: AccessDenied")):
        store.delete("a.json")
    assert store.get_bytes("a.json") == b"{}"


@pytest.fixture
def lock_bucket(aws):
    """A bucket with S3 Object Lock enabled (which also turns on versioning)."""
    s3 = aws.client("s3")
    name = "smokejumper-test-locked"
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}, ObjectLockEnabledForBucket=True
    )
    return S3Store(name, "plan-a", client=s3)


def test_s3_delete_refuses_an_object_under_retention(lock_bucket):
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    lock_bucket.client.put_object(
        Bucket=lock_bucket.bucket,
        Key="plan-a/runs/1/manifest.json",
        Body=b"{}",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    with pytest.raises(ObjectLockedError) as caught:
        lock_bucket.delete("runs/1/manifest.json")
    assert caught.value.until == until
    assert caught.value.legal_hold is False
    assert isinstance(caught.value, StoreError)
    text = str(caught.value)
    assert "s3://smokejumper-test-locked/plan-a/runs/1/manifest.json" in text
    assert f"{until:%Y-%m-%d %H:%M:%S} UTC" in text
    assert "later sweep" in text
    # Nothing was deleted: no delete marker hides the object.
    assert lock_bucket.get_bytes("runs/1/manifest.json") == b"{}"
    versions = lock_bucket.client.list_object_versions(Bucket=lock_bucket.bucket)
    assert versions.get("DeleteMarkers", []) == []


def test_s3_delete_refuses_an_object_under_governance_retention_set_later(lock_bucket):
    lock_bucket.put_bytes("runs/1/manifest.json", b"{}")
    until = datetime.now(UTC) + timedelta(hours=1)
    lock_bucket.client.put_object_retention(
        Bucket=lock_bucket.bucket,
        Key="plan-a/runs/1/manifest.json",
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
    )
    with pytest.raises(ObjectLockedError) as caught:
        lock_bucket.delete("runs/1/manifest.json")
    assert caught.value.until == until
    assert lock_bucket.exists("runs/1/manifest.json")


def test_s3_delete_removes_an_object_whose_retention_has_expired(lock_bucket):
    # Real S3 refuses a past date on PUT; moto accepts it, which stands in for
    # a retention that has since run out.
    lock_bucket.client.put_object(
        Bucket=lock_bucket.bucket,
        Key="plan-a/runs/1/manifest.json",
        Body=b"{}",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) - timedelta(days=1),
    )
    lock_bucket.delete("runs/1/manifest.json")
    assert not lock_bucket.exists("runs/1/manifest.json")
    assert list(lock_bucket.list_keys()) == []


def test_s3_delete_refuses_an_object_under_legal_hold(lock_bucket):
    lock_bucket.client.put_object(
        Bucket=lock_bucket.bucket, Key="plan-a/runs/1/manifest.json", Body=b"{}", ObjectLockLegalHoldStatus="ON"
    )
    with pytest.raises(ObjectLockedError, match="legal hold") as caught:
        lock_bucket.delete("runs/1/manifest.json")
    assert (caught.value.until, caught.value.legal_hold) == (None, True)
    assert "legal hold is removed" in str(caught.value)
    assert lock_bucket.get_bytes("runs/1/manifest.json") == b"{}"
    # Once the hold is lifted, the next sweep deletes it.
    lock_bucket.client.put_object_legal_hold(
        Bucket=lock_bucket.bucket, Key="plan-a/runs/1/manifest.json", LegalHold={"Status": "OFF"}
    )
    lock_bucket.delete("runs/1/manifest.json")
    assert not lock_bucket.exists("runs/1/manifest.json")
