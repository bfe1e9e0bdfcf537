"""A backup run's life, owned in one place: start, back up each item, commit, prune.

The CLI (`smokejumper backup run`), the Lambda handlers (one step each,
driven by the state machine) and the offline runner all go through these
functions, so a run means the same thing everywhere:

1. `start_run` makes the run id (it sorts by start time) and expands the
   plan, or the components and items asked for, into items. Nothing is
   written yet.
2. `backup_item` backs one item up into `runs/RUN_ID/<component>/<name>/`
   through its engine's source (`sources.base`), with its target resolved
   from the plan and its secrets (`targets`), and returns the manifest
   entry: size, digest of its artifact.json, seconds. A failure raises, with
   a stable error type (`failures`), which a Lambda hands to Step Functions;
   `try_backup_item` records it instead, for the CLI.
3. `commit_run` writes the manifest, last: the run exists from then on. Each
   item's entry is checked against what the store holds (its artifact.json
   must be there and hash to the digest reported), so a step's output cannot
   make the manifest claim an artifact that is not there. Status is
   `failed` if any item failed; there is no "completed with errors".
4. `prune` carries out retention: it deletes exactly the runs that
   `retention.decide` picks among this plan's consistent runs, never a run
   directory without a manifest until its grace period is over (a backup in
   progress has none yet), and keeps (and reports) what Object Lock holds.

The design follows Powertools' idempotency utility: one owner of the
lifecycle, persistence behind an interface (`store.Store`).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from smokejumper.catalog import (
    MANIFEST,
    ArtifactRef,
    RunManifest,
    new_run_id,
    read_artifact_record,
    read_manifest,
    run_dir,
    run_id_time,
    scan_runs,
    write_manifest,
)
from smokejumper.deadline import Deadline, TimeLimitedStore
from smokejumper.errors import ObjectLockedError, SmokejumperError, UsageError
from smokejumper.failures import describe, error_type_of
from smokejumper.plan import COMPONENT_SECTIONS, Plan
from smokejumper.retention import decide
from smokejumper.secrets import Secrets
from smokejumper.sources.base import BackupResult, Progress, source_for
from smokejumper.sources.volumes.retention import PlanSnapshots, SnapshotRef
from smokejumper.store import Store, join_key

COMPONENTS: tuple[str, ...] = tuple(COMPONENT_SECTIONS)


@dataclass(frozen=True)
class RunItem:
    """One thing a run backs up, and where its artifact goes inside the run."""

    component: str
    name: str
    engine: str

    @property
    def path(self) -> str:
        """The artifact directory relative to the run: `databases/ccdb`, `etcd/eks-cf-prod`."""
        return f"{self.component}/{self.name}"


def plan_items(plan: Plan) -> list[RunItem]:
    """Every item of the plan, in the order runs take them: etcd clusters, then databases."""
    items = [RunItem("etcd", cluster.name, "etcd") for cluster in plan.etcd]
    items += [RunItem("databases", database.name, database.engine) for database in plan.databases]
    items += [RunItem("volumes", selector.name, "ebs") for selector in plan.volumes]
    return items


def select_items(plan: Plan, *, components: Sequence[str] = (), names: Sequence[str] = ()) -> list[RunItem]:
    """The items of the given components (all when none) narrowed to `names` (all when none).

    Every unknown component or name is reported at once, with what was meant where it can tell.
    """
    everything = plan_items(plan)
    problems = []
    for component in components:
        if component not in COMPONENTS:
            problems.append(f"unknown component {component!r} (components: {', '.join(COMPONENTS)})")
    known = [item.name for item in everything]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            problems.append(
                f"plan {plan.name} has no item {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    if problems:
        raise UsageError("; ".join(problems), hint=f"the plan's items: {', '.join(known) or 'none'}")
    chosen = [
        item
        for item in everything
        if (not components or item.component in components) and (not names or item.name in names)
    ]
    if not chosen:
        asked = ", ".join(components) or "every component"
        raise UsageError(f"nothing to back up: plan {plan.name} lists no items in {asked}")
    return chosen


@dataclass(frozen=True)
class RunTicket:
    """What every later step of a run needs; it travels as JSON between the workflow's steps."""

    plan: str
    run_id: str
    started_at: datetime
    items: tuple[RunItem, ...]
    trigger: str = "manual"

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "trigger": self.trigger,
            "items": [{"component": i.component, "name": i.name, "engine": i.engine} for i in self.items],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunTicket:
        return cls(
            plan=str(data["plan"]),
            run_id=str(data["run_id"]),
            started_at=datetime.fromisoformat(str(data["started_at"])),
            trigger=str(data.get("trigger", "manual")),
            items=tuple(RunItem(**item) for item in data["items"]),
        )


