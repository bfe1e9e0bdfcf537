"""The volumes source: a plan's volume selector backed up as EBS snapshots, one artifact.json recording them.

Two phases, whoever runs them: `start_phase` selects the volumes and starts
their snapshots; `look_phase` looks at them once and, when all are
completed, writes the record. The workflow calls them as two Lambda steps
with its own Wait state between looks (a Lambda never sleeps through a
snapshot); `backup` (what `smokejumper backup run` calls) does the same with
the waits in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from smokejumper.errors import UsageError
from smokejumper.plan import VolumeSelector
from smokejumper.sources.base import BackupResult, Progress
from smokejumper.sources.volumes.copies import CopiesLook, advance_copies
from smokejumper.sources.volumes.lock import lock_snapshots
from smokejumper.sources.volumes.selection import SelectedVolume, SkippedVolume, describe_selected, select
from smokejumper.sources.volumes.snapshots import (
    ENGINE,
    Look,
    SnapshotFailed,
    StartedSnapshot,
    look_at,
    start_snapshots,
    write_volumes_artifact,
)
from smokejumper.store import Store, join_key


@dataclass(frozen=True)
class VolumeTarget:
    """A selector of the plan, in the run whose tags its snapshots carry."""

    selector: VolumeSelector
    plan: str
    run_id: str
    region: str | None = None  # the plan's region; None: the client's default


STARTED_FILE = "snapshots-started.json"  # beside artifact.json, written when the snapshots start


def start_phase(
    ec2: Any, store: Store, artifact_dir: str, target: VolumeTarget, *, now: float | None = None
) -> dict[str, Any]:
    """Select and start; the snapshots started (kept in the artifact directory) and when to give up.

    What was started is written to the store, not carried in the workflow's state: a run of 200 volumes
    would carry their records through every poll, against Step Functions' 256 KiB per state.
    """
    selector = target.selector
    moment = now if now is not None else time.time()
    started_at = datetime.fromtimestamp(moment, UTC)
    chosen = select(describe_selected(ec2, selector), selector)
    started = start_snapshots(ec2, chosen, plan=target.plan, run_id=target.run_id, selector=selector)
    document = {
        "started_at": started_at.isoformat(),
        "region": target.region or getattr(getattr(ec2, "meta", None), "region_name", None) or "",
        "snapshots": [
            {"snapshot_id": s.snapshot_id, "group": s.group, "volume": _volume_json(s.volume)} for s in started
        ],
        "skipped": [volume.to_json() for volume in chosen.skipped],
    }
    store.put_bytes(
        join_key(artifact_dir, STARTED_FILE), json.dumps(document).encode(), content_type="application/json"
    )
    return {
        "snapshots": [s.snapshot_id for s in started],
        "give_up_at": moment + selector.timeout_minutes * 60,  # not via datetime: it rounds to microseconds
        "poll_seconds": selector.poll_seconds,
    }


def look_phase(
    ec2: Any,
    store: Store,
    artifact_dir: str,
    target: VolumeTarget,
    snapshot_ids: list[str],
    give_up_at: float,
    *,
    now: float | None = None,
    copy_ec2: Any = None,
) -> BackupResult | Look:
    """One look: the committed artifact once every snapshot (and copy) completed, else the look.

    With the selector's `copy_to`, the look also advances the copies (copies.py); with its `lock`, every
    snapshot and copy is locked once all completed, before the record is written. SnapshotFailed when late.
    """
    document = json.loads(store.get_bytes(join_key(artifact_dir, STARTED_FILE)))
    started = [
        StartedSnapshot(entry["snapshot_id"], SelectedVolume(**entry["volume"]), entry["group"])
        for entry in document["snapshots"]
    ]
    pvc_of = {snapshot.snapshot_id: snapshot.volume.pvc for snapshot in started}
    selector = target.selector
    look = look_at(ec2, snapshot_ids, pvc_of=pvc_of)
    copies: CopiesLook | None = None
    if selector.copy_to is not None:
        copies = advance_copies(
            copy_ec2 if copy_ec2 is not None else ec2_client(selector.copy_to.region),
            selector.copy_to,
            source_region=document["region"],
            started=started,
            completed_sources=look.completed,
            plan=target.plan,
            run_id=target.run_id,
            selector=selector,
        )
        look = _with_copies(look, copies, selector.copy_to.region)
    if not look.done:
        if (now if now is not None else time.time()) >= give_up_at:
            waiting = ", ".join(f"{_named(i, pvc_of)} {look.progress[i]}" for i in look.pending)
            raise SnapshotFailed(
                f"{len(look.pending)} snapshots not completed after {selector.timeout_minutes} min: {waiting}",
                hint="raise the selector's timeout_minutes (a first snapshot or copy of a large volume takes longest)",
            )
        return look
    sources = list(look.completed)
    copied = copies.completed if copies is not None else None
    locked: dict[str, str] = {}
    if selector.lock is not None:
        locked = lock_snapshots(ec2, sources, selector.lock)
        if copied is not None and selector.copy_to is not None:
            dest = copy_ec2 if copy_ec2 is not None else ec2_client(selector.copy_to.region)
            locked |= lock_snapshots(dest, list(copied.values()), selector.lock)
    record, digest = write_volumes_artifact(
        store,
        artifact_dir,
        selector=selector,
        region=document["region"],
        started=started,
        completed=sources,
        skipped=[SkippedVolume(**entry) for entry in document["skipped"]],
        started_at=datetime.fromisoformat(document["started_at"]),
        copies=copied,
        locked_until=locked,
    )
    return BackupResult(record, digest)


_COPY = "copy of "  # how a pending copy is named in a look (its source's id follows)


def _with_copies(look: Look, copies: CopiesLook, region: str) -> Look:
    """The sources' look with the copies folded in: a snapshot counts as completed once its copy is."""
    pending = list(look.pending) + [f"{_COPY}{source}" for source in copies.pending]
    progress = dict(look.progress) | {
        f"{_COPY}{source}": f"{state} (to {region})" for source, state in copies.pending.items()
    }
    return Look(completed=look.completed, pending=pending, progress=progress, copied=len(copies.completed))


