"""`smokejumper volumes`: the EBS snapshots a run holds per PVC, and a PVC restored from one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from smokejumper.cli.console import json_option, out, print_json, store_option
from smokejumper.store import Store, open_store


def _volume_records(store: Store, run: str) -> tuple[str, list[tuple[str, Any]]]:
    """(run id, [(selector, its artifact record)]) of the run's volumes artifacts that succeeded."""
    from smokejumper.catalog import read_artifact_record, read_manifest, run_dir
    from smokejumper.errors import UsageError

    manifest = read_manifest(store, run)
    found = []
    for ref in manifest.artifacts:
        if ref.engine == "ebs" and ref.status == "succeeded":
            record, _ = read_artifact_record(store.child(f"{run_dir(manifest.run_id)}/{ref.path}"))
            found.append((ref.name, record))
    if not found:
        raise UsageError(f"run {manifest.run_id} holds no volume snapshots", hint="pick a run with a volumes item")
    return manifest.run_id, found


@click.group()
def volumes() -> None:
    """EBS volumes behind Kubernetes PVs: what a run snapshotted, and restoring one PVC."""


@volumes.command("list")
@click.option("--run", "run", default="latest", show_default=True, help="A run id, or 'latest' (newest good run).")
@store_option
@json_option
def volumes_list(run: str, store_url: str, as_json: bool) -> None:
    """The snapshots a run holds, per PVC: snapshot, source volume, AZ, size, type, copy, lock.

    \b
    Example:
      smokejumper volumes list --run latest --store s3://my-backups/cf-prod
    """
    run_id, found = _volume_records(open_store(store_url), run)
    if as_json:
        print_json({"run_id": run_id, "selectors": {name: record.snapshot_point for name, record in found}})
        return
    from rich.table import Table  # deferred: the CLI starts fast (tests/unit/test_startup.py)

    table = Table(title=f"run {run_id}", title_justify="left")
    for column in ("pvc", "snapshot", "volume", "az", "size", "type", "copy", "locked until", "selector"):
        table.add_column(column, no_wrap=column in ("pvc", "snapshot", "volume", "copy"))
    for name, artifact in found:
        for record in artifact.snapshot_point.get("snapshots", []):
            copy = record.get("copy")
            table.add_row(
                f"{record['pvc_namespace']}/{record['pvc_name']}", record["snapshot_id"], record["volume_id"],
                record["availability_zone"], f"{record['size_gib']} GiB", record["volume_type"],
                f"{copy['snapshot_id']} ({copy['region']})" if copy else "-",
                (record.get("locked_until") or "-")[:10], name,
            )  # fmt: skip
    out.print(table)
    for name, artifact in found:
        for skipped in artifact.snapshot_point.get("skipped", []):
            out.print(f"  skipped by {escape(name)}: {skipped['volume_id']}: {escape(skipped['reason'])}")


@volumes.command("restore")
@click.option("--run", "run", default="latest", show_default=True, help="A run id, or 'latest' (newest good run).")
@click.option("--pvc", required=True, help="NAMESPACE/NAME of the claim to restore.")
@click.option("--az", "zone", help="Availability zone of the new volume (default: the source volume's).")
@click.option(
    "--region",
    help="Region of the new volume: the snapshot's own (default), or the region the plan copies it to.",
)
@click.option("--kms-key", help="Encrypt the new volume with this KMS key (ARN or id).")
@click.option("--volume-type", help="gp3, gp2, io2, ... (default: the source volume's, with its IOPS and throughput).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the PV/PVC YAML is written (NAMESPACE-NAME.yaml).",
)
@store_option
@json_option
def volumes_restore(
    run: str, pvc: str, zone: str | None, region: str | None, kms_key: str | None, volume_type: str | None,
    out_dir: Path, store_url: str, as_json: bool,
) -> None:  # fmt: skip
    """Create a volume from the PVC's snapshot and write the PersistentVolume + PersistentVolumeClaim for it.

    The YAML binds the claim to the new volume (claimRef and volumeName), for
    the EBS CSI driver, with a node affinity to the volume's AZ and the
    Retain reclaim policy. Apply it with kubectl apply -f FILE, after
    deleting the old claim if it still exists.

    \b
    Examples:
      smokejumper volumes restore --pvc cf-db/data-mysql-0 --az eu-west-1b --store s3://my-backups/cf-prod
      # from the copy, when the plan's region is gone (--az is then required):
      smokejumper volumes restore --pvc cf-db/data-mysql-0 --region eu-central-1 --az eu-central-1a \\
          --store s3://my-backups/cf-prod
    """
    from smokejumper.sources.volumes.restore import find_pvc, in_region, restore_volume
    from smokejumper.sources.volumes.source import ec2_client

    run_id, found = _volume_records(open_store(store_url), run)
    # The selector whose snapshots hold the PVC (find_pvc names every PVC of the run when none does).
    # Each snapshot record carries the region its selector ran in, for the EC2 client.
    every = [
        {**r, "region": artifact.source.get("region")}
        for _, artifact in found
        for r in artifact.snapshot_point.get("snapshots", [])
    ]
    record = in_region(find_pvc({"snapshots": every}, pvc), region)
    ec2 = ec2_client(record.pop("region") or None)
    restored = restore_volume(ec2, record, run_id=run_id, zone=zone, volume_type=volume_type, kms_key=kms_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{record['pvc_namespace']}-{record['pvc_name']}.yaml"
    target.write_text(restored.pv_yaml, encoding="utf-8")
    if as_json:
        print_json({"volume_id": restored.volume_id, "availability_zone": restored.availability_zone,
                    "size_gib": restored.size_gib, "yaml": str(target)})  # fmt: skip
        return
    out.print(
        f"[green]✓[/] {restored.volume_id} ({restored.size_gib} GiB {restored.volume_type}, "
        f"{restored.availability_zone}) from {record['snapshot_id']} of run {run_id}"
    )
    out.print(f"  PV + PVC: {target}  (kubectl apply -f {target})", markup=False)
