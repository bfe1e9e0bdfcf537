"""Snapshots copied to a second region, and locked: the workflow's looks, retention and restore (moto, two regions).

moto has no LockSnapshot: the lock's calls are checked against botocore's own
model of the EC2 API with its Stubber, and retention's handling of locked
snapshots through the tag the lock leaves (what retention reads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from smokejumper.errors import UsageError
from smokejumper.plan import Plan, SnapshotLock
from smokejumper.sources.base import BackupResult
from smokejumper.sources.volumes import selection as sel
from smokejumper.sources.volumes.copies import CONCURRENT_COPIES, COPY_OF_TAG, SOURCE_REGION_TAG
from smokejumper.sources.volumes.lock import LOCKED_UNTIL_TAG, lock_snapshots
from smokejumper.sources.volumes.snapshots import PLAN_TAG, RUN_TAG, SnapshotFailed
from smokejumper.sources.volumes.source import VolumeTarget, look_phase, start_phase
from smokejumper.store import open_store

REGION, COPY_REGION = "eu-west-1", "eu-central-1"
ACCOUNT = "123456789012"  # moto's
COPY_KEY = f"arn:aws:kms:{COPY_REGION}:{ACCOUNT}:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"
CLUSTER_TAG = "kubernetes.io/cluster/cf-prod"
RUN_ID = "20261207T013000Z-c0de"
ARTIFACT_DIR = f"runs/{RUN_ID}/volumes/pvs"


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """(the plan's region's EC2, the copy region's EC2), on one moto."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # A run through the runs module looks again after poll_seconds: copies start only at a look after their
    # source completed, so every such run would wait one poll. Nothing here needs the real wait.
    from types import SimpleNamespace

    import smokejumper.sources.volumes.source as source_module

    monkeypatch.setattr(source_module, "time", SimpleNamespace(time=time.time, sleep=lambda _seconds: None))
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION), boto3.client("ec2", region_name=COPY_REGION)


def plan_with(**selector: Any) -> Plan:
    return Plan.model_validate(
        {
            "name": "cf-prod",
            "deployment": {"region": REGION, "account": ACCOUNT},
            "schedules": {"volumes": {"cron": "cron(30 1 * * ? *)"}},
            "retention": {"daily": 1, "weekly": 0, "monthly": 0, "min_keep": 1, "uncommitted_grace_hours": 48},
            "volumes": [
                {
                    "name": "pvs",
                    "tags": [{"key": "ebs.csi.aws.com/cluster", "values": ["true"]}],
                    "copy_to": {"region": COPY_REGION, "kms_key": COPY_KEY},
                    **selector,
                }
            ],
        }
    )


