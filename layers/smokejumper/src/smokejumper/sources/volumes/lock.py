"""EBS Snapshot Lock: a run's snapshots (and their copies) locked in compliance mode, as the bucket's Object Lock.

A snapshot locked in compliance mode cannot be deleted by anyone, root
included, until its lock expires (after the cool-off period, if the plan
gives one, the lock cannot be undone either). Snapshots are locked once
they completed, and tagged with the lock's end: retention reads that tag
and leaves a locked snapshot alone until then, rather than failing on it at
every sweep; a run pruned before its snapshots' locks end leaves them
behind, and a later sweep deletes them once the lock is over.

moto has no LockSnapshot: the calls made here are checked against botocore's
own model of the API with its Stubber (tests/unit/test_volume_copies.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from smokejumper.plan import SnapshotLock
from smokejumper.sources.volumes.selection import tags_of
from smokejumper.sources.volumes.snapshots import refused

LOCKED_UNTIL_TAG = "smokejumper:locked-until"  # ISO 8601, UTC: when the snapshot's lock ends


def lock_snapshots(ec2: Any, snapshots: Sequence[Mapping[str, Any]], lock: SnapshotLock) -> dict[str, str]:
    """Lock each completed snapshot (DescribeSnapshots entries); snapshot id -> locked until.

    One already locked by an earlier try of the same step (its tag says until when) is not locked again:
    a compliance lock past its cool-off can only be extended, and the step must be safe to retry.
    """
    until: dict[str, str] = {}
    for snapshot in snapshots:
        snapshot_id = snapshot["SnapshotId"]
        tagged = tags_of(snapshot).get(LOCKED_UNTIL_TAG)
        if tagged:
            until[snapshot_id] = tagged
            continue
        request: dict[str, Any] = {"SnapshotId": snapshot_id, "LockMode": "compliance", "LockDuration": lock.days}
        if lock.cool_off_hours:
            request["CoolOffPeriod"] = lock.cool_off_hours
        try:
            answer = ec2.lock_snapshot(**request)
            expires = answer["LockExpiresOn"]
            stamp = expires.isoformat() if isinstance(expires, datetime) else str(expires)
            ec2.create_tags(Resources=[snapshot_id], Tags=[{"Key": LOCKED_UNTIL_TAG, "Value": stamp}])
        except Exception as exc:
            raise refused(f"snapshot {snapshot_id} could not be locked for {lock.days} days", exc) from None
        until[snapshot_id] = stamp
    return until


def locked_until(tags: Mapping[str, str]) -> datetime | None:
    """When a snapshot's lock ends, from its tag (None: not locked by smokejumper, or a tag it cannot read)."""
    value = tags.get(LOCKED_UNTIL_TAG)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
