"""verify: every way stored bytes can go wrong is found and named."""

from __future__ import annotations

import hashlib
import json

import pytest
import zstandard
from smokejumper.catalog import read_artifact_record
from smokejumper.errors import NotFoundError
from smokejumper.verify import verify_location

from tests.support.artifacts import write_artifact, write_run

DUMP = "dump.sql.zst"


@pytest.fixture
def artifact(store):
    write_artifact(store, "art")
    return store.child("art")


def frame_named(store, name):
    record, _ = read_artifact_record(store)
    return next(frame for frame in record.files[0].frames if frame.name == name)


def test_good_artifact_and_run_verify(store, artifact):
    report = verify_location(artifact)
    assert report.ok, report.problems
    assert report.kind == "artifact"
    assert report.bytes_checked == artifact.size(DUMP)
    run = write_run(store)
    report = verify_location(store.child(f"runs/{run.run_id}"))
    assert report.ok, report.problems
    assert (report.kind, report.artifacts) == ("run", ["databases/ccdb", "databases/uaadb"])


def test_flipped_byte_names_the_frame(artifact):
    frame = frame_named(artifact, "public.spaces")
    data = bytearray(artifact.get_bytes(DUMP))
    data[frame.offset + frame.length // 2] ^= 0x40
    artifact.put_bytes(DUMP, bytes(data))
    report = verify_location(artifact)
    assert not report.ok
    assert any("dump.sql.zst: frame 'public.spaces' (offset" in problem for problem in report.problems), report.problems
    assert any("sha256 of the file" in problem for problem in report.problems)
    # The other frames are still checked and found good.
    assert not any("public.orgs" in problem for problem in report.problems)


def test_truncated_file(artifact):
    data = artifact.get_bytes(DUMP)
    artifact.put_bytes(DUMP, data[:-20])
    report = verify_location(artifact)
    assert f"dump.sql.zst: truncated: is {len(data) - 20} bytes, record says {len(data)}" in report.problems
    assert any("'public.spaces'" in problem and "read" in problem for problem in report.problems), report.problems
    assert any("frame 3 'public.empty'" in problem and "missing" in problem for problem in report.problems)


def test_missing_frame_in_the_index(artifact):
    record = json.loads(artifact.get_bytes("artifact.json"))
    del record["files"][0]["frames"][1]
    artifact.put_bytes("artifact.json", json.dumps(record).encode())
    report = verify_location(artifact)
    assert any("are in no frame (a frame is missing from the index)" in problem for problem in report.problems), (
        report.problems
    )


def test_missing_frame_bytes(artifact):
    frame = frame_named(artifact, "public.spaces")
    data = artifact.get_bytes(DUMP)
    artifact.put_bytes(DUMP, data[: frame.offset] + data[frame.offset + frame.length :])
    report = verify_location(artifact)
    assert any("truncated" in problem for problem in report.problems)
    assert any("'public.spaces'" in problem for problem in report.problems)


def test_missing_data_file(artifact, store):
    store.put_bytes("art2/artifact.json", artifact.get_bytes("artifact.json"))
    report = verify_location(store.child("art2"))
    assert report.problems == ["dump.sql.zst: missing (record lists it, store has no dump.sql.zst)"]


def test_manifest_pointing_at_a_missing_artifact(store):
    run = write_run(store, databases=("ccdb", "uaadb"))
    run_store = store.child(f"runs/{run.run_id}")
    # Remove one artifact's record: the manifest now points at nothing.
    if hasattr(run_store, "root"):
        (run_store.root / "databases" / "uaadb" / "artifact.json").unlink()
    else:
        run_store.client.delete_object(Bucket=run_store.bucket, Key=f"{run_store.prefix}/databases/uaadb/artifact.json")
    report = verify_location(run_store)
    assert report.problems == [
        "databases/uaadb: listed in the manifest, but databases/uaadb/artifact.json does not exist"
    ]


def test_replaced_artifact_record_is_caught_by_the_manifest(store):
    run = write_run(store)
    run_store = store.child(f"runs/{run.run_id}")
    record = json.loads(run_store.get_bytes("databases/ccdb/artifact.json"))
    record["source"]["server_version"] = "16.0"
    run_store.put_bytes("databases/ccdb/artifact.json", json.dumps(record).encode())
    report = verify_location(run_store)
    assert report.problems == ["databases/ccdb: artifact.json differs from the one the manifest recorded"]


def test_nothing_to_verify(store):
    with pytest.raises(NotFoundError, match=r"neither artifact\.json nor manifest\.json"):
        verify_location(store.child("empty"))


def test_version_1_record_content_digest_is_checked(artifact):
    """A record of schema version 1 (which carried the sha256 of the decompressed file) is checked against it."""
    record = json.loads(artifact.get_bytes("artifact.json"))
    record["schema_version"] = 1
    record["files"][0]["uncompressed_sha256"] = "0" * 64
    artifact.put_bytes("artifact.json", json.dumps(record).encode())
    report = verify_location(artifact)
    assert report.problems == ["dump.sql.zst: sha256 of the decompressed content does not match the record"]
    content = zstandard.ZstdDecompressor().stream_reader(artifact.get_bytes(DUMP), read_across_frames=True).read()
    record["files"][0]["uncompressed_sha256"] = hashlib.sha256(content).hexdigest()
    artifact.put_bytes("artifact.json", json.dumps(record).encode())
    assert verify_location(artifact).ok
