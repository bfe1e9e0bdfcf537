"""EBS snapshots of the selected volumes: started, looked at, recorded. Nothing here waits.

A snapshot takes minutes to hours; a Lambda must not sleep through that. So
the work is three calls the workflow makes with waits between them (the
Wait state is the state machine's): `start_snapshots` starts them all,
`look_at` describes every snapshot still pending in one call and says
pending/completed, failing at once on a snapshot in `error`; once all are
completed, `write_volumes_artifact` writes the item's artifact.json with a
record per snapshot, so the run's manifest says which snapshot holds which
PVC and where it lived.

Volumes attached to one instance are snapshotted together with one
multi-volume `CreateSnapshots` (crash-consistent across them: a pod whose
data spans several PVCs on one node gets one point in time); the others one
`CreateSnapshot` each. Every snapshot is tagged with the plan and the run
(retention finds a run's snapshots by those tags, and only this plan's),
with the PV/PVC it serves, the source volume and its AZ, and with the
volume's own tags the plan names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.errors import SmokejumperError
from smokejumper.plan import VolumeSelector
from smokejumper.sources.volumes.selection import IDENTITY_TAGS, SelectedVolume, Selection, SkippedVolume, tags_of
from smokejumper.store import Store

ENGINE = "ebs"
PLAN_TAG = "smokejumper:plan"
RUN_TAG = "smokejumper:run-id"
SELECTOR_TAG = "smokejumper:selector"
VOLUME_TAG = "smokejumper:volume-id"
ZONE_TAG = "smokejumper:availability-zone"
# describe_snapshots takes many ids at once; a run's snapshots are looked at in as few calls as this allows.
DESCRIBE_BATCH = 500


class SnapshotFailed(SmokejumperError):
    """A snapshot could not be made: refused (quota, throttling, a volume gone) or ended in `error`."""

    error_type = "SnapshotFailed"


@dataclass(frozen=True)
class StartedSnapshot:
    snapshot_id: str
    volume: SelectedVolume
    group: str | None  # the instance whose volumes were snapshotted together, if any


def snapshot_tags(plan: str, run_id: str, selector: VolumeSelector, volume: SelectedVolume) -> dict[str, str]:
    tags = {key: volume.tags[key] for key in selector.copy_tags if key in volume.tags}
    tags.update({key: volume.tags[key] for key in IDENTITY_TAGS})
    tags.update(
        {
            PLAN_TAG: plan,
            RUN_TAG: run_id,
            SELECTOR_TAG: selector.name,
            VOLUME_TAG: volume.volume_id,
            ZONE_TAG: volume.availability_zone,
        }
    )
    return tags


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def refused(what: str, exc: BaseException) -> SnapshotFailed:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = error.get("Code") or type(exc).__name__
    hints = {
        "SnapshotLimitExceeded": "the account's snapshot quota is reached: raise it or let retention delete old runs",
        "RequestLimitExceeded": "EC2 throttled the calls past their retries: run fewer snapshots at once",
        "InvalidVolume.NotFound": "the volume was deleted since it was selected",
    }
    return SnapshotFailed(f"{what}: {code}: {error.get('Message', '')}".rstrip(": "), hint=hints.get(code))


def start_snapshots(
    ec2: Any, selection: Selection, *, plan: str, run_id: str, selector: VolumeSelector
) -> list[StartedSnapshot]:
    """Start a snapshot of every selected volume: one CreateSnapshots per instance holding several, else one each."""
    by_instance: dict[str, list[SelectedVolume]] = {}
    for volume in selection.volumes:
        if volume.instance_id:
            by_instance.setdefault(volume.instance_id, []).append(volume)
    groups = {instance: volumes for instance, volumes in by_instance.items() if len(volumes) > 1}
    grouped = {volume.volume_id for volumes in groups.values() for volume in volumes}
    started: list[StartedSnapshot] = []
    if groups:
        attached = _attached_volumes(ec2, sorted(groups))
        for instance, volumes in sorted(groups.items()):
            started += _snapshot_together(ec2, instance, volumes, attached[instance], plan, run_id, selector)
    for volume in selection.volumes:
        if volume.volume_id in grouped:
            continue
        try:
            snapshot = ec2.create_snapshot(
                VolumeId=volume.volume_id,
                Description=f"smokejumper {plan} run {run_id}: {volume.pvc}",
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": tag_list(snapshot_tags(plan, run_id, selector, volume))}
                ],
            )
        except Exception as exc:
            raise refused(f"snapshot of {volume.volume_id} ({volume.pvc}) refused", exc) from None
        started.append(StartedSnapshot(snapshot["SnapshotId"], volume, None))
    return started


def _attached_volumes(ec2: Any, instances: Sequence[str]) -> dict[str, tuple[str | None, set[str]]]:
    """Per instance: its root volume and every volume attached to it (one DescribeInstances for all)."""
    found: dict[str, tuple[str | None, set[str]]] = {}
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=list(instances)):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                mappings = instance.get("BlockDeviceMappings", [])
                volumes = {m["Ebs"]["VolumeId"] for m in mappings if "Ebs" in m}
                root = next(
                    (m["Ebs"]["VolumeId"] for m in mappings if m.get("DeviceName") == instance.get("RootDeviceName")),
                    None,
                )
                found[instance["InstanceId"]] = (root, volumes)
    return found


def _snapshot_together(
    ec2: Any,
    instance: str,
    volumes: list[SelectedVolume],
    attached: tuple[str | None, set[str]],
    plan: str,
    run_id: str,
    selector: VolumeSelector,
) -> list[StartedSnapshot]:
    root, on_instance = attached
    wanted = {volume.volume_id: volume for volume in volumes}
    common = {PLAN_TAG: plan, RUN_TAG: run_id, SELECTOR_TAG: selector.name}
    try:
        answer = ec2.create_snapshots(
            InstanceSpecification={
                "InstanceId": instance,
                "ExcludeBootVolume": root not in wanted,
                "ExcludeDataVolumeIds": sorted(on_instance - set(wanted) - {root}),
            },
            Description=f"smokejumper {plan} run {run_id}: {len(volumes)} volumes of {instance}, crash-consistent",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(common)}],
        )
    except Exception as exc:
        raise refused(f"snapshots of {len(volumes)} volumes of {instance} refused", exc) from None
    started = []
    for snapshot in answer["Snapshots"]:
        volume = wanted.get(snapshot["VolumeId"])
        if volume is None:
            # A volume the plan did not select (AWS honours ExcludeDataVolumeIds; moto ignores it): not ours to keep.
            ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
            continue
        # The per-volume tags (PV/PVC, source volume, AZ): CreateSnapshots tags all its snapshots alike.
        ec2.create_tags(
            Resources=[snapshot["SnapshotId"]], Tags=tag_list(snapshot_tags(plan, run_id, selector, volume))
        )
        started.append(StartedSnapshot(snapshot["SnapshotId"], volume, instance))
    missing = sorted(set(wanted) - {s.volume.volume_id for s in started})
    if missing:
        raise SnapshotFailed(f"CreateSnapshots on {instance} made no snapshot of {', '.join(missing)}")
    return started


@dataclass(frozen=True)
class Look:
    """What one look at a run's snapshots found."""

    completed: list[Mapping[str, Any]]  # DescribeSnapshots entries
    pending: list[str]  # snapshot ids (and "copy of <id>" for copies), with their progress below
    progress: Mapping[str, str]
    copied: int | None = None  # copies completed, when the selector copies to a second region

    @property
    def done(self) -> bool:
        return not self.pending