def start_run(
    plan: Plan,
    *,
    components: Sequence[str] = (),
    names: Sequence[str] = (),
    trigger: str = "manual",
    now: datetime | None = None,
) -> RunTicket:
    """A new run of `plan`: its id and the items it will back up. Nothing is written."""
    started = (now or datetime.now(UTC)).astimezone(UTC)
    items = select_items(plan, components=components, names=names)
    return RunTicket(plan.name, new_run_id(started), started, tuple(items), trigger)


def _resolve(plan: Plan, item: RunItem, secrets: Secrets, ticket: RunTicket) -> Any:
    from smokejumper.targets import database_target, etcd_target

    if item.component == "volumes":
        return volume_target(plan, item, ticket)
    if item.component == "etcd":
        cluster = next((c for c in plan.etcd if c.name == item.name), None)
        if cluster is not None:
            return etcd_target(cluster, secrets)
    elif item.component == "databases":
        database = next((d for d in plan.databases if d.name == item.name), None)
        if database is not None:
            return database_target(database, secrets)
    raise UsageError(
        f"plan {plan.name} has no {COMPONENT_SECTIONS.get(item.component, item.component)} item {item.name!r}",
        hint="the run was started from another version of the plan: start a new run",
    )


def volume_target(plan: Plan, item: RunItem, ticket: RunTicket) -> Any:
    """The plan's volume selector `item`, in the run whose id goes on every snapshot (retention finds them by it)."""
    from smokejumper.sources.volumes.source import VolumeTarget

    selector = next((v for v in plan.volumes if v.name == item.name), None)
    if item.component != "volumes" or selector is None:
        raise UsageError(
            f"plan {plan.name} has no volume selector {item.name!r}",
            hint="the run was started from another version of the plan: start a new run",
        )
    return VolumeTarget(selector, plan.name, ticket.run_id, plan.deployment.region)


def refuse_committed(store: Store, ticket: RunTicket) -> None:
    """A committed run's artifacts are never rewritten: an item step of it refuses to start."""
    if store.exists(join_key(run_dir(ticket.run_id), MANIFEST)):
        raise UsageError(
            f"run {ticket.run_id} is committed already: its artifacts are never rewritten",
            hint="start a new run",
        )


def backup_item(
    plan: Plan,
    store: Store,
    ticket: RunTicket,
    item: RunItem,
    secrets: Secrets,
    *,
    deadline: Deadline | None = None,
    on_progress: Progress | None = None,
) -> ArtifactRef:
    """Back up one item of the run; raise (with a stable error type) if it fails, leaving nothing behind."""
    started = time.monotonic()
    run_id_time(ticket.run_id)  # a ticket from outside (a state machine's input) names a real run directory
    if ticket.items and item not in ticket.items:
        raise UsageError(f"run {ticket.run_id} has no item {item.path}", hint="back up the run's own items")
    refuse_committed(store, ticket)
    artifact_dir = join_key(run_dir(ticket.run_id), item.path)
    target = _resolve(plan, item, secrets, ticket)
    writes_to: Store = store
    options: dict[str, Any] = {}
    if deadline is not None and deadline.remaining is not None:
        writes_to = TimeLimitedStore(store, deadline, what=f"the backup of {item.name}")
        if item.engine == "etcd":
            # The snapshot stream can stall without a write to notice it: give it the time that is left.
            options["timeout"] = max(1.0, (deadline.seconds_left() or 0.0) - deadline.margin)
    try:
        result = source_for(item.engine, **options).backup(
            target, writes_to, artifact_dir, name=item.name, on_progress=on_progress
        )
    except BaseException:
        _clear(store, artifact_dir)
        raise
    return succeeded_ref(item, result, seconds=time.monotonic() - started)


