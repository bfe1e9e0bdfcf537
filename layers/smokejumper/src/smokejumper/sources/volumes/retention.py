"""A plan's EBS snapshots as retention sees them: by run, found by the plan's tag, deleted with their run.

Retention decides on runs (runs.prune); a run's snapshots go exactly when
the run goes. Only snapshots carrying this plan's tag are ever listed, so
another plan's snapshots, or anyone else's, are never touched (the
snapshot-volumes and commit-run roles may delete nothing else either). A
snapshot already gone counts as deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smokejumper.errors import StoreError
from smokejumper.plan import Plan
from smokejumper.sources.volumes.snapshots import PLAN_TAG, RUN_TAG


@dataclass(frozen=True)
class SnapshotDeletion:
    deleted: int  # gone now (or already gone)
    failed: list[str]  # "snap-...: why"


class PlanSnapshots:
    """The snapshots of one plan in one region's EC2."""

    def __init__(self, ec2: Any, plan: str) -> None:
        self.ec2 = ec2
        self.plan = plan

    def by_run(self) -> dict[str, list[str]]:
        """run id -> the snapshot ids tagged with it (one paginated DescribeSnapshots, filtered by the plan's tag)."""
        runs: dict[str, list[str]] = {}
        try:
            listed = list(
                self.ec2.get_paginator("describe_snapshots").paginate(
                    OwnerIds=["self"], Filters=[{"Name": f"tag:{PLAN_TAG}", "Values": [self.plan]}]
                )
            )
        except Exception as exc:
            response = getattr(exc, "response", None)
            code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
            raise StoreError(
                f"cannot list the EBS snapshots of plan {self.plan}: {code or type(exc).__name__}",
                hint="retention needs ec2:DescribeSnapshots (the commit-run role has it; check your credentials)",
            ) from None
        for page in listed:
            for snapshot in page["Snapshots"]:
                tags = {tag["Key"]: tag["Value"] for tag in snapshot.get("Tags", [])}
                # The filter already says so; checked again, since a deletion must never rest on a filter alone.
                if tags.get(PLAN_TAG) == self.plan and tags.get(RUN_TAG):
                    runs.setdefault(tags[RUN_TAG], []).append(snapshot["SnapshotId"])
        return runs

    def delete(self, snapshot_ids: Iterable[str]) -> SnapshotDeletion:
        deleted, failed = 0, []
        for snapshot_id in snapshot_ids:
            try:
                self.ec2.delete_snapshot(SnapshotId=snapshot_id)
            except Exception as exc:
                response = getattr(exc, "response", None)
                code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
                if code == "InvalidSnapshot.NotFound":
                    deleted += 1  # already gone: what the sweep wanted
                    continue
                failed.append(f"{snapshot_id}: {code or type(exc).__name__}")
                continue
            deleted += 1
        return SnapshotDeletion(deleted, failed)


def plan_snapshots(plan: Plan, *, ec2: Any = None) -> PlanSnapshots | None:
    """The plan's snapshots for retention, if the plan backs up volumes (else None: nothing to look at)."""
    if not plan.volumes:
        return None
    if ec2 is None:
        from smokejumper.sources.volumes.source import ec2_client

        ec2 = ec2_client(plan.deployment.region)
    return PlanSnapshots(ec2, plan.name)
