"""Which EBS volumes a selector of the plan takes, and why it leaves others out.

The EBS CSI driver tags every volume it creates with the PersistentVolume
and the PersistentVolumeClaim it serves (`kubernetes.io/created-for/...`).
A selector's tags narrow the volumes in EC2 itself (tag filters, with `*`
wildcards); what EC2 cannot filter (namespaces to include or exclude, a
volume attached to nothing, a volume without PVC tags) is decided here, and
every volume left out is reported with its reason, so a run's record says
exactly what was not backed up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smokejumper.plan import VolumeSelector

PV_NAME = "kubernetes.io/created-for/pv/name"
PVC_NAME = "kubernetes.io/created-for/pvc/name"
PVC_NAMESPACE = "kubernetes.io/created-for/pvc/namespace"
IDENTITY_TAGS = (PV_NAME, PVC_NAME, PVC_NAMESPACE)


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


@dataclass(frozen=True)
class SelectedVolume:
    """A volume to snapshot, and the Kubernetes objects it belongs to."""

    volume_id: str
    availability_zone: str
    size_gib: int
    volume_type: str
    iops: int | None
    throughput: int | None
    encrypted: bool
    kms_key_id: str | None
    instance_id: str | None  # attached to (the first attachment; multi-attach volumes are rare for PVs)
    pv_name: str
    pvc_namespace: str
    pvc_name: str
    tags: Mapping[str, str]

    @property
    def pvc(self) -> str:
        return f"{self.pvc_namespace}/{self.pvc_name}"


@dataclass(frozen=True)
class SkippedVolume:
    volume_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"volume_id": self.volume_id, "reason": self.reason}


@dataclass(frozen=True)
class Selection:
    volumes: list[SelectedVolume]
    skipped: list[SkippedVolume]


def ec2_filters(selector: VolumeSelector) -> list[dict[str, Any]]:
    """The selector's tags as EC2 filters: all of them must match; values may use `*`."""
    return [{"Name": f"tag:{tag.key}", "Values": list(tag.values)} for tag in selector.tags]


def describe_selected(ec2: Any, selector: VolumeSelector) -> Iterator[Mapping[str, Any]]:
    """Every volume carrying the selector's tags (one paginated DescribeVolumes)."""
    for page in ec2.get_paginator("describe_volumes").paginate(Filters=ec2_filters(selector)):
        yield from page["Volumes"]


def select(volumes: Iterable[Mapping[str, Any]], selector: VolumeSelector) -> Selection:
    """The volumes of `selector` among those EC2 described, and those left out with their reasons."""
    chosen: list[SelectedVolume] = []
    skipped: list[SkippedVolume] = []
    for volume in sorted(volumes, key=lambda v: v["VolumeId"]):
        reason = _left_out(volume, selector)
        if reason is not None:
            skipped.append(SkippedVolume(volume["VolumeId"], reason))
            continue
        tags = tags_of(volume)
        attachments = [a for a in volume.get("Attachments", []) if a.get("State") in ("attached", "attaching")]
        chosen.append(
            SelectedVolume(
                volume_id=volume["VolumeId"],
                availability_zone=volume["AvailabilityZone"],
                size_gib=int(volume["Size"]),
                volume_type=volume.get("VolumeType", "gp3"),
                iops=volume.get("Iops"),
                throughput=volume.get("Throughput"),
                encrypted=bool(volume.get("Encrypted")),
                kms_key_id=volume.get("KmsKeyId"),
                instance_id=attachments[0]["InstanceId"] if attachments else None,
                pv_name=tags[PV_NAME],
                pvc_namespace=tags[PVC_NAMESPACE],
                pvc_name=tags[PVC_NAME],
                tags=tags,
            )
        )
    return Selection(chosen, skipped)


def _left_out(volume: Mapping[str, Any], selector: VolumeSelector) -> str | None:
    tags = tags_of(volume)
    missing = [key for key in IDENTITY_TAGS if not tags.get(key)]
    if missing:
        # Not a PV of the EBS CSI driver (or made by hand): nothing would say which PVC to restore it as.
        return f"no PVC tags ({', '.join(missing)} missing): not a volume the EBS CSI driver made for a PVC"
    namespace = tags[PVC_NAMESPACE]
    if namespace in selector.exclude_namespaces:
        return f"namespace {namespace} is excluded by the plan"
    if selector.namespaces and namespace not in selector.namespaces:
        return f"namespace {namespace} is not among the plan's namespaces ({', '.join(selector.namespaces)})"
    attached = any(a.get("State") in ("attached", "attaching") for a in volume.get("Attachments", []))
    if selector.attached_only and not attached:
        return "not attached to any instance, and the plan backs up attached volumes only"
    return None
