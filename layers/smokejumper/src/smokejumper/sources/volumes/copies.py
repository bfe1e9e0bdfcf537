"""A run's snapshots copied to a second region: started as the sources complete, looked at, never waited for.

A copy can start only once its source snapshot is completed, and EBS runs at
most 20 copies into one destination region at a time (a quota that cannot be
raised; others' copies count too). So each look of the workflow advances
the copies: it finds the run's copies already made (by the run's tags, in
one paginated DescribeSnapshots in the destination region), starts copies of
completed sources while fewer than 20 of its own are pending, and leaves the
rest for the next look. A refusal because the region's copy slots are taken
waits for the next look; any other refusal, or a copy in `error`, fails the
item at once with its cause.

Finding the copies by tag rather than by a list kept somewhere makes a look
safe to retry: a copy started by a look that failed afterwards is found,
not started twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smokejumper.plan import SnapshotCopy
from smokejumper.sources.volumes.selection import tags_of
from smokejumper.sources.volumes.snapshots import (
    PLAN_TAG,
    RUN_TAG,
    SELECTOR_TAG,
    SnapshotFailed,
    StartedSnapshot,
    refused,
    snapshot_tags,
    tag_list,
)

COPY_OF_TAG = "smokejumper:copy-of"  # the source snapshot's id
SOURCE_REGION_TAG = "smokejumper:source-region"
CONCURRENT_COPIES = 20  # EBS: concurrent snapshot copies per destination region (not adjustable)
# The region's copy slots are taken (by this run's or others' copies): try again at the next look.
_SLOTS_TAKEN = {"ResourceLimitExceeded", "SnapshotCopyLimitExceeded"}


@dataclass
class CopiesLook:
    """The copies of a run's snapshots as one look found (and advanced) them, by source snapshot id."""

    completed: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # DescribeSnapshots entries
    pending: dict[str, str] = field(default_factory=dict)  # progress, or "waiting to start"
    started: list[str] = field(default_factory=list)  # source ids whose copy this look started


def find_copies(dest: Any, *, plan: str, run_id: str, selector: str) -> dict[str, Mapping[str, Any]]:
    """Source snapshot id -> its copy in the destination region, found by the run's tags."""
    filters = [
        {"Name": f"tag:{PLAN_TAG}", "Values": [plan]},
        {"Name": f"tag:{RUN_TAG}", "Values": [run_id]},
        {"Name": f"tag:{SELECTOR_TAG}", "Values": [selector]},
    ]
    found: dict[str, Mapping[str, Any]] = {}
    try:
        for page in dest.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters):
            for snapshot in page["Snapshots"]:
                tags = tags_of(snapshot)
                # The filter already says so; checked again, as retention does, before anything rests on it.
                if tags.get(PLAN_TAG) == plan and tags.get(RUN_TAG) == run_id and COPY_OF_TAG in tags:
                    found[tags[COPY_OF_TAG]] = snapshot
    except Exception as exc:
        raise refused(f"cannot look at the copies in {dest.meta.region_name}", exc) from None
    return found


def advance_copies(
    dest: Any,
    copy: SnapshotCopy,
    *,
    source_region: str,
    started: Sequence[StartedSnapshot],
    completed_sources: Sequence[Mapping[str, Any]],
    plan: str,
    run_id: str,
    selector: Any,
) -> CopiesLook:
    """One look at the run's copies: each one's state, and copies of completed sources started where slots allow."""
    copies = find_copies(dest, plan=plan, run_id=run_id, selector=selector.name)
    look = CopiesLook()
    by_id = {snapshot.snapshot_id: snapshot for snapshot in started}
    for source_id, snapshot in copies.items():
        state = snapshot["State"]
        who = by_id[source_id].volume.pvc if source_id in by_id else source_id
        if state == "error":
            raise SnapshotFailed(
                f"copy {snapshot['SnapshotId']} of {who} to {copy.region} failed: "
                f"{snapshot.get('StateMessage') or 'EC2 gave no reason'}"
            )
        if state == "completed":
            look.completed[source_id] = snapshot
        else:
            look.pending[source_id] = snapshot.get("Progress") or "0%"
    slots = CONCURRENT_COPIES - len(look.pending)
    ready = [s["SnapshotId"] for s in completed_sources if s["SnapshotId"] not in copies]
    for source_id in sorted(ready):
        if slots <= 0:
            look.pending[source_id] = "waiting to start"
            continue
        source = by_id[source_id]
        tags = snapshot_tags(plan, run_id, selector, source.volume) | {
            COPY_OF_TAG: source_id,
            SOURCE_REGION_TAG: source_region,
        }
        try:
            dest.copy_snapshot(
                SourceRegion=source_region,
                SourceSnapshotId=source_id,
                Encrypted=True,
                KmsKeyId=copy.kms_key,
                Description=f"smokejumper {plan} run {run_id}: {source.volume.pvc}, copy of {source_id}",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}],
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in _SLOTS_TAKEN:
                slots = 0
                look.pending[source_id] = "waiting to start"
                continue
            raise refused(f"copy of {source_id} ({source.volume.pvc}) to {copy.region} refused", exc) from None
        slots -= 1
        look.pending[source_id] = "0%"
        look.started.append(source_id)
    return look
