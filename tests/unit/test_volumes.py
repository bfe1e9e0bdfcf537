"""EBS volume selection and snapshots (sources/volumes) against EC2 as moto emulates it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from smokejumper.plan import VolumeSelector
from smokejumper.sources.volumes import selection as sel
from smokejumper.sources.volumes.snapshots import (
    PLAN_TAG,
    RUN_TAG,
    SnapshotFailed,
    look_at,
    start_snapshots,
    write_volumes_artifact,
)
from smokejumper.store import open_store
from smokejumper.verify import verify_location

REGION = "eu-west-1"
CLUSTER_TAG = "kubernetes.io/cluster/cf-prod"
SELECTOR = {
    "name": "cf-prod-pvs",
    "tags": [{"key": "ebs.csi.aws.com/cluster", "values": ["true"]}, {"key": CLUSTER_TAG, "values": ["owned"]}],
}


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # thousands of AMIs and snapshots otherwise
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def pv(ec2: Any, namespace: str | None, name: str, *, cluster: str = "cf-prod", zone: str = "eu-west-1a",
       extra: dict[str, str] | None = None) -> str:  # fmt: skip
    """A volume as the EBS CSI driver makes one for a PVC (namespace None: no PVC tags)."""
    tags = {"ebs.csi.aws.com/cluster": "true", f"kubernetes.io/cluster/{cluster}": "owned", **(extra or {})}
    if namespace is not None:
        tags |= {sel.PVC_NAMESPACE: namespace, sel.PVC_NAME: name, sel.PV_NAME: f"pvc-{namespace}-{name}"}
    volume = ec2.create_volume(
        AvailabilityZone=zone, Size=10, VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )  # fmt: skip
    return volume["VolumeId"]


def instance(ec2: Any, zone: str = "eu-west-1a") -> str:
    return ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone})[
        "Instances"
    ][0]["InstanceId"]


def selected(ec2: Any, **options: Any) -> sel.Selection:
    selector = VolumeSelector.model_validate({**SELECTOR, **options})
    return sel.select(sel.describe_selected(ec2, selector), selector)


def test_selection_by_tags_namespaces_and_attachment_with_every_skip_explained(ec2: Any) -> None:
    mine = pv(ec2, "cf-apps", "data-mysql-0")
    system = pv(ec2, "kube-system", "prometheus")
    pv(ec2, "cf-apps", "other", cluster="another-cluster")  # another cluster's volume: not even described
    untagged = pv(ec2, None, "")
    ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)  # no tags at all: not described
    attached = pv(ec2, "cf-db", "data-pg-0")
    ec2.attach_volume(VolumeId=attached, InstanceId=instance(ec2), Device="/dev/xvdf")

    everything = selected(ec2)
    assert sorted(v.volume_id for v in everything.volumes) == sorted([mine, system, attached])
    assert [(s.volume_id, s.reason.split(" (")[0]) for s in everything.skipped] == [(untagged, "no PVC tags")]
    [chosen] = [v for v in everything.volumes if v.volume_id == attached]
    assert (chosen.pvc, chosen.pv_name, chosen.size_gib, chosen.volume_type) == (
        "cf-db/data-pg-0", "pvc-cf-db-data-pg-0", 10, "gp3"
    )  # fmt: skip
    assert chosen.instance_id is not None

    narrowed = selected(ec2, exclude_namespaces=["kube-system"], attached_only=True)
    assert [v.volume_id for v in narrowed.volumes] == [attached]
    reasons = {s.volume_id: s.reason for s in narrowed.skipped}
    assert reasons[system] == "namespace kube-system is excluded by the plan"
    assert reasons[mine] == "not attached to any instance, and the plan backs up attached volumes only"

    included = selected(ec2, namespaces=["cf-apps"])
    assert [v.volume_id for v in included.volumes] == [mine]
    assert "not among the plan's namespaces (cf-apps)" in {s.volume_id: s.reason for s in included.skipped}[system]


def test_snapshots_of_one_instance_are_taken_together_and_tagged_per_pvc(ec2: Any) -> None:
    node = instance(ec2)
    first, second = pv(ec2, "cf-db", "data-0", extra={"team": "db"}), pv(ec2, "cf-db", "data-1")
    not_selected = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)["VolumeId"]
    for device, volume in zip(("/dev/xvdf", "/dev/xvdg", "/dev/xvdh"), (first, second, not_selected), strict=True):
        ec2.attach_volume(VolumeId=volume, InstanceId=node, Device=device)
    alone = pv(ec2, "cf-apps", "cache", zone="eu-west-1b")
    selector = VolumeSelector.model_validate({**SELECTOR, "copy_tags": ["team"]})
    chosen = sel.select(sel.describe_selected(ec2, selector), selector)

    started = start_snapshots(ec2, chosen, plan="cf-prod", run_id="20261207T010000Z-abcd", selector=selector)
    assert {s.volume.volume_id: s.group for s in started} == {first: node, second: node, alone: None}
    snapshots = ec2.describe_snapshots(Filters=[{"Name": f"tag:{PLAN_TAG}", "Values": ["cf-prod"]}])["Snapshots"]
    # Only the selected volumes: the third volume of the instance was not the plan's to snapshot.
    assert sorted(s["VolumeId"] for s in snapshots) == sorted([first, second, alone])
    assert sorted(s["VolumeId"] for s in ec2.describe_snapshots()["Snapshots"]) == sorted([first, second, alone])
    tags = {s["VolumeId"]: sel.tags_of(s) for s in snapshots}
    assert tags[first][RUN_TAG] == "20261207T010000Z-abcd"
    assert tags[first][sel.PVC_NAME] == "data-0"
    assert tags[first]["team"] == "db"  # the plan's copy_tags
    assert "team" not in tags[second]
    assert tags[alone]["smokejumper:availability-zone"] == "eu-west-1b"


def hold(snapshot_id: str, state: str) -> None:
    """moto's snapshots are born completed: set one's state, as EC2 would report it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    ec2_backends[DEFAULT_ACCOUNT_ID][REGION].snapshots[snapshot_id].status = state