def _named(pending: str, pvc_of: dict[str, str]) -> str:
    source = pending.removeprefix(_COPY)
    name = pvc_of.get(source, source)
    return f"{name} (copy)" if pending.startswith(_COPY) else name


def _volume_json(volume: SelectedVolume) -> dict[str, Any]:
    data = asdict(volume)
    data["tags"] = dict(volume.tags)
    return data


def ec2_client(region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive retries: EC2 throttles snapshot calls per account; a burst of 200 volumes slows down, not fails.
    return boto3.client("ec2", region_name=region, config=Config(retries={"mode": "adaptive"}))


class VolumesSource:
    engine = ENGINE
    component = "volumes"

    def __init__(
        self,
        *,
        ec2: Any = None,
        copy_ec2: Any = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._ec2 = ec2
        self._copy_ec2 = copy_ec2  # the copy region's, made at the first look that needs it
        # Looked up when called, not bound here: a test that runs the whole runs module can stop the waits.
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))
        self._clock = clock or (lambda: time.time())

    def _client(self, region: str | None) -> Any:
        if self._ec2 is None:
            self._ec2 = ec2_client(region)
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
        """Start, then look every poll_seconds until done: the workflow's steps, with the waits done here."""
        ec2 = self._client(target.region)
        copy_to = target.selector.copy_to
        if copy_to is not None and self._copy_ec2 is None:
            self._copy_ec2 = ec2_client(copy_to.region)
        state = start_phase(ec2, store, artifact_dir, target, now=self._clock())
        total = len(state["snapshots"])
        while True:
            outcome = look_phase(
                ec2,
                store,
                artifact_dir,
                target,
                state["snapshots"],
                state["give_up_at"],
                now=self._clock(),
                copy_ec2=self._copy_ec2,
            )
            if isinstance(outcome, BackupResult):
                if on_progress is not None:
                    on_progress(f"{total}/{total} snapshots completed", total, 0)
                return outcome
            if on_progress is not None:
                copied = f", {outcome.copied}/{total} copied" if outcome.copied is not None else ""
                on_progress(f"{len(outcome.completed)}/{total} snapshots completed{copied}", len(outcome.completed), 0)
            self._sleep(state["poll_seconds"])

    def restore(self, store: Store, artifact_dir: str, request: Any, *, on_progress: Any = None) -> None:
        # A volumes artifact holds snapshot ids, not data: a restore makes a new EBS volume per PVC.
        raise UsageError(
            "a volumes artifact is restored one PVC at a time, as a new EBS volume and its PV/PVC YAML",
            hint="smokejumper volumes restore --run RUN --pvc NAMESPACE/NAME --store URL",
        )