def succeeded_ref(item: RunItem, result: BackupResult, *, seconds: float) -> ArtifactRef:
    """The manifest entry of an item whose artifact was committed."""
    return ArtifactRef(
        path=item.path,
        engine=item.engine,
        name=item.name,
        status="succeeded",
        size=result.record.size,
        record_sha256=result.record_sha256,
        seconds=round(seconds, 3),
    )


def _clear(store: Store, artifact_dir: str) -> None:
    """Remove what a failed backup committed before failing (a data file whose record never came)."""
    try:
        for key in list(store.list_keys(artifact_dir)):
            store.delete(key)
    except SmokejumperError:
        pass  # the original failure matters more; an uncommitted artifact is never listed as one


def failed_ref(item: RunItem, exc: BaseException, *, seconds: float | None = None) -> ArtifactRef:
    """The manifest entry of an item that failed with `exc`."""
    return ArtifactRef(
        path=item.path,
        engine=item.engine,
        name=item.name,
        status="failed",
        error_type=error_type_of(exc),
        error=describe(exc),
        seconds=None if seconds is None else round(seconds, 3),
    )


def try_backup_item(
    plan: Plan,
    store: Store,
    ticket: RunTicket,
    item: RunItem,
    secrets: Secrets,
    *,
    deadline: Deadline | None = None,
    on_progress: Progress | None = None,
) -> ArtifactRef:
    """`backup_item`, with a failure recorded in the entry instead of raised (the CLI's way)."""
    started = time.monotonic()
    try:
        return backup_item(plan, store, ticket, item, secrets, deadline=deadline, on_progress=on_progress)
    except Exception as exc:  # every failure of one item is recorded; the others go on
        return failed_ref(item, exc, seconds=time.monotonic() - started)