def test_a_look_says_pending_until_every_snapshot_completes_and_fails_at_once_on_error(ec2: Any, tmp_path) -> None:
    volumes = [pv(ec2, "cf-db", f"data-{i}") for i in range(3)]
    selector = VolumeSelector.model_validate(SELECTOR)
    chosen = sel.select(sel.describe_selected(ec2, selector), selector)
    started = start_snapshots(ec2, chosen, plan="cf-prod", run_id="20261207T010000Z-abcd", selector=selector)
    ids = [s.snapshot_id for s in started]
    for snapshot_id in ids[:2]:
        hold(snapshot_id, "pending")

    first = look_at(ec2, ids)
    assert (first.done, sorted(first.pending)) == (False, sorted(ids[:2]))
    for snapshot_id in ids[:2]:
        hold(snapshot_id, "completed")
    done = look_at(ec2, ids)
    assert done.done
    assert len(done.completed) == 3

    store = open_store(str(tmp_path))
    record, digest = write_volumes_artifact(
        store, "runs/20261207T010000Z-abcd/volumes/cf-prod-pvs", selector=selector,
        region=REGION, started=started, completed=done.completed, skipped=chosen.skipped,
        started_at=datetime.now(UTC),
    )  # fmt: skip
    by_pvc = {(r["pvc_namespace"], r["pvc_name"]): r for r in record.snapshot_point["snapshots"]}
    assert set(by_pvc) == {("cf-db", f"data-{i}") for i in range(3)}
    assert {r["volume_id"] for r in by_pvc.values()} == set(volumes)
    assert all(r["completed_at"] and r["availability_zone"] == "eu-west-1a" for r in by_pvc.values())
    assert len(digest) == 64
    assert verify_location(store.child("runs/20261207T010000Z-abcd/volumes/cf-prod-pvs")).ok  # a record, no data

    hold(ids[1], "error")
    with pytest.raises(SnapshotFailed, match=f"snapshot {ids[1]} of {started[1].volume.pvc} failed"):
        look_at(ec2, ids, pvc_of={s.snapshot_id: s.volume.pvc for s in started})


