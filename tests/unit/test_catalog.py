"""The catalog: records, manifests as commit points, run ids, listing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from smokejumper.catalog import (
    ArtifactRecord,
    latest_run,
    list_runs,
    new_run_id,
    read_artifact_record,
    read_manifest,
    run_id_time,
    uncommitted_run_ids,
    write_manifest,
)
from smokejumper.errors import IntegrityError, NotFoundError, StoreError, UsageError

from tests.support.artifacts import TABLES, write_artifact, write_run


def test_run_ids_sort_by_time_and_parse_back():
    base = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    ids = [new_run_id(base + timedelta(seconds=offset)) for offset in (0, 1, 3600, 86400)]
    assert ids == sorted(ids)
    assert re.fullmatch(r"20261125T020000Z-[0-9a-f]{4}", ids[0])
    assert run_id_time(ids[2]) == base + timedelta(hours=1)
    with pytest.raises(UsageError, match="not a run id"):
        run_id_time("yesterday")


def test_artifact_record_describes_the_data(store):
    digest = write_artifact(store, "runs/x/databases/ccdb")
    record, read_digest = read_artifact_record(store, "runs/x/databases/ccdb")
    assert read_digest == digest
    assert record.schema_version == 2
    # Version 2 digests the stored bytes only (see smokejumper.frames): no uncompressed digests are written.
    assert "uncompressed_sha256" not in store.get_bytes("runs/x/databases/ccdb/artifact.json").decode()
    assert (record.engine, record.name) == ("postgres", "ccdb")
    [data_file] = record.files
    assert data_file.name == "dump.sql.zst"
    assert data_file.size == store.size("runs/x/databases/ccdb/dump.sql.zst")
    assert [frame.name for frame in data_file.frames] == list(TABLES)
    assert [frame.rows for frame in data_file.frames] == [300, 2000, 0]
    assert data_file.uncompressed_size == sum(len(data) for data in TABLES.values())


def test_listing_is_newest_first_and_only_committed_runs(store):
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    older = write_run(store, started=now - timedelta(days=2))
    failed = write_run(store, started=now - timedelta(days=1), failed=("uaadb",))
    newest = write_run(store, started=now)
    # A run that died before committing: data written, no manifest.
    write_artifact(store, "runs/20261125T030000Z-dead/databases/ccdb")
    runs = list_runs(store)
    assert [run.run_id for run in runs] == [newest.run_id, failed.run_id, older.run_id]
    assert [run.status for run in runs] == ["succeeded", "failed", "succeeded"]
    assert runs[0].size > 0
    assert uncommitted_run_ids(store) == ["20261125T030000Z-dead"]
    assert latest_run(store).run_id == newest.run_id
    assert read_manifest(store, "latest").run_id == newest.run_id


def test_latest_good_run_skips_failed_ones(store):
    good = write_run(store, started=datetime(2026, 11, 20, tzinfo=UTC))
    write_run(store, started=datetime(2026, 11, 21, tzinfo=UTC), failed=("ccdb",))
    assert latest_run(store).run_id == good.run_id
    assert latest_run(store, good_only=False).status == "failed"


def test_no_runs_is_a_clear_error(store):
    with pytest.raises(NotFoundError, match="no successful run"):
        latest_run(store)
    assert list_runs(store) == []


def test_missing_and_uncommitted_runs_are_told_apart(store):
    write_artifact(store, "runs/20261125T030000Z-dead/databases/ccdb")
    with pytest.raises(NotFoundError, match="never committed"):
        read_manifest(store, "20261125T030000Z-dead")
    with pytest.raises(NotFoundError, match="no such run"):
        read_manifest(store, "20261125T040000Z-beef")


def test_runs_are_never_rewritten(store):
    manifest = write_run(store)
    with pytest.raises(StoreError, match="already committed"):
        write_manifest(store, manifest)


def test_damaged_or_future_records_are_refused(store):
    write_artifact(store, "a")
    record = json.loads(store.get_bytes("a/artifact.json"))
    record["schema_version"] = 99
    store.put_bytes("a/artifact.json", json.dumps(record).encode())
    with pytest.raises(IntegrityError, match="schema_version"):
        read_artifact_record(store, "a")
    store.put_bytes("a/artifact.json", b"{not json")
    with pytest.raises(IntegrityError, match="not a valid ArtifactRecord"):
        read_artifact_record(store, "a")


def test_record_schema_is_strict():
    with pytest.raises(ValueError, match="sha256"):
        ArtifactRecord.model_validate(
            {
                "engine": "postgres",
                "name": "x",
                "started_at": "2026-11-25T02:00:00Z",
                "finished_at": "2026-11-25T02:00:00Z",
                "files": [
                    {
                        "name": "d",
                        "size": 1,
                        "sha256": "nothex",
                        "uncompressed_size": 1,
                        "uncompressed_sha256": "0" * 64,
                        "frames": [],
                    }
                ],
            }
        )