def back_up_items(
    plan: Plan,
    store: Store,
    ticket: RunTicket,
    secrets: Secrets,
    *,
    on_item: Callable[[RunItem, ArtifactRef], None] | None = None,
) -> list[ArtifactRef]:
    """Every item of the run, `plan.concurrency` at a time (outside Lambda: the CLI and the demo).

    The engines' clients release the GIL while they wait on the network, and each item has its
    own connections, so threads are enough. Entries come back in the ticket's item order.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    workers = max(1, min(plan.concurrency, len(ticket.items)))
    results: dict[str, ArtifactRef] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup") as pool:
        futures = {pool.submit(try_backup_item, plan, store, ticket, item, secrets): item for item in ticket.items}
        for future in as_completed(futures):
            item = futures[future]
            results[item.path] = future.result()
            if on_item:
                on_item(item, results[item.path])
    return [results[item.path] for item in ticket.items]


def commit_run(
    store: Store,
    ticket: RunTicket,
    results: Iterable[ArtifactRef],
    *,
    now: datetime | None = None,
) -> RunManifest:
    """Write the run's manifest: its commit point. Every item of the ticket has an entry.

    A succeeded entry is believed only if its artifact.json is in the store with
    the digest reported and the item's engine and name; otherwise it is
    recorded as failed (IntegrityError). An item with no result is failed too.
    """
    existing = _committed_already(store, ticket)
    if existing is not None:
        return existing  # a retried commit: the run is what it was
    results = list(results)
    reported = {ref.path: ref for ref in results}
    repeated = sorted({ref.path for ref in results if sum(other.path == ref.path for other in results) > 1})
    if repeated:
        raise UsageError(f"more than one result for {', '.join(repeated)}", hint="pass one result per item")
    unexpected = sorted(set(reported) - {item.path for item in ticket.items})
    if unexpected:
        raise UsageError(
            f"results for items the run does not have: {', '.join(unexpected)}",
            hint="pass the results of this run's own items",
        )
    entries = []
    for item in ticket.items:
        ref = reported.get(item.path)
        if ref is None:
            entries.append(
                failed_ref(item, SmokejumperError("no result reached the commit: the item's step did not finish"))
            )
        elif ref.status == "succeeded":
            entries.append(_checked(store, ticket, item, ref))
        else:
            entries.append(ref)
    manifest = RunManifest(
        plan=ticket.plan,
        run_id=ticket.run_id,
        status="succeeded" if all(entry.status == "succeeded" for entry in entries) else "failed",
        trigger=ticket.trigger,
        started_at=ticket.started_at,
        finished_at=(now or datetime.now(UTC)).astimezone(UTC),
        artifacts=entries,
    )
    write_manifest(store, manifest)
    return manifest


def _committed_already(store: Store, ticket: RunTicket) -> RunManifest | None:
    """The run's manifest if this very run was committed before (a retried commit step), else None."""
    if not store.exists(join_key(run_dir(ticket.run_id), MANIFEST)):
        return None
    manifest = read_manifest(store, ticket.run_id)
    if manifest.plan != ticket.plan or [ref.path for ref in manifest.artifacts] != [i.path for i in ticket.items]:
        raise UsageError(
            f"run {ticket.run_id} is committed already, with other items",
            hint="runs are never rewritten; start a new run",
        )
    return manifest


def _checked(store: Store, ticket: RunTicket, item: RunItem, ref: ArtifactRef) -> ArtifactRef:
    from smokejumper.errors import IntegrityError

    artifact_dir = join_key(run_dir(ticket.run_id), item.path)
    try:
        record, digest = read_artifact_record(store, artifact_dir)
    except SmokejumperError as exc:
        return failed_ref(item, IntegrityError(f"reported done, but its artifact is not readable: {exc.message}"))
    if digest != ref.record_sha256 or (record.engine, record.name) != (item.engine, item.name):
        return failed_ref(
            item,
            IntegrityError(
                f"reported done, but {artifact_dir}/artifact.json does not match the report "
                f"(sha256 {digest[:12]}…, engine {record.engine}, name {record.name})"
            ),
        )
    for data_file in record.files:
        key = join_key(artifact_dir, data_file.name)
        try:
            size = store.size(key)
        except SmokejumperError:
            size = None
        if size != data_file.size:
            found = "missing" if size is None else f"{size} bytes, the record says {data_file.size}"
            return failed_ref(item, IntegrityError(f"reported done, but {key} is {found}"))
    # The entry is built from the item and its record; only the duration comes from the report.
    return ArtifactRef(
        path=item.path,
        engine=item.engine,
        name=item.name,
        status="succeeded",
        size=record.size,
        record_sha256=digest,
        seconds=ref.seconds,
    )


# --- retention, carried out ------------------------------------------------------------


Outcome = Literal["deleted", "would delete", "locked", "failed"]


@dataclass(frozen=True)
class RunDeletion:
    """What became of one run (or uncommitted run directory) the sweep chose."""

    run_id: str
    reasons: tuple[str, ...]
    outcome: Outcome
    detail: str = ""
    committed: bool = True
    snapshots: int = 0  # EBS snapshots of the run deleted with it (or that would be)


@dataclass
class PruneReport:
    """Everything the sweep decided and did, for people (the CLI) and for logs."""

    plan: str
    now: datetime
    dry_run: bool
    kept: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    deletions: list[RunDeletion] = field(default_factory=list)
    # Run directories the sweep will not touch, and why (another plan's manifest, a renamed directory...).
    refused: list[tuple[str, str]] = field(default_factory=list)
    # Uncommitted run directories still inside their grace period (a backup may be writing them).
    waiting: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(deletion.outcome == outcome for deletion in self.deletions)


