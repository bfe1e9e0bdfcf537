#!/usr/bin/env python3
"""Benchmark: snapshotting the EBS volumes of one cluster (moto), and retention over a year of such runs.

    .venv/bin/python bench/volumes.py [--volumes 200] [--per-instance 4] [--days 365] [--polls 3]

Half the volumes are attached, --per-instance to a node (so they are
snapshotted together, one CreateSnapshots per node), half are not (one
CreateSnapshot each). Snapshots are held pending for --polls looks. Counted:
the EC2 calls of one run by operation, per volume (the goal: one create call
per instance group, one DescribeSnapshots per look for all pending snapshots),
and the wall time of the orchestration per volume (moto answers in
microseconds, so this is smokejumper's own cost, not EC2's). Then --days
daily runs with a GFS policy, pruned after each as the workflow does: the
snapshots left, and the calls and time of the sweeps.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

# moto only: fake credentials, and no public AMIs (thousands of them, and their snapshots).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",  # not a secret: moto's
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
)

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from smokejumper.plan import Plan
from smokejumper.runs import back_up_items, commit_run, prune, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.sources.volumes.retention import PlanSnapshots
from smokejumper.sources.volumes.source import VolumesSource, VolumeTarget
from smokejumper.store import open_store

REGION = "eu-west-1"


COPY_REGION = "eu-central-1"
COPY_KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0a1b-4a1b-8a1b-0a1b2c3d4e5f"


def counting_client(region: str = REGION, calls: Counter[str] | None = None) -> tuple[Any, Counter[str]]:
    counted: Counter[str] = Counter() if calls is None else calls
    ec2 = boto3.client("ec2", region_name=region)
    prefix = "" if region == REGION else f"{region} "
    ec2.meta.events.register("before-call.ec2.*", lambda model, **_: counted.update([prefix + model.name]))
    return ec2, counted


def quick_tag_lookup() -> None:
    """moto finds one resource's tags by scanning every tag it ever stored, deleted snapshots' included.

    Over a year of runs that makes each DescribeSnapshots quadratic in moto, not in smokejumper. The
    same data is read here by the resource's id (a dict lookup): what smokejumper asks and gets is unchanged.
    """
    from moto.ec2.models.core import TaggedEC2Resource

    def get_tags(self: Any) -> list[dict[str, str]]:
        tags = self.ec2_backend.tags.get(self.id, {}) if self.id else {}
        return [{"resource_id": self.id, "key": k, "value": v} for k, v in tags.items()]

    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]


def make_cluster(ec2: Any, volumes: int, per_instance: int) -> None:
    tags = {"ebs.csi.aws.com/cluster": "true", "kubernetes.io/cluster/bench": "owned"}
    attached = volumes // 2
    instance = None
    for index in range(volumes):
        volume_tags = tags | {
            "kubernetes.io/created-for/pvc/namespace": f"ns-{index % 10}",
            "kubernetes.io/created-for/pvc/name": f"data-{index}",
            "kubernetes.io/created-for/pv/name": f"pvc-{index:04d}",
        }
        tag_list = [{"Key": k, "Value": v} for k, v in volume_tags.items()]
        volume = ec2.create_volume(
            AvailabilityZone="eu-west-1a", Size=10, TagSpecifications=[{"ResourceType": "volume", "Tags": tag_list}]
        )["VolumeId"]
        if index < attached:
            if index % per_instance == 0:
                reservation = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
                instance = reservation["Instances"][0]["InstanceId"]
            device = f"/dev/xvd{chr(ord('f') + index % per_instance)}"
            ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device=device)


def plan_for(volumes: int, *, copy: bool = False) -> Plan:
    selector: dict[str, Any] = {"name": "pvs", "tags": [{"key": "kubernetes.io/cluster/bench", "values": ["owned"]}]}
    if copy:
        selector["copy_to"] = {"region": COPY_REGION, "kms_key": COPY_KEY}
    return Plan.model_validate(
        {
            "name": "bench",
            "deployment": {"region": REGION},
            "schedules": {"volumes": {"cron": "cron(30 1 * * ? *)"}},
            "retention": {"daily": 7, "weekly": 4, "monthly": 6, "min_keep": 3},
            "volumes": [selector],
        }
    )


def one_run(args: argparse.Namespace, *, copy: bool = False) -> None:
    with mock_aws():
        ec2, calls = counting_client()
        copy_ec2 = counting_client(COPY_REGION, calls)[0] if copy else None
        make_cluster(ec2, args.volumes, args.per_instance)
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
        looks = []

        def held_sleep(_seconds: float) -> None:
            looks.append(1)
            if len(looks) >= args.polls:
                for snapshot in backend.snapshots.values():
                    snapshot.status = "completed"

        plan = plan_for(args.volumes, copy=copy)
        original_create = backend.create_snapshot

        def pending_create(*a: Any, **k: Any) -> Any:  # EC2's snapshots take a while; moto's are born completed
            snapshot = original_create(*a, **k)
            snapshot.status = "pending"
            return snapshot

        backend.create_snapshot = pending_create  # type: ignore[method-assign]
        calls.clear()
        with tempfile.TemporaryDirectory() as scratch:
            source = VolumesSource(ec2=ec2, copy_ec2=copy_ec2, sleep=held_sleep)
            target = VolumeTarget(plan.volumes[0], plan.name, "20261207T013000Z-0001", REGION)
            started = time.perf_counter()
            result = source.backup(target, open_store(scratch), "runs/20261207T013000Z-0001/volumes/pvs")
            seconds = time.perf_counter() - started
        groups = (args.volumes // 2 + args.per_instance - 1) // args.per_instance
        copied = f", each copied to {COPY_REGION}" if copy else ""
        print(
            f"one run of {args.volumes} volumes ({args.volumes // 2} attached, {groups} nodes){copied}, "
            f"{len(looks) + 1} looks:"
        )
        print(f"  {len(result.record.snapshot_point['snapshots'])} snapshots recorded in {seconds:.2f} s, "
              f"{seconds / args.volumes * 1000:.1f} ms per volume")  # fmt: skip
        for operation, count in sorted(calls.items()):
            print(f"  {operation:<22} {count:>5}  ({count / args.volumes:.3f} per volume)")
        print(f"  create calls: {calls['CreateSnapshots']} CreateSnapshots (nodes: {groups}) + "
              f"{calls['CreateSnapshot']} CreateSnapshot (unattached: {args.volumes - args.volumes // 2}); "
              f"DescribeSnapshots per look: {calls['DescribeSnapshots'] / (len(looks) + 1):.1f}")  # fmt: skip


def a_year(args: argparse.Namespace) -> None:
    with mock_aws():
        ec2, calls = counting_client()
        make_cluster(ec2, args.year_volumes, args.per_instance)
        plan = plan_for(args.year_volumes)
        snapshots = PlanSnapshots(plan.name, {REGION: ec2})
        start = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
        prune_seconds = 0.0
        with tempfile.TemporaryDirectory() as scratch:
            store = open_store(scratch)
            for day in range(args.days):
                now = start + timedelta(days=day)
                ticket = start_run(plan, now=now)
                results = back_up_items(plan, store, ticket, FileSecrets({}))
                commit_run(store, ticket, results, now=now)
                calls.clear()
                began = time.perf_counter()
                prune(plan, store, now=now + timedelta(minutes=5), snapshots=snapshots)
                prune_seconds += time.perf_counter() - began
        left = snapshots.by_run()
        print(f"a year: {args.days} daily runs of {args.year_volumes} volumes, retention {plan.retention.daily}d/"
              f"{plan.retention.weekly}w/{plan.retention.monthly}m, min_keep {plan.retention.min_keep}:")  # fmt: skip
        print(f"  runs with snapshots left: {len(left)}; snapshots left: {sum(len(v) for v in left.values())}")
        print(f"  sweeps: {prune_seconds:.1f} s in all, {prune_seconds / args.days * 1000:.0f} ms each; "
              f"the last one's EC2 calls: {dict(calls)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=200)
    parser.add_argument("--per-instance", type=int, default=4)
    parser.add_argument("--polls", type=int, default=3, help="looks at which the snapshots are still pending")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--year-volumes", type=int, default=200, help="volumes in each run of the year")
    args = parser.parse_args()
    quick_tag_lookup()
    one_run(args)
    one_run(args, copy=True)
    a_year(args)


if __name__ == "__main__":
    main()
