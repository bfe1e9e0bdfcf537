"""A plan's EBS snapshots as retention sees them: by run, found by the plan's tag, deleted with their run.

Retention decides on runs (runs.prune); a run's snapshots go exactly when
the run goes, in every region that holds them (the plan's own, and the
region its selectors copy to). Only snapshots carrying this plan's tag are
ever listed, so another plan's snapshots, or anyone else's, are never
touched (the snapshot-volumes and commit-run roles may delete nothing else
either). A snapshot already gone counts as deleted. A snapshot whose EBS
Snapshot Lock has not ended (lock.py tags it with the lock's end) cannot be
deleted by anyone: it is listed with that date, left alone until then, and
deleted by the first sweep after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smokejumper.errors import StoreError
from smokejumper.plan import Plan
from smokejumper.sources.volumes.lock import locked_until
from smokejumper.sources.volumes.selection import tags_of
from smokejumper.sources.volumes.snapshots import PLAN_TAG, RUN_TAG


@dataclass(frozen=True)
class SnapshotRef:
    """One of the plan's snapshots: where it is, and until when it is locked, if it is."""

    region: str
    snapshot_id: str
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class SnapshotDeletion:
    deleted: int  # gone now (or already gone)
    failed: list[str]  # "snap-... (region): why"


class PlanSnapshots:
    """The snapshots of one plan, in each region that holds some (one EC2 client per region)."""

    def __init__(self, plan: str, clients: Mapping[str, Any]) -> None:
        self.plan = plan
        self.clients = dict(clients)

    def by_run(self) -> dict[str, list[SnapshotRef]]:
        """run id -> its snapshots, in every region (one paginated DescribeSnapshots per region, by the plan's tag)."""
        runs: dict[str, list[SnapshotRef]] = {}
        for region, ec2 in self.clients.items():
            try:
                listed = list(
                    ec2.get_paginator("describe_snapshots").paginate(
                        OwnerIds=["self"], Filters=[{"Name": f"tag:{PLAN_TAG}", "Values": [self.plan]}]
                    )
                )
            except Exception as exc:
                response = getattr(exc, "response", None)
                code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
                raise StoreError(
                    f"cannot list the EBS snapshots of plan {self.plan} in {region}: {code or type(exc).__name__}",
                    hint="retention needs ec2:DescribeSnapshots (the commit-run role has it; check your credentials)",
                ) from None
            for page in listed:
                for snapshot in page["Snapshots"]:
                    tags = tags_of(snapshot)
                    # The filter already says so; checked again, since a deletion must never rest on a filter alone.
                    if tags.get(PLAN_TAG) == self.plan and tags.get(RUN_TAG):
                        ref = SnapshotRef(region, snapshot["SnapshotId"], locked_until(tags))
                        runs.setdefault(tags[RUN_TAG], []).append(ref)
        return runs

    def delete(self, snapshots: Iterable[SnapshotRef]) -> SnapshotDeletion:
        deleted, failed = 0, []
        for snapshot in snapshots:
            try:
                self.clients[snapshot.region].delete_snapshot(SnapshotId=snapshot.snapshot_id)
            except Exception as exc:
                response = getattr(exc, "response", None)
                code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
                if code == "InvalidSnapshot.NotFound":
                    deleted += 1  # already gone: what the sweep wanted
                    continue
                failed.append(f"{snapshot.snapshot_id} ({snapshot.region}): {code or type(exc).__name__}")
                continue
            deleted += 1
        return SnapshotDeletion(deleted, failed)


def plan_snapshots(plan: Plan, *, ec2: Any = None) -> PlanSnapshots | None:
    """The plan's snapshots for retention, if the plan backs up volumes (else None: nothing to look at).

    `ec2`: the client of the plan's own region (made from the environment if not given); the clients of
    the regions its selectors copy to are made here.
    """
    if not plan.volumes:
        return None
    from smokejumper.sources.volumes.source import ec2_client

    primary = ec2 if ec2 is not None else ec2_client(plan.deployment.region)
    own = plan.deployment.region or primary.meta.region_name
    copies = {selector.copy_to.region for selector in plan.volumes if selector.copy_to is not None} - {own}
    return PlanSnapshots(plan.name, {own: primary} | {region: ec2_client(region) for region in sorted(copies)})