def test_a_quota_refusal_fails_at_once_with_its_cause_and_what_to_do(ec2: Any) -> None:
    from botocore.exceptions import ClientError

    pv(ec2, "cf-db", "data-0")
    selector = VolumeSelector.model_validate(SELECTOR)
    chosen = sel.select(sel.describe_selected(ec2, selector), selector)

    class Refusing:
        def create_snapshot(self, **_: Any) -> None:
            error = {"Error": {"Code": "SnapshotLimitExceeded", "Message": "The maximum number of snapshots"}}
            raise ClientError(error, "CreateSnapshot")

    with pytest.raises(SnapshotFailed) as refused:
        start_snapshots(Refusing(), chosen, plan="cf-prod", run_id="20261207T010000Z-abcd", selector=selector)
    assert "SnapshotLimitExceeded" in str(refused.value)
    assert "quota" in (refused.value.hint or "")
    assert refused.value.error_type == "SnapshotFailed"


def volumes_plan(**selector: Any) -> Any:
    from smokejumper.plan import Plan

    return Plan.model_validate(
        {
            "name": "cf-prod",
            "deployment": {"region": REGION},
            "schedules": {"volumes": {"cron": "cron(30 1 * * ? *)"}},
            "volumes": [{**SELECTOR, **selector}],
        }
    )


def test_a_run_backs_up_the_plans_volumes_through_the_runs_module(ec2: Any, tmp_path) -> None:
    from smokejumper.catalog import read_manifest
    from smokejumper.runs import back_up_items, commit_run, start_run
    from smokejumper.secrets import FileSecrets

    volumes = {pv(ec2, "cf-db", "data-0"), pv(ec2, "cf-apps", "cache")}
    untagged = pv(ec2, None, "")
    plan = volumes_plan()
    store = open_store(str(tmp_path))
    ticket = start_run(plan, components=["volumes"])
    results = back_up_items(plan, store, ticket, FileSecrets({}))
    manifest = commit_run(store, ticket, results)
    assert manifest.status == "succeeded"
    [ref] = manifest.artifacts
    assert (ref.path, ref.engine) == ("volumes/cf-prod-pvs", "ebs")
    record = verify_location(store.child(f"runs/{ticket.run_id}/volumes/cf-prod-pvs"))
    assert record.ok
    snapshots = ec2.describe_snapshots(Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [ticket.run_id]}])["Snapshots"]
    assert {s["VolumeId"] for s in snapshots} == volumes
    from smokejumper.catalog import read_artifact_record

    written, _digest = read_artifact_record(store.child(f"runs/{ticket.run_id}/volumes/cf-prod-pvs"))
    assert {r["volume_id"] for r in written.snapshot_point["snapshots"]} == volumes
    assert [s["volume_id"] for s in written.snapshot_point["skipped"]] == [untagged]
    assert read_manifest(store, ticket.run_id).status == "succeeded"