def look_at(ec2: Any, snapshot_ids: Sequence[str], *, pvc_of: Mapping[str, str] | None = None) -> Look:
    """Describe the snapshots (one call per DESCRIBE_BATCH); a snapshot in `error` fails at once, with its cause."""
    completed: list[Mapping[str, Any]] = []
    pending: list[str] = []
    progress: dict[str, str] = {}
    for start in range(0, len(snapshot_ids), DESCRIBE_BATCH):
        batch = list(snapshot_ids[start : start + DESCRIBE_BATCH])
        try:
            described = ec2.describe_snapshots(SnapshotIds=batch)["Snapshots"]
        except Exception as exc:
            raise refused(f"cannot look at {len(batch)} snapshots", exc) from None
        for snapshot in described:
            state = snapshot["State"]
            if state == "error":
                who = (pvc_of or {}).get(snapshot["SnapshotId"], snapshot.get("VolumeId", ""))
                raise SnapshotFailed(
                    f"snapshot {snapshot['SnapshotId']} of {who} failed: "
                    f"{snapshot.get('StateMessage') or 'EC2 gave no reason'}"
                )
            if state == "completed":
                completed.append(snapshot)
            else:
                pending.append(snapshot["SnapshotId"])
                progress[snapshot["SnapshotId"]] = snapshot.get("Progress") or "0%"
    return Look(completed, pending, progress)


