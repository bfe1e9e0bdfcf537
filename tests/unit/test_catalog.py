"""The catalog: records, manifests as commit points, run ids, listing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from smokejumper.catalog import (
    SCHEMA_VERSION,
    ArtifactRecord,
    ArtifactRef,
    RefusedRun,
    RunManifest,
    latest_run,
    list_runs,
    new_run_id,
    newness,
    read_artifact_record,
    read_manifest,
    run_id_time,
    scan_runs,
    uncommitted_run_ids,
    write_manifest,
)
from smokejumper.errors import IntegrityError, NotFoundError, StoreError, UsageError
from smokejumper.plan import RetentionPolicy
from smokejumper.retention import decide
from smokejumper.store import Store

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


# --- what the deleter is given: scan_runs ----------------------------------------------------------


def copy_run(store: Store, source_id: str, target_id: str) -> None:
    """Copy a run directory byte for byte under another name, as a person with `aws s3 cp` might."""
    source = f"runs/{source_id}"
    for key in list(store.list_keys(source)):
        store.put_bytes(f"runs/{target_id}/{key.removeprefix(source + '/')}", store.get_bytes(key))


def edit_manifest(store: Store, directory: str, **changes: object) -> None:
    key = f"runs/{directory}/manifest.json"
    manifest = json.loads(store.get_bytes(key))
    manifest.update(changes)
    store.put_bytes(key, json.dumps(manifest).encode())


def test_scan_keeps_the_runs_of_other_plans_out_of_reach(store):
    ours = write_run(store, started=datetime(2026, 11, 24, 2, tzinfo=UTC), plan="example")
    theirs = write_run(store, started=datetime(2026, 11, 25, 2, tzinfo=UTC), plan="example-staging")

    scan = scan_runs(store, plan="example")

    assert [run.run_id for run in scan.runs] == [ours.run_id]
    assert scan.refused == [RefusedRun(theirs.run_id, "manifest names plan example-staging, not example")]
    assert scan.uncommitted == []
    assert [run.run_id for run in list_runs(store, "example")] == [ours.run_id]
    assert latest_run(store, plan="example").run_id == ours.run_id
    # Without a plan (runs list, restore of a run id) every committed run is listed, as before.
    assert [run.run_id for run in list_runs(store)] == [theirs.run_id, ours.run_id]


def test_scan_refuses_a_run_lying_in_another_run_directory(store):
    original = write_run(store, started=datetime(2026, 11, 24, 2, tzinfo=UTC))
    copy_id = "20261125T020000Z-c0de"
    copy_run(store, original.run_id, copy_id)

    scan = scan_runs(store, plan="example")

    # The copy's manifest names the original: a deleter acting on "its" run_id would remove the original.
    assert [run.run_id for run in scan.runs] == [original.run_id]
    assert scan.refused == [
        RefusedRun(copy_id, f"manifest says run_id {original.run_id} but lies in directory {copy_id}")
    ]
    # It has a manifest, so it is not an uncommitted run for a sweeper to remove either.
    assert scan.uncommitted == []
    assert uncommitted_run_ids(store) == []


def test_an_unreadable_manifest_is_refused_and_does_not_hide_the_other_runs(store):
    older = write_run(store, started=datetime(2026, 11, 23, 2, tzinfo=UTC))
    newer = write_run(store, started=datetime(2026, 11, 25, 2, tzinfo=UTC))
    store.put_bytes("runs/20261124T020000Z-bad0/manifest.json", b"{not json")
    future = write_run(store, started=datetime(2026, 11, 24, 3, tzinfo=UTC))
    edit_manifest(store, future.run_id, schema_version=99)
    write_artifact(store, "runs/20261124T040000Z-dead/databases/ccdb")
    write_artifact(store, "runs/not-a-run/databases/ccdb")  # not run-shaped: no list names it
    write_artifact(store, "runs/20261340T000000Z-0bad/databases/ccdb")  # run-shaped, but no such time: neither

    scan = scan_runs(store, plan="example")

    assert [run.run_id for run in scan.runs] == [newer.run_id, older.run_id]
    assert [refused.directory for refused in scan.refused] == ["20261124T020000Z-bad0", future.run_id]
    assert all(refused.reason.startswith("manifest unreadable: ") for refused in scan.refused)
    assert "is not a valid RunManifest" in scan.refused[0].reason
    assert "schema_version" in scan.refused[1].reason
    assert scan.uncommitted == ["20261124T040000Z-dead"]
    assert [run.run_id for run in list_runs(store)] == [newer.run_id, older.run_id]


def test_a_manifest_with_an_impossible_run_id_is_refused_not_raised(store):
    # run_id_time raised UsageError, which pydantic does not catch: it escaped parse_record and stopped listing.
    run = write_run(store, started=datetime(2026, 11, 24, 2, tzinfo=UTC))
    edit_manifest(store, run.run_id, run_id="20261340T020000Z-abcd")
    [refused] = scan_runs(store).refused
    assert refused.directory == run.run_id
    assert "'20261340T020000Z-abcd' is not a run id" in refused.reason
    for impossible in ("20261340T020000Z-abcd", "20261125T020000Z-abcd\n", "\u0662" * 8 + "T020000Z-abcd"):
        with pytest.raises(UsageError, match="is not a run id"):
            run_id_time(impossible)


# --- one order of runs: newness ---------------------------------------------------------------------


def test_latest_and_retention_agree_on_the_newest_of_two_runs_in_one_second(store):
    second = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)
    # By run_id "ffff" is newer; by started_at "0000" is, 0.6 s later in the same second.
    early = write_run(store, started=second.replace(microsecond=200_000), run_id="20261125T020000Z-ffff")
    late = write_run(store, started=second.replace(microsecond=800_000), run_id="20261125T020000Z-0000")
    retention = RetentionPolicy(daily=0, weekly=0, monthly=0, min_keep=1)

    decision = decide(list_runs(store), retention, now=second + timedelta(hours=1))

    assert [run.run_id for run in list_runs(store)] == [late.run_id, early.run_id]
    assert latest_run(store).run_id == late.run_id
    assert read_manifest(store, "latest").run_id == late.run_id
    assert [verdict.run_id for verdict in decision.keep] == [late.run_id]
    assert decision.keep[0].reasons == ("within min_keep=1: newest good run",)
    assert [verdict.run_id for verdict in decision.delete] == [early.run_id]


def test_equal_instants_are_ordered_by_run_id_in_listing_as_in_retention(store):
    moment = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)
    write_run(store, started=moment, run_id="20261125T020000Z-0001")
    write_run(store, started=moment, run_id="20261125T020000Z-0002")
    decision = decide(list_runs(store), RetentionPolicy(min_keep=1, daily=0, weekly=0, monthly=0), now=moment)
    assert latest_run(store).run_id == decision.keep[0].run_id == "20261125T020000Z-0002"


def test_newness_is_the_instant_then_the_run_id():
    berlin = datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 02:00 UTC
    manifest = RunManifest(
        plan="p", run_id="20261125T020000Z-abcd", status="succeeded", started_at=berlin, finished_at=berlin
    )
    assert newness(manifest) == (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), "20261125T020000Z-abcd")


def test_a_naive_start_time_is_refused():
    naive = datetime(2026, 11, 25, 2, 0)
    with pytest.raises(ValidationError, match="timezone"):
        RunManifest(plan="p", run_id="20261125T020000Z-abcd", status="succeeded", started_at=naive, finished_at=naive)

    class Bare:
        run_id = "20261125T020000Z-abcd"
        started_at = naive

    with pytest.raises(ValueError, match="must be timezone-aware"):
        newness(Bare())


# --- manifests that cannot be true -----------------------------------------------------------------


def failed_ref(path: str = "databases/uaadb", **fields: object) -> ArtifactRef:
    values: dict[str, object] = {"engine": "postgres", "name": path.rsplit("/", 1)[-1], "status": "failed"}
    values.update({"error": "connection lost", **fields})
    return ArtifactRef(path=path, **values)


def test_a_manifest_claiming_success_over_a_failed_artifact_cannot_be_written():
    moment = datetime(2026, 11, 25, 2, tzinfo=UTC)
    with pytest.raises(ValidationError, match="manifest says succeeded but artifact databases/uaadb failed"):
        RunManifest(
            plan="p",
            run_id=new_run_id(moment),
            status="succeeded",
            started_at=moment,
            finished_at=moment,
            artifacts=[failed_ref()],
        )


def test_a_manifest_claiming_success_over_a_failed_artifact_is_refused_when_read(store):
    run = write_run(store, started=datetime(2026, 11, 25, 2, tzinfo=UTC), failed=("uaadb",))
    edit_manifest(store, run.run_id, status="succeeded")
    message = "manifest says succeeded but artifact databases/uaadb failed"
    with pytest.raises(IntegrityError) as refused:
        read_manifest(store, run.run_id)
    assert refused.value.message.endswith(f"manifest.json is not a valid RunManifest: (top): {message}")
    assert scan_runs(store).refused[0].reason.endswith(message)
    with pytest.raises(NotFoundError, match="no successful run"):
        latest_run(store)


def test_a_failed_artifact_must_say_why():
    with pytest.raises(ValidationError, match="artifact databases/uaadb failed but has no error saying why"):
        failed_ref(error=None)
    with pytest.raises(ValidationError, match="no error saying why"):
        failed_ref(error="  ")
    ArtifactRef(path="databases/ccdb", engine="postgres", name="ccdb", status="succeeded")  # no error needed


def test_artifact_refs_carry_a_stable_error_name_and_a_duration():
    ref = failed_ref(error_type="WouldExceedTimeLimit", seconds=899.5)
    assert (ref.error_type, ref.seconds) == ("WouldExceedTimeLimit", 899.5)
    assert failed_ref(error_type="States.Timeout").error_type == "States.Timeout"
    # The Catch matches a name: prose would never match.
    with pytest.raises(ValidationError, match="error_type"):
        failed_ref(error_type="connection lost")
    with pytest.raises(ValidationError, match="seconds"):
        failed_ref(seconds=-1)


def test_new_manifests_are_schema_version_2_and_version_1_is_still_read(store):
    run = write_run(store, started=datetime(2026, 11, 25, 2, tzinfo=UTC), failed=("uaadb",))
    written = json.loads(store.get_bytes(f"runs/{run.run_id}/manifest.json"))
    assert SCHEMA_VERSION == 2
    assert written["schema_version"] == 2
    assert written["artifacts"][1]["error_type"] == "SourceUnreachable"
    assert written["artifacts"][0]["seconds"] == 1.5

    # A version 1 manifest, as the previous smokejumper wrote it: no error_type, no seconds.
    for artifact in written["artifacts"]:
        del artifact["error_type"], artifact["seconds"]
    store.put_bytes(f"runs/{run.run_id}/manifest.json", json.dumps({**written, "schema_version": 1}).encode())
    old = read_manifest(store, run.run_id)
    assert old.schema_version == 1
    assert [ref.error_type for ref in old.artifacts] == [None, None]

    store.put_bytes(f"runs/{run.run_id}/manifest.json", json.dumps({**written, "schema_version": 3}).encode())
    with pytest.raises(IntegrityError, match="schema_version"):
        read_manifest(store, run.run_id)


# --- a clock set far behind ------------------------------------------------------------------------


def test_a_run_dated_1970_is_listed_and_decided_without_a_crash(store):
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    old = write_run(store, started=epoch)
    assert old.run_id.startswith("19700101T000000Z-")
    assert run_id_time(old.run_id) == epoch
    current = write_run(store, started=datetime(2026, 11, 25, 2, tzinfo=UTC))
    write_artifact(store, "runs/19700101T000001Z-dead/databases/ccdb")

    scan = scan_runs(store, plan="example")

    assert [run.run_id for run in scan.runs] == [current.run_id, old.run_id]
    assert scan.uncommitted == ["19700101T000001Z-dead"]
    assert scan.refused == []
    # West and east of UTC: 1970-01-01 00:00 UTC is still 1969 in New York.
    for zone in ("America/New_York", "Pacific/Chatham", "America/Goose_Bay"):
        decision = decide(scan.runs, RetentionPolicy(time_zone=zone), now=datetime(2026, 11, 25, 3, tzinfo=UTC))
        assert sorted(v.run_id for v in [*decision.keep, *decision.delete]) == [old.run_id, current.run_id]