def test_the_source_looks_again_after_each_poll_and_gives_up_at_the_timeout(ec2: Any, tmp_path) -> None:
    from smokejumper.sources.volumes.source import VolumesSource, VolumeTarget

    pv(ec2, "cf-db", "data-0")
    plan = volumes_plan(poll_seconds=30, timeout_minutes=2)
    target = VolumeTarget(plan.volumes[0], plan.name, "20261207T010000Z-abcd", REGION)
    now = [time.time()]  # a clock that moves only when the source sleeps
    polls: list[float] = []

    def sleep(seconds: float) -> None:  # the machine's clock moves; nothing sleeps
        polls.append(seconds)
        now[0] += seconds

    def held(seconds: float) -> None:
        sleep(seconds)
        if len(polls) == 2:  # completed after two polls
            for snapshot in ec2.describe_snapshots()["Snapshots"]:
                hold(snapshot["SnapshotId"], "completed")

    source = VolumesSource(ec2=ec2, sleep=held, clock=lambda: now[0])
    original = start_snapshots

    def pending_at_first(*args: Any, **kwargs: Any) -> Any:
        started = original(*args, **kwargs)
        for snapshot in started:
            hold(snapshot.snapshot_id, "pending")
        return started

    import smokejumper.sources.volumes.source as module

    module.start_snapshots = pending_at_first  # type: ignore[assignment]
    try:
        result = source.backup(target, open_store(str(tmp_path)), "runs/x/volumes/cf-prod-pvs")
        assert polls == [30, 30]
        assert len(result.record.snapshot_point["snapshots"]) == 1

        polls.clear()
        source = VolumesSource(ec2=ec2, sleep=sleep, clock=lambda: now[0])
        with pytest.raises(SnapshotFailed, match=r"1 snapshots not completed after 2 min: cf-db/data-0"):
            source.backup(target, open_store(str(tmp_path)), "runs/y/volumes/cf-prod-pvs")
        assert polls == [30, 30, 30, 30]  # looked at 0, 30, 60, 90 and 120 s, then gave up
    finally:
        module.start_snapshots = original  # type: ignore[assignment]


def test_retention_deletes_a_runs_snapshots_with_it_and_never_anyone_elses(ec2: Any, tmp_path) -> None:
    from datetime import timedelta

    from smokejumper.runs import back_up_items, commit_run, prune, start_run
    from smokejumper.secrets import FileSecrets
    from smokejumper.sources.volumes.retention import PlanSnapshots, SnapshotRef, plan_snapshots

    pv(ec2, "cf-db", "data-0")
    data = volumes_plan().model_dump(mode="json", exclude_none=True)
    data["retention"] = {"daily": 1, "weekly": 0, "monthly": 0, "min_keep": 1, "uncommitted_grace_hours": 48}
    from smokejumper.plan import Plan

    plan = Plan.model_validate(data)
    store = open_store(str(tmp_path))
    today = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
    runs = []
    for day in (3, 2, 1):
        ticket = start_run(plan, now=today - timedelta(days=day))
        commit_run(store, ticket, back_up_items(plan, store, ticket, FileSecrets({})), now=ticket.started_at)
        runs.append(ticket.run_id)
    foreign = ec2.create_snapshot(
        VolumeId=pv(ec2, "cf-db", "other"),
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": PLAN_TAG, "Value": "another-plan"},
                                                                  {"Key": RUN_TAG, "Value": runs[0]}]}],
    )["SnapshotId"]  # fmt: skip
    untagged = ec2.create_snapshot(VolumeId=pv(ec2, None, ""))["SnapshotId"]

    def orphan(started: datetime) -> str:
        """A snapshot of a run that crashed before writing anything."""
        run_id = f"{started:%Y%m%dT%H%M%SZ}-dead"
        tags = [{"Key": PLAN_TAG, "Value": plan.name}, {"Key": RUN_TAG, "Value": run_id}]
        volume = pv(ec2, "cf-db", f"orphan-{started:%d}")
        ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
        return run_id

    old_orphan, young_orphan = orphan(today - timedelta(days=5)), orphan(today - timedelta(hours=1))
    snapshots = plan_snapshots(plan, ec2=ec2)
    assert snapshots is not None
    before = snapshots.by_run()
    assert set(before) == {*runs, old_orphan, young_orphan}

    dry = prune(plan, store, now=today, dry_run=True, snapshots=snapshots)
    assert {d.run_id: (d.outcome, d.snapshots) for d in dry.deletions} == {
        runs[0]: ("would delete", 1), runs[1]: ("would delete", 1), old_orphan: ("would delete", 1)
    }  # fmt: skip
    assert snapshots.by_run() == before, "a dry run deletes nothing"

    report = prune(plan, store, now=today, snapshots=snapshots)
    assert {d.run_id: (d.outcome, d.snapshots) for d in report.deletions} == {
        runs[0]: ("deleted", 1), runs[1]: ("deleted", 1), old_orphan: ("deleted", 1)
    }  # fmt: skip
    assert young_orphan in report.waiting  # within the grace period: a run may still be writing
    assert set(snapshots.by_run()) == {runs[2], young_orphan}
    left = {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}
    assert {foreign, untagged} <= left, "another plan's snapshots and untagged ones are never touched"
    # A snapshot already gone counts as deleted.
    gone = SnapshotRef(REGION, "snap-0123456789abcdef0")
    assert PlanSnapshots(plan.name, {REGION: ec2}).delete([gone]).deleted == 1


