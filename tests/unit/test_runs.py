"""The runs module: items of a run, the commit point, and retention carried out on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from smokejumper.catalog import ArtifactRef, read_manifest, run_dir, scan_runs
from smokejumper.errors import UsageError
from smokejumper.plan import Plan
from smokejumper.retention import decide
from smokejumper.runs import RunTicket, commit_run, prune, select_items, start_run
from smokejumper.store import Store, join_key, open_store

from tests.support.artifacts import write_artifact, write_run

SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def make_plan(**retention: int) -> Plan:
    database = {"engine": "postgres", "host": "127.0.0.1", "database": "d", "credentials_secret_arn": SECRET}
    return Plan.model_validate(
        {
            "name": "example",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}, "etcd": {"cron": "cron(0 * * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "etcd": [{"name": "k8s", "endpoints": ["http://127.0.0.1:2379"]}],
            "databases": [{**database, "name": "ccdb"}, {**database, "name": "uaadb"}],
            "retention": {"daily": 3, "weekly": 2, "monthly": 2, "min_keep": 2, **retention},
        }
    )


# --- items --------------------------------------------------------------------------


def test_a_run_takes_every_item_or_those_asked_for():
    plan = make_plan()
    assert [item.path for item in select_items(plan)] == ["etcd/k8s", "databases/ccdb", "databases/uaadb"]
    assert [item.path for item in select_items(plan, components=["databases"])] == ["databases/ccdb", "databases/uaadb"]
    assert [item.path for item in select_items(plan, names=["uaadb"])] == ["databases/uaadb"]
    assert select_items(plan, components=["etcd"], names=["k8s"])[0].engine == "etcd"
    with pytest.raises(UsageError) as caught:
        select_items(plan, components=["database"], names=["ccbd", "nothing-like-it"])
    message = caught.value.message
    assert "unknown component 'database'" in message
    assert "no item 'ccbd' (did you mean 'ccdb'?)" in message
    assert "no item 'nothing-like-it'" in message
    with pytest.raises(UsageError, match="lists no items in etcd"):
        select_items(plan, components=["etcd"], names=["ccdb"])


def test_a_ticket_travels_as_json():
    ticket = start_run(make_plan(), components=["databases"], trigger="schedule", now=NOW)
    assert ticket.run_id.startswith("20261207T030000Z-")
    assert RunTicket.from_json(ticket.to_json()) == ticket


# --- the commit point -----------------------------------------------------------------


def test_the_manifest_believes_only_what_the_store_holds(store: Store):
    plan = make_plan()
    ticket = start_run(plan, components=["databases"], now=NOW)
    ccdb_dir = join_key(run_dir(ticket.run_id), "databases/ccdb")
    digest = write_artifact(store, ccdb_dir, name="ccdb")
    good = ArtifactRef(path="databases/ccdb", engine="postgres", name="ccdb", status="succeeded", record_sha256=digest)
    # uaadb claims success, but nothing of it is in the store.
    claimed = good.model_copy(update={"path": "databases/uaadb", "name": "uaadb"})
    manifest = commit_run(store, ticket, [good, claimed], now=NOW + timedelta(minutes=5))
    assert manifest.status == "failed"
    ccdb, uaadb = manifest.artifacts
    assert ccdb.status == "succeeded"
    assert ccdb.size > 0  # from the record, not from the report
    assert (uaadb.status, uaadb.error_type) == ("failed", "IntegrityError")
    assert "not readable" in (uaadb.error or "")
    assert read_manifest(store, ticket.run_id) == manifest


def test_a_report_that_does_not_match_the_artifact_fails_its_item(store: Store):
    ticket = start_run(make_plan(), names=["ccdb", "uaadb"], now=NOW)
    digest = write_artifact(store, join_key(run_dir(ticket.run_id), "databases/ccdb"), name="ccdb")
    forged = ArtifactRef(
        path="databases/ccdb", engine="postgres", name="ccdb", status="succeeded", record_sha256="0" * 64
    )
    with pytest.raises(UsageError, match="does not have: databases/other"):
        commit_run(store, ticket, [forged.model_copy(update={"path": "databases/other"})])
    manifest = commit_run(store, ticket, [forged], now=NOW)
    ccdb, uaadb = manifest.artifacts
    assert (ccdb.error_type, uaadb.error_type) == ("IntegrityError", "BackupFailed")
    assert "does not match the report" in (ccdb.error or "")
    assert digest[:12] in (ccdb.error or "")
    assert "no result reached the commit" in (uaadb.error or "")


def test_a_run_whose_items_all_succeeded_is_good(store: Store):
    ticket = start_run(make_plan(), names=["ccdb"], now=NOW)
    digest = write_artifact(store, join_key(run_dir(ticket.run_id), "databases/ccdb"), name="ccdb")
    ref = ArtifactRef(path="databases/ccdb", engine="postgres", name="ccdb", status="succeeded", record_sha256=digest)
    manifest = commit_run(store, ticket, [ref])
    assert manifest.status == "succeeded"
    # A retried commit step finds its run committed and returns it, whatever it is handed now.
    assert commit_run(store, ticket, []) == manifest
    other = RunTicket(ticket.plan, ticket.run_id, ticket.started_at, select_items(make_plan(), names=["uaadb"]))
    with pytest.raises(UsageError, match="committed already, with other items"):
        commit_run(store, other, [])


def test_the_commit_checks_the_data_files_and_takes_nothing_else_from_the_report(store: Store):
    ticket = start_run(make_plan(), names=["ccdb", "uaadb"], now=NOW)
    entries = []
    for name in ("ccdb", "uaadb"):
        digest = write_artifact(store, join_key(run_dir(ticket.run_id), f"databases/{name}"), name=name)
        entries.append(
            ArtifactRef(
                path=f"databases/{name}", engine="mysql", name="other", status="succeeded", record_sha256=digest,
                error="ignored", error_type="Foo", seconds=2.5,
            )
        )  # fmt: skip
    with pytest.raises(UsageError, match="more than one result for databases/ccdb"):
        commit_run(store, ticket, [entries[0], entries[0].model_copy(update={"status": "failed"})])
    store.delete(join_key(run_dir(ticket.run_id), "databases/uaadb/dump.sql.zst"))
    ccdb, uaadb = commit_run(store, ticket, entries).artifacts
    assert (ccdb.engine, ccdb.name, ccdb.error, ccdb.error_type, ccdb.seconds) == ("postgres", "ccdb", None, None, 2.5)
    assert (uaadb.status, uaadb.error_type) == ("failed", "IntegrityError")
    assert "dump.sql.zst is missing" in (uaadb.error or "")


def test_a_backup_refuses_a_committed_run_an_unknown_item_and_a_made_up_run_id(store: Store):
    from smokejumper.runs import RunItem, backup_item
    from smokejumper.secrets import FileSecrets

    plan = make_plan()
    ticket = start_run(plan, names=["ccdb"], now=NOW)
    secrets = FileSecrets({})
    with pytest.raises(UsageError, match="has no item databases/uaadb"):
        backup_item(plan, store, ticket, RunItem("databases", "uaadb", "postgres"), secrets)
    with pytest.raises(UsageError, match="is not a run id"):
        backup_item(plan, store, RunTicket("example", "../../x", NOW, ()), ticket.items[0], secrets)
    digest = write_artifact(store, join_key(run_dir(ticket.run_id), "databases/ccdb"), name="ccdb")
    ref = ArtifactRef(path="databases/ccdb", engine="postgres", name="ccdb", status="succeeded", record_sha256=digest)
    commit_run(store, ticket, [ref])
    with pytest.raises(UsageError, match="committed already: its artifacts are never rewritten"):
        backup_item(plan, store, ticket, ticket.items[0], secrets)


# --- retention carried out --------------------------------------------------------------


def nightly_history(store: Store, *, nights: int, failed_last: int = 0) -> list[str]:
    """A run at 02:00 every night for `nights` nights before NOW; the last `failed_last` ones failed."""
    ids = []
    for night in range(nights, 0, -1):
        started = NOW.replace(hour=2) - timedelta(days=night - 1)
        failing = ("uaadb",) if night <= failed_last else ()
        ids.append(write_run(store, started=started, failed=failing).run_id)
    return ids


def test_prune_deletes_exactly_the_runs_retention_decides(store: Store):
    plan = make_plan()
    ids = nightly_history(store, nights=70)
    # A backup in progress (no manifest yet), and a run that died two weeks ago.
    in_progress = write_run(store, started=NOW - timedelta(minutes=20))
    store.delete(join_key(run_dir(in_progress.run_id), "manifest.json"))
    dead = write_run(store, started=NOW - timedelta(days=14, hours=1))
    store.delete(join_key(run_dir(dead.run_id), "manifest.json"))
    # Another plan's run under the same prefix, and a run copied into another run's directory.
    foreign = write_run(store, started=NOW - timedelta(days=200), plan="other-plan")
    copied_to = "20260101T020000Z-c0de"
    for key in store.list_keys(run_dir(ids[0])):
        store.put_bytes(key.replace(ids[0], copied_to), store.get_bytes(key))

    before = set(store.list_keys())
    runs = scan_runs(store, plan=plan.name).runs
    expected = decide(runs, plan.retention, now=NOW)

    dry = prune(plan, store, now=NOW, dry_run=True)
    assert set(store.list_keys()) == before, "a dry run changes nothing"
    assert {d.run_id for d in dry.deletions if d.committed} == {v.run_id for v in expected.delete}
    assert all(deletion.outcome == "would delete" for deletion in dry.deletions)

    report = prune(plan, store, now=NOW)
    deleted = {d.run_id for d in report.deletions if d.outcome == "deleted" and d.committed}
    assert deleted == {verdict.run_id for verdict in expected.delete}
    assert len(deleted) == 70 - len(expected.keep)
    assert all(deletion.reasons for deletion in report.deletions)
    left = scan_runs(store, plan=plan.name)
    assert [run.run_id for run in left.runs] == [verdict.run_id for verdict in expected.keep]
    # The uncommitted run of a backup in progress is untouched; the dead one is swept.
    assert report.waiting == [in_progress.run_id]
    assert [d.run_id for d in report.deletions if not d.committed] == [dead.run_id]
    assert next(iter(store.list_keys(run_dir(in_progress.run_id))))
    assert not list(store.list_keys(run_dir(dead.run_id)))
    # What is not this plan's, or not where its manifest says, is left alone and said so.
    reasons = dict(report.refused)
    assert reasons[foreign.run_id] == "manifest names plan other-plan, not example"
    assert reasons[copied_to] == f"manifest says run_id {ids[0]} but lies in directory {copied_to}"
    assert next(iter(store.list_keys(run_dir(foreign.run_id))))
    assert next(iter(store.list_keys(run_dir(copied_to))))

    again = prune(plan, store, now=NOW)
    assert [d for d in again.deletions if d.committed] == []


def test_min_keep_holds_when_the_recent_runs_failed(store: Store):
    plan = make_plan(daily=1, weekly=0, monthly=0, min_keep=3)
    ids = nightly_history(store, nights=12, failed_last=5)
    prune(plan, store, now=NOW)
    kept = [run.run_id for run in scan_runs(store, plan=plan.name).runs]
    good = ids[:-5]
    # Every failed run is newer than the last good one (evidence of a problem), and three good runs remain.
    assert kept == list(reversed(ids[-5:])) + list(reversed(good[-3:]))


def test_a_run_held_by_object_lock_is_kept_and_the_sweep_goes_on(aws):
    s3 = aws.client("s3")
    s3.create_bucket(
        Bucket="locked-backups",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )
    store = open_store("s3://locked-backups/example", s3_client=s3)
    plan = make_plan(daily=1, weekly=0, monthly=0, min_keep=1)
    ids = nightly_history(store, nights=4)
    locked_run = ids[1]
    manifest_key = f"example/runs/{locked_run}/manifest.json"
    s3.put_object_retention(
        Bucket="locked-backups",
        Key=manifest_key,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": NOW + timedelta(days=30)},
    )
    report = prune(plan, store, now=NOW)
    outcomes = {deletion.run_id: deletion.outcome for deletion in report.deletions}
    assert outcomes == {ids[0]: "deleted", locked_run: "locked", ids[2]: "deleted"}
    [locked] = [deletion for deletion in report.deletions if deletion.outcome == "locked"]
    assert "held by Object Lock until" in locked.detail
    # Nothing of the locked run was touched: it is still a whole, listed run.
    assert [run.run_id for run in scan_runs(store, plan="example").runs] == [ids[3], locked_run]


def test_runs_of_one_component_never_push_out_another_items_backups(store: Store):
    # A nightly databases run, then hourly etcd-only runs: each item keeps its own backups.
    plan = make_plan(daily=1, weekly=0, monthly=0, min_keep=1)
    nightly = write_run(store, started=NOW.replace(hour=0), databases=("ccdb", "uaadb"))
    hourly = [write_run(store, started=NOW.replace(hour=hour), databases=("k8s",)).run_id for hour in (1, 2)]
    report = prune(plan, store, now=NOW)
    kept = {run.run_id for run in scan_runs(store, plan=plan.name).runs}
    assert kept == {nightly.run_id, hourly[-1]}
    [deleted] = report.deletions
    assert deleted.run_id == hourly[0]
    assert deleted.reasons == ("databases/k8s: not selected by daily=1, weekly=0, monthly=0 or min_keep=1",)
    reasons = dict(report.kept)[nightly.run_id]
    assert any(reason.startswith("databases/ccdb: ") for reason in reasons)


def test_a_failed_runs_good_artifacts_still_count_for_their_items(store: Store):
    plan = make_plan(daily=1, weekly=0, monthly=0, min_keep=1)
    half = write_run(store, started=NOW.replace(hour=0), failed=("uaadb",))  # ccdb good, uaadb failed
    other_half = write_run(store, started=NOW.replace(hour=1), failed=("ccdb",))  # uaadb good, ccdb failed
    prune(plan, store, now=NOW)
    # Each run holds the newest good backup of one item: both stay.
    assert {run.run_id for run in scan_runs(store, plan=plan.name).runs} == {half.run_id, other_half.run_id}


def test_a_lock_on_any_object_of_a_run_keeps_all_of_it(aws):
    s3 = aws.client("s3")
    s3.create_bucket(
        Bucket="held-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )  # fmt: skip
    store = open_store("s3://held-backups/example", s3_client=s3)
    plan = make_plan(daily=1, weekly=0, monthly=0, min_keep=1)
    old, new = nightly_history(store, nights=2)
    s3.put_object_legal_hold(
        Bucket="held-backups", Key=f"example/runs/{old}/databases/uaadb/dump.sql.zst", LegalHold={"Status": "ON"}
    )
    before = sorted(store.list_keys(run_dir(old)))
    [deletion] = prune(plan, store, now=NOW).deletions
    assert (deletion.run_id, deletion.outcome) == (old, "locked")
    assert "legal hold" in deletion.detail
    assert sorted(store.list_keys(run_dir(old))) == before, "nothing of a held run is touched"
    assert [run.run_id for run in scan_runs(store, plan="example").runs] == [new, old]