@dataclass(frozen=True)
class _ItemBackup:
    """One item's artifact in one run: what retention judges (see `prune`)."""

    run_id: str
    started_at: datetime
    status: str


def prune(
    plan: Plan,
    store: Store,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    on_deletion: Callable[[RunDeletion], None] | None = None,
    snapshots: PlanSnapshots | None = None,
) -> PruneReport:
    """Delete the runs retention does not keep, and old uncommitted run directories (see the module docstring).

    Retention is decided for each item on its own (its artifacts across the
    runs that hold it, each good when that artifact succeeded) and a run goes
    only when no item keeps it: runs of one component (an hourly etcd run, a
    `--item` run) never push another item's backups out, and a failed run's
    good artifacts count for their items. Acts only on runs whose manifest
    names this plan and lies in the directory of its own run id; a failure on
    one run is reported and the sweep goes on.

    With `snapshots` (a plan with volumes), a run's EBS snapshots go with it,
    and snapshots of a run that never committed go after the grace period.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    report = PruneReport(plan.name, now, dry_run)
    scan = scan_runs(store, plan=plan.name)
    snapshots_by_run = snapshots.by_run() if snapshots is not None else {}
    report.refused = [(refused.directory, refused.reason) for refused in scan.refused]
    keep, delete = _decide_by_item(scan.runs, plan, now)
    report.kept = [(run.run_id, tuple(keep[run.run_id])) for run in scan.runs if run.run_id in keep]

    def record(deletion: RunDeletion) -> None:
        if snapshots is not None and deletion.outcome in ("deleted", "would delete"):
            refs = snapshots_by_run.pop(deletion.run_id, [])
            deletion = _with_snapshots(deletion, snapshots, refs, dry_run=dry_run, now=now)
        report.deletions.append(deletion)
        if on_deletion:
            on_deletion(deletion)

    for run in scan.runs:
        if run.run_id not in keep:
            record(_delete_run(store, run.run_id, tuple(delete[run.run_id]), dry_run=dry_run, committed=True))
    grace = timedelta(hours=plan.retention.uncommitted_grace_hours)
    for run_id in scan.uncommitted:
        if next(iter(store.list_keys(run_dir(run_id))), None) is None:
            continue  # nothing left in it (an emulated S3 lists a prefix whose objects are all deleted)
        started = run_id_time(run_id)
        if started + grace > now:
            report.waiting.append(run_id)
            continue
        reason = (
            f"no manifest: the run never committed, and it started {started:%Y-%m-%d %H:%M} UTC, "
            f"more than {plan.retention.uncommitted_grace_hours} h ago",
        )
        record(_delete_run(store, run_id, reason, dry_run=dry_run, committed=False))
    # Snapshots of a run with no directory left at all: it crashed before writing anything (the same grace),
    # or it was pruned while its snapshots were locked (they go once every lock has ended).
    kept_runs = {run.run_id for run in scan.runs} | set(scan.uncommitted)
    for run_id in sorted(set(snapshots_by_run) - kept_runs):
        try:
            started = run_id_time(run_id)
        except SmokejumperError:
            continue  # a tag that is not a run id: not this sweep's to judge
        if started + grace > now:
            report.waiting.append(run_id)
            continue
        refs = snapshots_by_run[run_id]
        if all(ref.locked_at(now) for ref in refs):
            continue  # nothing can go yet; said once, when the run itself was pruned
        if any(ref.locked_until is not None for ref in refs):
            reason = (f"snapshots of a run pruned while they were locked, started {started:%Y-%m-%d %H:%M} UTC",)
        else:
            reason = (f"snapshots of a run that never committed, started {started:%Y-%m-%d %H:%M} UTC",)
        record(RunDeletion(run_id, reason, "would delete" if dry_run else "deleted", "", committed=False))
    return report


def _with_snapshots(
    deletion: RunDeletion, snapshots: PlanSnapshots, refs: list[SnapshotRef], *, dry_run: bool, now: datetime
) -> RunDeletion:
    """The run's deletion, with its EBS snapshots deleted after its objects (or counted, on a dry run).

    Snapshots still under EBS Snapshot Lock cannot go: the deletion says until when, and a later sweep
    deletes them (see prune).
    """
    locked = [ref for ref in refs if ref.locked_at(now)]
    free = [ref for ref in refs if not ref.locked_at(now)]
    detail = deletion.detail
    if locked:
        until = max(ref.locked_until for ref in locked if ref.locked_until is not None)
        detail = (f"{detail}; {len(locked)} snapshots locked until {until:%Y-%m-%d %H:%M} UTC stay until then").lstrip(
            "; "
        )
    if not free or dry_run:
        return replace(deletion, detail=detail, snapshots=len(free))
    outcome = snapshots.delete(free)
    if outcome.failed:
        detail = f"{detail}; snapshots not deleted: {', '.join(outcome.failed)}".lstrip("; ")
        return replace(deletion, outcome="failed", detail=detail, snapshots=outcome.deleted)
    return replace(deletion, detail=detail, snapshots=outcome.deleted)


def _decide_by_item(
    runs: Sequence[RunManifest], plan: Plan, now: datetime
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """run id -> reasons to keep it (runs some item keeps), and run id -> why each item lets it go."""
    by_item: dict[str, list[_ItemBackup]] = {}
    for run in runs:
        for ref in run.artifacts:
            by_item.setdefault(ref.path, []).append(_ItemBackup(run.run_id, run.started_at, ref.status))
        if not run.artifacts:  # nothing in it: judged as a run
            by_item.setdefault("(runs without artifacts)", []).append(
                _ItemBackup(run.run_id, run.started_at, run.status)
            )
    keep: dict[str, list[str]] = {}
    delete: dict[str, list[str]] = {run.run_id: [] for run in runs}
    for path, backups in sorted(by_item.items()):
        decision = decide(backups, plan.retention, now=now)
        for verdict in decision.keep:
            keep.setdefault(verdict.run_id, []).extend(f"{path}: {reason}" for reason in verdict.reasons)
        for verdict in decision.delete:
            delete[verdict.run_id].append(f"{path}: {verdict.reasons[0]}")
    return keep, delete


def _delete_run(store: Store, run_id: str, reasons: tuple[str, ...], *, dry_run: bool, committed: bool) -> RunDeletion:
    if dry_run:
        return RunDeletion(run_id, reasons, "would delete", committed=committed)
    directory = run_dir(run_id)
    manifest = join_key(directory, MANIFEST)
    try:
        keys = list(store.list_keys(directory))
        if not committed and manifest in keys:
            # It committed since the scan: a run that finished late is a run, not litter.
            return RunDeletion(run_id, reasons, "failed", "it has committed since the sweep began", committed=False)
        # Every object is checked first: a lock (or legal hold) on any of them keeps the whole run as it is.
        for key in keys:
            store.check_deletable(key)
        # The manifest goes first: from then on the run no longer exists, whatever happens to the rest
        # (what is left is an uncommitted directory, swept on a later pass).
        for key in [key for key in keys if key == manifest] + [key for key in keys if key != manifest]:
            store.delete(key)
    except ObjectLockedError as exc:
        until = f" until {exc.until:%Y-%m-%d %H:%M} UTC" if exc.until else " (legal hold)"
        return RunDeletion(run_id, reasons, "locked", f"held by Object Lock{until}: kept", committed=committed)
    except SmokejumperError as exc:
        return RunDeletion(run_id, reasons, "failed", describe(exc), committed=committed)
    return RunDeletion(run_id, reasons, "deleted", f"{len(keys)} objects", committed=committed)