@pytest.fixture
def backed_up(ec2: Any, tmp_path) -> tuple[Any, str, dict[str, str]]:
    """A committed run of the plan's volumes: (store, run id, {pvc: source volume id})."""
    from smokejumper.runs import back_up_items, commit_run, start_run
    from smokejumper.secrets import FileSecrets

    gp3 = ec2.create_volume(
        AvailabilityZone="eu-west-1a", Size=20, VolumeType="gp3", Iops=4000, Throughput=250, Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": "ebs.csi.aws.com/cluster", "Value": "true"}, {"Key": CLUSTER_TAG, "Value": "owned"},
            {"Key": sel.PVC_NAMESPACE, "Value": "cf-db"}, {"Key": sel.PVC_NAME, "Value": "data-mysql-0"},
            {"Key": sel.PV_NAME, "Value": "pvc-0a1b2c"}, {"Key": "team", "Value": "db"},
        ]}],
    )["VolumeId"]  # fmt: skip
    other = pv(ec2, "cf-apps", "cache")
    plan = volumes_plan()
    store = open_store(str(tmp_path / "store"))
    ticket = start_run(plan)
    commit_run(store, ticket, back_up_items(plan, store, ticket, FileSecrets({})))
    return store, ticket.run_id, {"cf-db/data-mysql-0": gp3, "cf-apps/cache": other}


def test_a_pvc_is_restored_in_its_own_or_another_az_with_pv_and_pvc_yaml_kubectl_accepts(ec2: Any, backed_up) -> None:
    import kubernetes_validate
    import yaml
    from smokejumper.catalog import read_artifact_record
    from smokejumper.sources.volumes.restore import find_pvc, restore_volume

    store, run_id, _sources = backed_up
    record_of_run, _ = read_artifact_record(store.child(f"runs/{run_id}/volumes/cf-prod-pvs"))
    record = find_pvc(record_of_run.snapshot_point, "cf-db/data-mysql-0")
    for zone in (None, "eu-west-1b"):
        restored = restore_volume(ec2, record, run_id=run_id, zone=zone)
        [volume] = ec2.describe_volumes(VolumeIds=[restored.volume_id])["Volumes"]
        expected_zone = zone or "eu-west-1a"
        assert (volume["AvailabilityZone"], volume["Size"], volume["VolumeType"]) == (expected_zone, 20, "gp3")
        assert (volume["Iops"], volume["Throughput"], volume["Encrypted"]) == (4000, 250, True)
        assert volume["SnapshotId"] == record["snapshot_id"]
        tags = sel.tags_of(volume)
        assert tags["smokejumper:restored-from"] == record["snapshot_id"]
        assert tags[sel.PVC_NAME] == "data-mysql-0"
        assert "smokejumper:plan" not in tags, "retention must never take a restored volume for the plan's"
        pv, pvc = yaml.safe_load_all(restored.pv_yaml)
        for document in (pv, pvc):
            kubernetes_validate.validate(document, "1.30", strict=True)  # raises on a field Kubernetes refuses
        assert pv["spec"]["csi"] == {"driver": "ebs.csi.aws.com", "volumeHandle": restored.volume_id, "fsType": "ext4"}
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                                "values": [expected_zone]}]}]  # fmt: skip
        assert pv["spec"]["claimRef"] == {"namespace": "cf-db", "name": "data-mysql-0"}
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert (pvc["metadata"], pvc["spec"]["volumeName"]) == ({"name": "data-mysql-0", "namespace": "cf-db"},
                                                                  pv["metadata"]["name"])  # fmt: skip
        assert pv["spec"]["capacity"] == pvc["spec"]["resources"]["requests"] == {"storage": "20Gi"}