def csi_volume(ec2: Any, namespace: str, name: str, zone: str = "eu-west-1a") -> str:
    tags = {
        "ebs.csi.aws.com/cluster": "true", CLUSTER_TAG: "owned", sel.PVC_NAMESPACE: namespace, sel.PVC_NAME: name,
        sel.PV_NAME: f"pvc-{namespace}-{name}",
    }  # fmt: skip
    return ec2.create_volume(
        AvailabilityZone=zone, Size=8, VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["VolumeId"]  # fmt: skip


def hold(region: str, snapshot_id: str, state: str) -> None:
    """moto's snapshots (copies too) are born completed: set one's state, as EC2 would report it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    ec2_backends[DEFAULT_ACCOUNT_ID][region].snapshots[snapshot_id].status = state


def copies_in(dest: Any) -> dict[str, dict[str, Any]]:
    """Source snapshot id -> its copy, as the copy region lists them."""
    listed = dest.describe_snapshots(Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [RUN_ID]}])["Snapshots"]
    return {sel.tags_of(s)[COPY_OF_TAG]: s for s in listed}


def test_copies_start_as_sources_complete_twenty_at_a_time_and_the_record_names_each_copy(clients, tmp_path) -> None:
    ec2, dest = clients
    volumes = {csi_volume(ec2, "cf-apps", f"data-{i:02}") for i in range(CONCURRENT_COPIES + 5)}
    plan = plan_with()
    target = VolumeTarget(plan.volumes[0], plan.name, RUN_ID, REGION)
    store = open_store(str(tmp_path))
    state = start_phase(ec2, store, ARTIFACT_DIR, target)
    sources = state["snapshots"]
    held = sources[:3]
    for snapshot_id in held:
        hold(REGION, snapshot_id, "pending")

    def look() -> Any:
        return look_phase(ec2, store, ARTIFACT_DIR, target, sources, state["give_up_at"], copy_ec2=dest)

    first = look()
    assert not isinstance(first, BackupResult)
    copies = copies_in(dest)
    # A copy starts only from a completed source, and never more than EBS's 20 per destination region at once.
    assert len(copies) == CONCURRENT_COPIES
    assert not set(copies) & set(held)
    assert first.progress[f"copy of {sorted(set(sources) - set(held) - set(copies))[0]}"].startswith("waiting")
    for copy in copies.values():
        hold(COPY_REGION, copy["SnapshotId"], "pending")

    second = look()  # every slot taken by the run's own pending copies: nothing more starts, nothing twice
    assert not isinstance(second, BackupResult)
    assert copies_in(dest).keys() == copies.keys()
    assert second.copied == 0

    for snapshot_id in held:
        hold(REGION, snapshot_id, "completed")
    for copy in copies.values():
        hold(COPY_REGION, copy["SnapshotId"], "completed")
    third = look()  # the remaining five start (born completed in moto)
    assert not isinstance(third, BackupResult)
    assert set(copies_in(dest)) == set(sources)

    done = look()
    assert isinstance(done, BackupResult)
    records = done.record.snapshot_point["snapshots"]
    assert {r["volume_id"] for r in records} == volumes
    final = copies_in(dest)
    for record in records:
        copy = final[record["snapshot_id"]]
        assert record["copy"]["region"] == COPY_REGION
        assert record["copy"]["snapshot_id"] == copy["SnapshotId"]
        assert (copy["Encrypted"], copy["KmsKeyId"]) == (True, COPY_KEY)
        assert record["copy"]["kms_key_id"] == COPY_KEY
        tags = sel.tags_of(copy)
        # Tagged as the source (retention finds it by plan and run), plus where it came from.
        assert (tags[PLAN_TAG], tags[RUN_TAG], tags[SOURCE_REGION_TAG]) == ("cf-prod", RUN_ID, REGION)
        assert tags[sel.PVC_NAME] == record["pvc_name"]


def test_a_copy_refused_or_in_error_fails_the_item_with_its_cause_but_full_slots_only_wait(clients, tmp_path) -> None:
    ec2, dest = clients
    csi_volume(ec2, "cf-db", "data-0")
    plan = plan_with()
    target = VolumeTarget(plan.volumes[0], plan.name, RUN_ID, REGION)
    store = open_store(str(tmp_path))
    state = start_phase(ec2, store, ARTIFACT_DIR, target)

    class Refusing:
        """The copy region's EC2, refusing CopySnapshot with `code`."""

        def __init__(self, code: str) -> None:
            self.code = code
            self.meta = dest.meta

        def get_paginator(self, name: str) -> Any:
            return dest.get_paginator(name)

        def copy_snapshot(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, "CopySnapshot")

    def look(copy_ec2: Any) -> Any:
        return look_phase(ec2, store, ARTIFACT_DIR, target, state["snapshots"], state["give_up_at"], copy_ec2=copy_ec2)

    waiting = look(Refusing("ResourceLimitExceeded"))  # others' copies hold the region's 20 slots: next look
    assert not isinstance(waiting, BackupResult)
    assert list(waiting.progress.values()) == [f"waiting to start (to {COPY_REGION})"]
    with pytest.raises(SnapshotFailed, match=f"copy of {state['snapshots'][0]} \\(cf-db/data-0\\) to {COPY_REGION}"):
        look(Refusing("InvalidParameterValue"))

    look(dest)
    [copy] = copies_in(dest).values()
    hold(COPY_REGION, copy["SnapshotId"], "error")
    with pytest.raises(SnapshotFailed, match=f"copy {copy['SnapshotId']} of cf-db/data-0 to {COPY_REGION} failed"):
        look(dest)


def test_copies_not_completed_by_the_timeout_fail_naming_each_pvc(clients, tmp_path) -> None:
    ec2, dest = clients
    csi_volume(ec2, "cf-db", "data-0")
    plan = plan_with(timeout_minutes=5)
    target = VolumeTarget(plan.volumes[0], plan.name, RUN_ID, REGION)
    store = open_store(str(tmp_path))
    state = start_phase(ec2, store, ARTIFACT_DIR, target, now=time.time())
    look_phase(ec2, store, ARTIFACT_DIR, target, state["snapshots"], state["give_up_at"], copy_ec2=dest)
    [copy] = copies_in(dest).values()
    hold(COPY_REGION, copy["SnapshotId"], "pending")
    late = state["give_up_at"] + 1
    with pytest.raises(SnapshotFailed, match=r"1 snapshots not completed after 5 min: cf-db/data-0 \(copy\) 100%"):
        look_phase(ec2, store, ARTIFACT_DIR, target, state["snapshots"], state["give_up_at"], now=late, copy_ec2=dest)


def test_the_lock_calls_match_ec2s_api_and_a_retried_step_does_not_lock_twice() -> None:
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    until = datetime(2027, 1, 6, 1, 30, tzinfo=UTC)
    with Stubber(ec2) as stub:
        # Stubber checks each request against botocore's model of LockSnapshot and CreateTags.
        stub.add_response(
            "lock_snapshot",
            {"SnapshotId": "snap-0a", "LockState": "compliance-cooloff", "LockExpiresOn": until},
            {"SnapshotId": "snap-0a", "LockMode": "compliance", "LockDuration": 30, "CoolOffPeriod": 24},
        )
        stub.add_response(
            "create_tags",
            {},
            {"Resources": ["snap-0a"], "Tags": [{"Key": LOCKED_UNTIL_TAG, "Value": until.isoformat()}]},
        )
        already = {"SnapshotId": "snap-0b", "Tags": [{"Key": LOCKED_UNTIL_TAG, "Value": until.isoformat()}]}
        locked = lock_snapshots(ec2, [{"SnapshotId": "snap-0a"}, already], SnapshotLock(days=30, cool_off_hours=24))
        stub.assert_no_pending_responses()
    assert locked == {"snap-0a": until.isoformat(), "snap-0b": until.isoformat()}

    with Stubber(ec2) as stub:
        stub.add_client_error("lock_snapshot", "UnauthorizedOperation", "not allowed")
        with pytest.raises(
            SnapshotFailed, match="snapshot snap-0c could not be locked for 7 days: UnauthorizedOperation"
        ):
            lock_snapshots(ec2, [{"SnapshotId": "snap-0c"}], SnapshotLock(days=7))


def committed_run(ec2: Any, store: Any, plan: Plan, started: datetime) -> str:
    from smokejumper.runs import back_up_items, commit_run, start_run
    from smokejumper.secrets import FileSecrets

    ticket = start_run(plan, now=started)
    manifest = commit_run(store, ticket, back_up_items(plan, store, ticket, FileSecrets({})), now=started)
    assert manifest.status == "succeeded", manifest
    return ticket.run_id


def test_retention_deletes_a_runs_copies_with_it_and_leaves_locked_ones_until_their_lock_ends(
    clients, tmp_path
) -> None:
    from smokejumper.runs import prune
    from smokejumper.sources.volumes.retention import plan_snapshots

    ec2, dest = clients
    csi_volume(ec2, "cf-db", "data-0")
    plan = plan_with()
    store = open_store(str(tmp_path))
    today = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
    runs = [committed_run(ec2, store, plan, today - timedelta(days=day)) for day in (3, 2, 1)]
    foreign = dest.copy_snapshot(
        SourceRegion=REGION, SourceSnapshotId=ec2.describe_snapshots()["Snapshots"][0]["SnapshotId"],
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": PLAN_TAG, "Value": "another-plan"},
                                                                  {"Key": RUN_TAG, "Value": runs[0]}]}],
    )["SnapshotId"]  # fmt: skip
    snapshots = plan_snapshots(plan, ec2=ec2)
    assert snapshots is not None
    by_run = snapshots.by_run()
    assert sorted(ref.region for ref in by_run[runs[0]]) == [COPY_REGION, REGION]

    # The second run's snapshots are locked (as lock.py tags them) for another 20 days.
    locked_until = today + timedelta(days=20)
    for ref in by_run[runs[1]]:
        client = ec2 if ref.region == REGION else dest
        client.create_tags(
            Resources=[ref.snapshot_id], Tags=[{"Key": LOCKED_UNTIL_TAG, "Value": locked_until.isoformat()}]
        )

    report = prune(plan, store, now=today, snapshots=snapshots)
    outcome = {d.run_id: (d.outcome, d.snapshots) for d in report.deletions}
    assert outcome == {runs[0]: ("deleted", 2), runs[1]: ("deleted", 0)}
    [held] = [d for d in report.deletions if d.run_id == runs[1]]
    assert f"2 snapshots locked until {locked_until:%Y-%m-%d %H:%M} UTC stay until then" in held.detail
    left = snapshots.by_run()
    assert set(left) == {runs[1], runs[2]}
    assert foreign in {s["SnapshotId"] for s in dest.describe_snapshots()["Snapshots"]}

    # While locked, later sweeps leave them alone without a word; the first sweep after the lock deletes them.
    assert runs[1] not in {
        d.run_id for d in prune(plan, store, now=today + timedelta(days=1), snapshots=snapshots).deletions
    }
    after = prune(plan, store, now=locked_until + timedelta(hours=1), snapshots=snapshots)
    [swept] = [d for d in after.deletions if d.run_id == runs[1]]
    assert (swept.outcome, swept.snapshots) == ("deleted", 2)
    assert "pruned while they were locked" in swept.reasons[0]
    assert runs[1] not in snapshots.by_run()


