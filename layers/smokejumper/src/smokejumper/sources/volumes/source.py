"""The volumes source: a plan's volume selector backed up as EBS snapshots, one artifact.json recording them.

`backup` starts the snapshots, looks at them every `poll_seconds` until all
are completed (or one fails, or `timeout_minutes` pass) and writes the
record. It waits in-process, which suits `smokejumper backup run` on a
machine; the workflow never lets a Lambda wait: it calls the same
`start_snapshots` and `look_at` as steps with a Wait state between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smokejumper.errors import UsageError
from smokejumper.plan import VolumeSelector
from smokejumper.sources.base import BackupResult, Progress
from smokejumper.sources.volumes.selection import describe_selected, select
from smokejumper.sources.volumes.snapshots import (
    ENGINE,
    SnapshotFailed,
    look_at,
    start_snapshots,
    write_volumes_artifact,
)
from smokejumper.store import Store


@dataclass(frozen=True)
class VolumeTarget:
    """A selector of the plan, in the run whose tags its snapshots carry."""

    selector: VolumeSelector
    plan: str
    run_id: str
    region: str | None = None  # the plan's region; None: the client's default


class VolumesSource:
    engine = ENGINE
    component = "volumes"

    def __init__(
        self,
        *,
        ec2: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ec2 = ec2
        self._sleep = sleep
        self._clock = clock

    def _client(self, region: str | None) -> Any:
        if self._ec2 is None:
            import boto3
            from botocore.config import Config

            # Adaptive retries: EC2 throttles snapshot calls per account; a burst of 200 volumes slows down, not fails.
            self._ec2 = boto3.client("ec2", region_name=region, config=Config(retries={"mode": "adaptive"}))
        return self._ec2

    def backup(
        self,
        target: VolumeTarget,
        store: Store,
        artifact_dir: str,
        *,
        name: str | None = None,
        on_progress: Progress | None = None,
    ) -> BackupResult:
        ec2 = self._client(target.region)
        selector = target.selector
        started_at = datetime.now(UTC)
        chosen = select(describe_selected(ec2, selector), selector)
        started = start_snapshots(ec2, chosen, plan=target.plan, run_id=target.run_id, selector=selector)
        ids = [snapshot.snapshot_id for snapshot in started]
        pvc_of = {snapshot.snapshot_id: snapshot.volume.pvc for snapshot in started}
        give_up = self._clock() + selector.timeout_minutes * 60
        while True:
            look = look_at(ec2, ids, pvc_of=pvc_of)
            if on_progress is not None:
                done = sum(s.volume.size_gib for s in started if s.snapshot_id not in look.pending)
                on_progress(f"{len(look.completed)}/{len(ids)} snapshots completed", len(look.completed), done << 30)
            if look.done:
                break
            if self._clock() >= give_up:
                waiting = ", ".join(f"{pvc_of[i]} {look.progress[i]}" for i in look.pending)
                raise SnapshotFailed(
                    f"{len(look.pending)} snapshots not completed after {selector.timeout_minutes} min: {waiting}",
                    hint="raise the selector's timeout_minutes (a first snapshot of a large volume takes longest)",
                )
            self._sleep(selector.poll_seconds)
        region = target.region or getattr(getattr(ec2, "meta", None), "region_name", None) or ""
        record, digest = write_volumes_artifact(
            store,
            artifact_dir,
            selector=selector,
            region=region,
            started=started,
            completed=look.completed,
            skipped=chosen.skipped,
            started_at=started_at,
        )
        return BackupResult(record, digest)

    def restore(self, store: Store, artifact_dir: str, request: Any, *, on_progress: Any = None) -> None:
        raise UsageError(
            "volumes are restored as new EBS volumes plus PV/PVC YAML, which smokejumper does not do yet",
            hint="create a volume from a snapshot id the artifact records (aws ec2 create-volume --snapshot-id ...)",
        )