def _stamp(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def _completed_at(described: Mapping[str, Any]) -> str:
    # EC2's CompletionTime where it reports one (moto does not); else when the workflow saw it completed,
    # which is at most one poll later.
    return _stamp(described.get("CompletionTime")) or datetime.now(UTC).isoformat(timespec="seconds")


def snapshot_record(
    started: StartedSnapshot,
    described: Mapping[str, Any],
    *,
    copy: Mapping[str, Any] | None = None,
    copy_region: str | None = None,
    locked_until: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What a restore needs to know of one snapshot: which PVC, where it lived, how it was made, its copy."""
    volume = started.volume
    locks = locked_until or {}
    return {
        "snapshot_id": started.snapshot_id,
        "volume_id": volume.volume_id,
        "availability_zone": volume.availability_zone,
        "size_gib": volume.size_gib,
        "volume_type": volume.volume_type,
        "iops": volume.iops,
        "throughput": volume.throughput,
        "encrypted": bool(described.get("Encrypted", volume.encrypted)),
        "kms_key_id": described.get("KmsKeyId") or volume.kms_key_id,
        "pv": volume.pv_name,
        "pvc_namespace": volume.pvc_namespace,
        "pvc_name": volume.pvc_name,
        # Not tagged by the CSI driver by default; recorded when a tag says so.
        "storage_class": volume.tags.get("kubernetes.io/created-for/pvc/storageclass")
        or volume.tags.get("ebs.csi.aws.com/storageclass"),
        "fs_type": volume.tags.get("ebs.csi.aws.com/fsType") or volume.tags.get("fsType"),
        "instance_id": volume.instance_id,
        "crash_consistent_with": started.group,
        "started_at": _stamp(described.get("StartTime")),
        "completed_at": _completed_at(described),
        "locked_until": locks.get(started.snapshot_id),
        "tags": dict(tags_of(described)),
        # The copy in the second region, when the plan asks for one: restorable when this region is gone.
        "copy": None
        if copy is None
        else {
            "region": copy_region,
            "snapshot_id": copy["SnapshotId"],
            "kms_key_id": copy.get("KmsKeyId"),
            "started_at": _stamp(copy.get("StartTime")),
            "completed_at": _completed_at(copy),
            "locked_until": locks.get(copy["SnapshotId"]),
        },
    }


def write_volumes_artifact(
    store: Store,
    artifact_dir: str,
    *,
    selector: VolumeSelector,
    region: str,
    started: Iterable[StartedSnapshot],
    completed: Iterable[Mapping[str, Any]],
    skipped: Iterable[SkippedVolume],
    started_at: datetime,
    copies: Mapping[str, Mapping[str, Any]] | None = None,
    locked_until: Mapping[str, str] | None = None,
) -> tuple[ArtifactRecord, str]:
    """The item's artifact.json: a record per snapshot (by PVC) and every volume left out with its reason.

    `copies` (source snapshot id -> its completed copy) when the selector copies to a second region.
    """
    by_id = {snapshot["SnapshotId"]: snapshot for snapshot in completed}
    copy_region = selector.copy_to.region if selector.copy_to else None
    records = []
    for snapshot in started:
        if snapshot.snapshot_id not in by_id:
            raise SnapshotFailed(f"snapshot {snapshot.snapshot_id} of {snapshot.volume.pvc} is not completed")
        copy = None
        if copies is not None:
            copy = copies.get(snapshot.snapshot_id)
            if copy is None:
                raise SnapshotFailed(f"snapshot {snapshot.snapshot_id} of {snapshot.volume.pvc} has no copy")
        records.append(
            snapshot_record(
                snapshot,
                by_id[snapshot.snapshot_id],
                copy=copy,
                copy_region=copy_region,
                locked_until=locked_until,
            )
        )
    writer = ArtifactWriter(store, artifact_dir, engine=ENGINE, name=selector.name)
    writer.started_at = started_at
    writer.source = {"region": region, "selector": selector.model_dump(mode="json")}
    writer.snapshot_point = {
        "snapshots": sorted(records, key=lambda record: (record["pvc_namespace"], record["pvc_name"])),
        "skipped": [volume.to_json() for volume in skipped],
    }
    return writer.commit()