def test_a_pvc_is_restored_from_its_copy_when_asked_for_the_copy_region(clients, tmp_path) -> None:
    from click.testing import CliRunner
    from smokejumper.cli.app import cli

    ec2, dest = clients
    csi_volume(ec2, "cf-db", "data-0")
    store = open_store(str(tmp_path / "store"))
    committed_run(ec2, store, plan_with(), datetime.now(UTC))
    runner = CliRunner()
    base = ["volumes", "restore", "--pvc", "cf-db/data-0", "--out", str(tmp_path / "yaml"), "--store", store.url]

    restored = runner.invoke(cli, [*base, "--region", COPY_REGION, "--az", "eu-central-1b", "--json"])
    assert restored.exit_code == 0, restored.output
    answer = json.loads(restored.output)
    [volume] = dest.describe_volumes(VolumeIds=[answer["volume_id"]])["Volumes"]
    [copy] = copies_in_any_run(dest)
    assert (volume["SnapshotId"], volume["AvailabilityZone"]) == (copy["SnapshotId"], "eu-central-1b")
    assert "eu-central-1b" in (tmp_path / "yaml" / "cf-db-data-0.yaml").read_text()

    # The CLI's main() prints these as one line with the hint; the runner hands back the error itself.
    no_zone = runner.invoke(cli, [*base, "--region", COPY_REGION])
    assert isinstance(no_zone.exception, UsageError)
    assert f"a volume restored from the copy in {COPY_REGION} needs an availability zone" in str(no_zone.exception)
    assert "eu-central-1a" in (no_zone.exception.hint or "")
    elsewhere = runner.invoke(cli, [*base, "--region", "us-east-1", "--az", "us-east-1a"])
    assert isinstance(elsewhere.exception, UsageError)
    assert f"in {REGION} (and its copy in {COPY_REGION}), not in us-east-1" in str(elsewhere.exception)