def test_a_restore_that_cannot_be_done_says_why_in_one_line(ec2: Any, backed_up) -> None:
    from smokejumper.catalog import read_artifact_record
    from smokejumper.errors import UsageError
    from smokejumper.sources.volumes.restore import find_pvc, restore_volume

    store, run_id, _ = backed_up
    point = read_artifact_record(store.child(f"runs/{run_id}/volumes/cf-prod-pvs"))[0].snapshot_point
    with pytest.raises(UsageError, match="no snapshot of PVC cf-db/nope") as unknown:
        find_pvc(point, "cf-db/nope")
    assert "cf-apps/cache" in (unknown.value.hint or "")
    record = find_pvc(point, "cf-apps/cache")
    with pytest.raises(UsageError, match="us-east-1a is not an availability zone of eu-west-1"):
        restore_volume(ec2, record, run_id=run_id, zone="us-east-1a")
    hold(record["snapshot_id"], "pending")
    with pytest.raises(UsageError, match=r"is pending \(.*\), not completed"):
        restore_volume(ec2, record, run_id=run_id)


def test_the_cli_lists_a_runs_pvcs_and_restores_one(ec2: Any, backed_up, tmp_path) -> None:
    from click.testing import CliRunner
    from smokejumper.cli.app import cli

    store, _run_id, sources = backed_up
    runner = CliRunner()
    listed = runner.invoke(cli, ["volumes", "list", "--run", "latest", "--store", store.url, "--json"])
    assert listed.exit_code == 0, listed.output
    import json

    snapshots = json.loads(listed.output)["selectors"]["cf-prod-pvs"]["snapshots"]
    assert {f"{s['pvc_namespace']}/{s['pvc_name']}": s["volume_id"] for s in snapshots} == sources
    restored = runner.invoke(cli, ["volumes", "restore", "--pvc", "cf-apps/cache", "--az", "eu-west-1c",
                                   "--out", str(tmp_path / "yaml"), "--store", store.url])  # fmt: skip
    assert restored.exit_code == 0, restored.output
    written = (tmp_path / "yaml" / "cf-apps-cache.yaml").read_text()
    assert "eu-west-1c" in written
    assert "volumeName: pvc-cf-apps-cache" in written


def test_retention_that_cannot_list_snapshots_says_so_in_one_line() -> None:
    from botocore.exceptions import ClientError
    from smokejumper.errors import StoreError
    from smokejumper.sources.volumes.retention import PlanSnapshots

    class Denied:
        def get_paginator(self, _name: str) -> Any:
            class Pages:
                def paginate(self, **_: Any) -> Any:
                    raise ClientError({"Error": {"Code": "UnauthorizedOperation"}}, "DescribeSnapshots")

            return Pages()

    with pytest.raises(
        StoreError, match="cannot list the EBS snapshots of plan cf-prod in eu-west-1: UnauthorizedOperation"
    ):
        PlanSnapshots("cf-prod", {REGION: Denied()}).by_run()
