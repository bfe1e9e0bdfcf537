"""A PVC's snapshot restored: a new EBS volume in the chosen AZ, and the PV + PVC YAML that binds it.

The volume is made from the snapshot a run recorded for the PVC, in its
source AZ unless another is asked for (a volume lives in one AZ: the PV's
node affinity says which, so the pod lands where it can attach it). The PV
names the volume for the EBS CSI driver as a statically provisioned volume
(`Retain`: deleting the claim must not delete a restored volume), and the PV
and PVC name each other (`claimRef`, `volumeName`), so `kubectl apply` binds
exactly this claim to exactly this volume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from smokejumper.errors import UsageError
from smokejumper.sources.volumes.snapshots import PLAN_TAG

CSI_DRIVER = "ebs.csi.aws.com"
ZONE_KEY = "topology.kubernetes.io/zone"
DEFAULT_FS_TYPE = "ext4"  # the EBS CSI driver's default
# Types whose IOPS (and, for gp3, throughput) are set at creation: carried over from the source volume.
_PROVISIONED = {"gp3", "io1", "io2"}


@dataclass(frozen=True)
class RestoredVolume:
    volume_id: str
    availability_zone: str
    size_gib: int
    volume_type: str
    encrypted: bool
    pv_yaml: str


def find_pvc(snapshot_point: Mapping[str, Any], pvc: str) -> dict[str, Any]:
    """The record of `namespace/name` among a volumes artifact's snapshots."""
    namespace, _, name = pvc.partition("/")
    records = snapshot_point.get("snapshots", [])
    for record in records:
        if (record["pvc_namespace"], record["pvc_name"]) == (namespace, name):
            return dict(record)
    held = ", ".join(f"{r['pvc_namespace']}/{r['pvc_name']}" for r in records) or "none"
    raise UsageError(f"the run holds no snapshot of PVC {pvc}", hint=f"its PVCs: {held}")


def in_region(record: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    """The PVC's record as seen from `region`: its own snapshot, or its copy in the copy region.

    `record` carries "region", the region its selector ran in. A restore in the copy region has no
    source AZ to default to: the caller names one.
    """
    own = record.get("region")
    copy = record.get("copy")
    if region is None or region == own:
        return dict(record)
    if copy and copy.get("region") == region:
        return {
            **record,
            "region": region,
            "snapshot_id": copy["snapshot_id"],
            "kms_key_id": copy.get("kms_key_id"),
            "availability_zone": None,
        }
    held = f"{own} (and its copy in {copy['region']})" if copy else f"{own} only (the plan copies it nowhere)"
    raise UsageError(
        f"the run holds the snapshot of {record['pvc_namespace']}/{record['pvc_name']} in {held}, not in {region}",
        hint="restore in a region that holds it: leave out --region, or give the copy's region",
    )


def check_zone(ec2: Any, zone: str) -> None:
    """An AZ of the client's region, or a one-line error naming the ones there are (moto raises KeyError)."""
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    if zone not in zones:
        raise UsageError(
            f"{zone} is not an availability zone of {ec2.meta.region_name}",
            hint=f"choose one of {', '.join(zones)}, or --region for another region",
        )


def restore_volume(
    ec2: Any,
    record: Mapping[str, Any],
    *,
    run_id: str,
    zone: str | None = None,
    volume_type: str | None = None,
    kms_key: str | None = None,
) -> RestoredVolume:
    """Create the volume from the record's snapshot (which must be completed), wait until it is available."""
    zone = zone or record["availability_zone"]
    if zone is None:
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
        raise UsageError(
            f"a volume restored from the copy in {ec2.meta.region_name} needs an availability zone",
            hint=f"give --az, one of {', '.join(zones)}",
        )
    check_zone(ec2, zone)
    snapshot_id = record["snapshot_id"]
    try:
        [snapshot] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise UsageError(f"snapshot {snapshot_id} cannot be read: {code}", hint="was it deleted by hand?") from None
    if snapshot["State"] != "completed":
        raise UsageError(
            f"snapshot {snapshot_id} of {record['pvc_namespace']}/{record['pvc_name']} is {snapshot['State']} "
            f"({snapshot.get('Progress') or '0%'}), not completed",
            hint="restore from a run whose snapshots completed, or wait",
        )
    kind = volume_type or record["volume_type"]
    create: dict[str, Any] = {"SnapshotId": snapshot_id, "AvailabilityZone": zone, "VolumeType": kind}
    if kind == record["volume_type"] and kind in _PROVISIONED:
        if record.get("iops"):
            create["Iops"] = int(record["iops"])
        if kind == "gp3" and record.get("throughput"):
            create["Throughput"] = int(record["throughput"])
    if kms_key:
        create |= {"Encrypted": True, "KmsKeyId": kms_key}
    tags = {key: value for key, value in record.get("tags", {}).items() if not key.startswith("smokejumper:")}
    tags |= {"smokejumper:restored-from": snapshot_id, "smokejumper:restored-from-run": run_id}
    tags.pop(PLAN_TAG, None)  # not the plan's snapshot: retention must never take it for one
    create["TagSpecifications"] = [
        {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    ]
    volume = ec2.create_volume(**create)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume["VolumeId"]], WaiterConfig={"Delay": 5})
    size = int(volume.get("Size") or record["size_gib"])
    return RestoredVolume(
        volume_id=volume["VolumeId"],
        availability_zone=zone,
        size_gib=size,
        volume_type=kind,
        encrypted=bool(volume.get("Encrypted")),
        pv_yaml=pv_and_pvc(record, volume["VolumeId"], zone, size),
    )


def pv_and_pvc(record: Mapping[str, Any], volume_id: str, zone: str, size_gib: int) -> str:
    """The PersistentVolume and PersistentVolumeClaim, bound to each other, as one YAML stream."""
    storage_class = record.get("storage_class") or ""
    capacity = f"{size_gib}Gi"
    access_modes = ["ReadWriteOnce"]  # an EBS volume attaches to one node
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": record["pv"],
            "labels": {"smokejumper/restored-from": record["snapshot_id"]},
        },
        "spec": {
            "capacity": {"storage": capacity},
            "accessModes": access_modes,
            # A restored volume is data someone fought for: deleting its claim must not delete it.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": storage_class,
            "csi": {
                "driver": CSI_DRIVER,
                "volumeHandle": volume_id,
                "fsType": record.get("fs_type") or DEFAULT_FS_TYPE,
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE_KEY, "operator": "In", "values": [zone]}]}]
                }
            },
            "claimRef": {"namespace": record["pvc_namespace"], "name": record["pvc_name"]},
        },
    }
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": record["pvc_name"], "namespace": record["pvc_namespace"]},
        "spec": {
            "accessModes": access_modes,
            "resources": {"requests": {"storage": capacity}},
            "storageClassName": storage_class,
            "volumeName": record["pv"],
        },
    }
    return yaml.safe_dump_all([pv, pvc], sort_keys=False)