def copies_in_any_run(dest: Any) -> list[dict[str, Any]]:
    return dest.describe_snapshots(Filters=[{"Name": "tag-key", "Values": [COPY_OF_TAG]}])["Snapshots"]


def test_plan_mistakes_in_copies_and_locks_are_each_named() -> None:
    from smokejumper.plan import PlanError, load_plan_text

    text = f"""
name: cf-prod
deployment: {{region: {REGION}, account: "111111111111"}}
schedules: {{volumes: {{cron: "cron(30 1 * * ? *)"}}}}
volumes:
  - name: pvs
    tags: [{{key: ebs.csi.aws.com/cluster, values: ["true"]}}]
    copy_to: {{region: {REGION}, kms_key: "{COPY_KEY}", source_kms_keys: ["{COPY_KEY}", "alias/aws/ebs"]}}
    lock: {{days: 0, cool_off_hours: 100}}
"""
    with pytest.raises(PlanError) as error:
        load_plan_text(text)
    problems = {problem.location: problem.message for problem in error.value.problems}
    assert problems["volumes[0].copy_to.region"].startswith("the copies must go to another region than the plan's own")
    assert problems["volumes[0].copy_to.kms_key"] in (
        f"the key is in {COPY_REGION}, the copies in {REGION}",
        f"the key belongs to account {ACCOUNT}, the plan deploys to 111111111111",
    )
    assert problems["volumes[0].copy_to.source_kms_keys[0]"] == f"the key is in {COPY_REGION}, the volumes in {REGION}"
    assert problems["volumes[0].copy_to.source_kms_keys[1]"] == "not a KMS key ARN: 'alias/aws/ebs'"
    assert "volumes[0].lock.days" in problems
    assert "volumes[0].lock.cool_off_hours" in problems
    assert len(error.value.problems) == 7, error.value
