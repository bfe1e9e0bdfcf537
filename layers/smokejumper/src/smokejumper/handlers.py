"""What the Lambda handlers do, behind their few lines: parse, call the runs module, shape the result.

Three functions make a backup run for a state machine:

- `start`: a run id and the items it backs up (the input of the workflow's Map);
- `back_up`: one item, into the run's directory in the bucket; a failure is
  raised as an exception named after its stable error type
  (`failures.ERROR_TYPES`), which is the `errorType` Step Functions matches
  in Retry and Catch;
- `commit`: the manifest (from each item's result, or the error the Catch
  recorded), retention, and one metric set per item.

The plan is deployed with the functions' code (`plan.json` beside the
handlers), the bucket and key come from environment variables (and, for the
restore function of a plan with a replica in its own account, the replica's
bucket and region); credentials only ever come from Secrets Manager at run
time, read once per invocation.
Nothing here logs a secret: events hold ARNs, never values.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smokejumper.catalog import ArtifactRef, RunManifest, run_dir
from smokejumper.deadline import Deadline
from smokejumper.errors import UsageError
from smokejumper.failures import ERROR_TYPES, BackupInProgress, describe, error_type_of
from smokejumper.locks import LOCK_TABLE_VARIABLE, BusyItem, DynamoDbLocks, run_time_limit
from smokejumper.plan import Plan
from smokejumper.runs import (
    COMPONENTS,
    RunItem,
    RunTicket,
    backup_item,
    commit_run,
    failed_ref,
    prune,
    refuse_committed,
    start_run,
    succeeded_ref,
    volume_target,
)
from smokejumper.secrets import SecretsManagerSecrets
from smokejumper.sources.base import BackupResult
from smokejumper.sources.volumes.retention import plan_snapshots
from smokejumper.store import Store, join_key, open_store

if TYPE_CHECKING:
    from smokejumper.restores import Stores

PLAN_FILE = "plan.json"
PLAN_FILE_VARIABLE = "SMOKEJUMPER_PLAN_FILE"
BUCKET_VARIABLE = "SMOKEJUMPER_BUCKET"
KMS_KEY_VARIABLE = "SMOKEJUMPER_KMS_KEY_ID"
# The restore function's only, and only for a replica in the plan's own account: what "store": "replica" reads.
REPLICA_BUCKET_VARIABLE = "SMOKEJUMPER_REPLICA_BUCKET"
REPLICA_REGION_VARIABLE = "SMOKEJUMPER_REPLICA_REGION"
METRICS_NAMESPACE = "Smokejumper"
# The workflow's events on the default bus: one that asks for a run, one that says how a run ended.
EVENT_SOURCE = "smokejumper"
REQUESTED_DETAIL_TYPE = "Backup Requested"
COMPLETED_DETAIL_TYPE = "Backup Run Completed"

ModelT = TypeVar("ModelT", bound=BaseModel)
# What a manifest accepts as an error type (catalog.ArtifactRef): a name, never a sentence.
ERROR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,127}", re.ASCII)


# --- events ---------------------------------------------------------------------------------


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartRunEvent(_Event):
    """What starts a run (the workflow's input): every part optional (default: every component of the plan)."""

    components: list[Literal["etcd", "databases", "volumes"]] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list, description="item names of the plan")
    reason: str = Field(default="", max_length=500)
    trigger: str = Field(default="manual", max_length=64, description="schedule, event, manual, ...")
    plan: str | None = Field(default=None, description="when given, the plan the request is meant for")


class WorkflowStart(_Event):
    """What the start step receives: the execution's input as the request, and the execution that holds the leases."""

    request: StartRunEvent = Field(default_factory=StartRunEvent)
    execution: str = Field(default="", max_length=2048, description="the execution's ARN ($$.Execution.Id)")


class ItemModel(_Event):
    component: str
    name: str
    engine: str

    def item(self) -> RunItem:
        return RunItem(self.component, self.name, self.engine)


class TicketModel(_Event):
    plan: str
    run_id: str
    started_at: datetime
    trigger: str = "manual"
    # Empty in each Map input: the items travel once, in the run's own state (Step Functions caps a
    # state at 256 KiB, and a copy of every item in every item's input grows with its square).
    items: list[ItemModel] = Field(default_factory=list)

    def ticket(self) -> RunTicket:
        return RunTicket.from_json(self.model_dump(mode="json"))


class BackupItemEvent(_Event):
    """One item of a run (the Map's ItemSelector gives the ticket and the item)."""

    ticket: TicketModel
    item: ItemModel


class VolumesStepEvent(_Event):
    """One step of a volume selector's snapshots: start them, or look at them (what the start returned)."""

    phase: Literal["start", "look"]
    ticket: TicketModel
    item: ItemModel
    snapshots: list[str] = Field(default_factory=list)
    give_up_at: float = 0.0
    poll_seconds: int = 30


class CaughtError(_Event):
    """What a Step Functions Catch records: the error's name and its cause (Lambda's error JSON, as text)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")

    def message(self) -> str:
        try:
            cause = json.loads(self.cause)
        except ValueError:
            return self.cause or self.error
        return str(cause.get("errorMessage") or self.cause) if isinstance(cause, dict) else self.cause


class ItemResult(_Event):
    """One item's outcome as the Map hands it to the commit: the entry `back_up` returned, or the caught error."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    item: ItemModel
    ref: ArtifactRef | None = None
    error: CaughtError | None = None


class CommitRunEvent(_Event):
    ticket: TicketModel
    # The workflow's Parallel gives one list per component; a flat list is taken as it is.
    results: list[ItemResult]
    reason: str = ""
    execution: str = ""
    skipped: list[dict[str, str]] = Field(default_factory=list, description="items left out: another run has them")

    @field_validator("results", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(entry, list) for entry in value):
            return [result for branch in value for result in branch]
        return value


# --- errors Step Functions can tell apart ------------------------------------------------------


class ItemFailed(Exception):
    """Base of the exceptions a handler raises; each subclass is named after one error type."""


# One class per stable name: Lambda reports the class name as the errorType.
ERRORS: dict[str, type[ItemFailed]] = {
    name: type(name, (ItemFailed,), {"__doc__": error.meaning, "__module__": __name__})
    for name, error in ERROR_TYPES.items()
}


def typed(exc: BaseException) -> ItemFailed:
    """`exc` as the exception named after its error type, with a one-line message a person can act on."""
    return ERRORS[error_type_of(exc)](describe(exc))


# --- the environment a function runs in ---------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    plan: Plan
    bucket: str
    kms_key_id: str | None
    lock_table: str | None = None  # the workflow's leases (locks.py); none outside the workflow
    replica_bucket: str | None = None  # the plan's replica, when the restore may read it (same account)
    replica_region: str | None = None

    def store(self, s3_client: Any = None) -> Store:
        return open_store(f"s3://{self.bucket}/{self.plan.name}", s3_client=s3_client, kms_key_id=self.kms_key_id)

    def restore_stores(self) -> Stores:
        """The primary store (read by default, and where a restore writes), and the replica when it may be read.

        The replica is read in its own region (an S3 client there) and never written: nothing is given a key
        to encrypt with for it.
        """
        from smokejumper.restores import Stores

        primary = self.store(s3_client())
        if self.replica_bucket is None or self.replica_region is None:
            return Stores(primary, no_replica=self._no_replica())
        replica = open_store(f"s3://{self.replica_bucket}/{self.plan.name}", s3_client=s3_client(self.replica_region))
        return Stores(primary, replica)

    def _no_replica(self) -> str | None:
        """Why a plan's replica is not there to read (None: the plan has none, which Stores says itself)."""
        from smokejumper.restores import replica_in_another_account

        replica = self.plan.storage.replica
        if replica is None:
            return None
        # The stack gives the replica's settings to the restore function only for a replica of its own account.
        if replica.is_cross_account(self.plan.deployment.account or ""):
            return replica_in_another_account(self.plan)
        return (
            f"the restore function has no {REPLICA_BUCKET_VARIABLE} and {REPLICA_REGION_VARIABLE}: its stack was "
            "deployed before a restore could read the replica; deploy the plan's stack again"
        )

    def locks(self) -> DynamoDbLocks | None:
        return DynamoDbLocks(self.lock_table) if self.lock_table else None


@cache
def environment() -> Environment:
    """Read once per cold start: the plan deployed with the code, the bucket and key from the function's settings."""
    task_root = Path(os.environ.get("LAMBDA_TASK_ROOT", "."))
    plan_file = Path(os.environ.get(PLAN_FILE_VARIABLE) or task_root / PLAN_FILE)
    plan = Plan.model_validate_json(plan_file.read_text(encoding="utf-8"))
    return Environment(
        plan,
        os.environ[BUCKET_VARIABLE],
        os.environ.get(KMS_KEY_VARIABLE) or None,
        os.environ.get(LOCK_TABLE_VARIABLE) or None,
        os.environ.get(REPLICA_BUCKET_VARIABLE) or None,
        os.environ.get(REPLICA_REGION_VARIABLE) or None,
    )


@cache
def s3_client(region: str | None = None) -> Any:
    """One S3 client per region (None: the function's own), kept for the invocations of a warm Lambda."""
    from smokejumper.store.s3 import new_client

    return new_client(region)


# --- the three steps -------------------------------------------------------------------------------


def start(
    event: WorkflowStart, env: Environment, *, locks: DynamoDbLocks | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A new run: its ticket (for the commit), and per component one Map input per item it holds a lease on.

    An item another execution is backing up is left out and listed in `skipped` with that run's id; when
    every item is, the start fails with BackupInProgress, naming the runs that hold them.
    """
    request = event.request
    try:
        if request.plan is not None and request.plan != env.plan.name:
            raise UsageError(f"the request is for plan {request.plan!r}; this workflow backs up {env.plan.name!r}")
        ticket = start_run(
            env.plan,
            components=request.components,
            names=request.items,
            trigger=request.trigger,
            now=now,
        )
        busy: list[BusyItem] = []
        owner = event.execution or ticket.run_id  # the commit gives the leases back as this owner
        if locks is not None:
            taken, busy = locks.acquire(ticket, owner=owner, limit=run_time_limit(env.plan), now=now)
            if not taken:
                raise BackupInProgress("nothing started: " + "; ".join(item.reason() for item in busy))
            ticket = replace(ticket, items=tuple(taken))
    except Exception as exc:
        raise typed(exc) from exc
    document = ticket.to_json()
    slim = {key: value for key, value in document.items() if key != "items"}
    return {
        "run_id": ticket.run_id,
        "reason": request.reason,
        "execution": owner,
        "ticket": document,  # what the commit takes
        "work": {
            component: [{"ticket": slim, "item": item} for item in document["items"] if item["component"] == component]
            for component in COMPONENTS
        },
        "skipped": [item.to_json() for item in busy],
    }


def back_up(event: BackupItemEvent, env: Environment, context: Any, *, logger: Any = None) -> dict[str, Any]:
    """One item into the run's directory; its manifest entry, or an exception named after the error type."""
    ticket, item = event.ticket.ticket(), event.item.item()
    if ticket.plan != env.plan.name:
        raise ERRORS["InvalidInput"](f"the run is of plan {ticket.plan}, this function backs up {env.plan.name}")
    started = time.monotonic()
    try:
        ref = backup_item(
            env.plan,
            env.store(s3_client()),
            ticket,
            item,
            SecretsManagerSecrets(),
            deadline=Deadline.from_lambda_context(context),
        )
    except Exception as exc:
        failure = typed(exc)
        if logger is not None:
            logger.error(
                "backup failed",
                extra={"item": item.path, "error_type": type(failure).__name__, "seconds": time.monotonic() - started},
            )
        raise failure from exc
    if logger is not None:
        logger.info("backup done", extra={"item": item.path, "bytes": ref.size, "seconds": ref.seconds})
    return {"item": event.item.model_dump(), "ref": ref.model_dump(mode="json")}


def snapshot_volumes(event: VolumesStepEvent, env: Environment, *, ec2: Any = None) -> dict[str, Any]:
    """A selector's snapshots, one step at a time: started, then looked at until done (the workflow waits).

    Returns the next step's input with `done` false, or the item's manifest entry with `done` true.
    """
    from smokejumper.sources.volumes.source import ec2_client, look_phase, start_phase

    ticket, item = event.ticket.ticket(), event.item.item()
    try:
        if ticket.plan != env.plan.name:
            raise UsageError(f"the run is of plan {ticket.plan}, this function backs up {env.plan.name}")
        target = volume_target(env.plan, item, ticket)
        store = env.store(s3_client())
        artifact_dir = join_key(run_dir(ticket.run_id), item.path)
        client = ec2 or ec2_client(target.region)
        if event.phase == "start":
            refuse_committed(store, ticket)
            state = start_phase(client, store, artifact_dir, target)
            return {
                "ticket": event.ticket.model_dump(mode="json"),
                "item": event.item.model_dump(),
                **state,
                "done": False,
            }
        outcome = look_phase(client, store, artifact_dir, target, event.snapshots, event.give_up_at)
    except Exception as exc:
        raise typed(exc) from exc
    if isinstance(outcome, BackupResult):
        # From the first step's start to this look: the item's whole time, waits included.
        ref = succeeded_ref(
            item, outcome, seconds=(outcome.record.finished_at - outcome.record.started_at).total_seconds()
        )
        return {"item": event.item.model_dump(), "ref": ref.model_dump(mode="json"), "done": True}
    return {
        **event.model_dump(mode="json", exclude={"phase"}),
        "done": False,
        "completed": len(outcome.completed),
        "pending": len(outcome.pending),
        **({"copied": outcome.copied} if outcome.copied is not None else {}),
    }


def commit(
    event: CommitRunEvent, env: Environment, *, metrics: Any = None, now: datetime | None = None
) -> dict[str, Any]:
    """Write the manifest, carry out retention, emit metrics; the run's summary (status, items, causes)."""
    ticket = event.ticket.ticket()
    store = env.store(s3_client())
    try:
        refs = [_entry(result) for result in event.results]
        manifest = commit_run(store, ticket, refs, now=now)
    except Exception as exc:
        raise typed(exc) from exc
    finally:
        # Every item's step has ended (the commit follows the Parallel), committed or not: nothing writes
        # into the run any more, so its leases go back now rather than at their expiry.
        leases = _release_leases(env, ticket, event.execution)
    if metrics is not None:
        emit_metrics(manifest, metrics)
    # The run is committed: a failing sweep is reported with it, never a reason to commit again.
    retention: dict[str, Any]
    try:
        report = prune(env.plan, store, now=now, snapshots=plan_snapshots(env.plan))
    except Exception as exc:
        retention = {"error_type": error_type_of(exc), "error": describe(exc)}
    else:
        retention = {
            "deleted": report.count("deleted"),
            "locked": report.count("locked"),
            "failed": report.count("failed"),
            "refused": len(report.refused),
            "snapshots_deleted": sum(deletion.snapshots for deletion in report.deletions),
        }
    items = [
        {"path": ref.path, "status": ref.status, "error_type": ref.error_type, "error": ref.error}
        for ref in manifest.artifacts
    ]
    failed = [item for item in items if item["status"] != "succeeded"]
    return {
        "plan": manifest.plan,
        "run_id": manifest.run_id,
        "status": manifest.status,
        "reason": event.reason,
        "trigger": ticket.trigger,
        "size": manifest.size,
        "items": items,
        "failed": [item["path"] for item in failed],
        "skipped": event.skipped,
        "retention": retention,
        "leases": leases,
        "execution": event.execution,
        # For people (the SNS message on failure): what failed and why, readable in an email client.
        "subject": f"smokejumper {manifest.plan}: backup run {manifest.run_id} {manifest.status}"[:100],
        "message": failure_message(manifest.plan, manifest.run_id, failed, event.skipped),
    }


def _release_leases(env: Environment, ticket: RunTicket, execution: str) -> str:
    """Give back the run's leases, best effort: one not given back only ends at its expiry, and says why."""
    locks = env.locks()
    if locks is None or not execution:
        return "none"
    try:
        locks.release(ticket.plan, ticket.items, owner=execution)
    except Exception as exc:
        return f"not given back (they end at their expiry): {describe(exc)}"
    return "given back"


def failure_message(plan: str, run_id: str, failed: list[dict[str, Any]], skipped: list[dict[str, str]]) -> str:
    """The text of the failure notification: the run, then each failed item with its error type and cause."""
    lines = [f"Backup run {run_id} of plan {plan} failed: {len(failed)} item(s) were not backed up.", ""]
    lines += [f"- {item['path']}: {item['error_type']}: {item['error']}" for item in failed]
    if skipped:
        lines += ["", "Left out because another run was backing them up:"]
        lines += [f"- {item['reason']}" for item in skipped]
    lines += [
        "",
        "The items that succeeded are kept and restorable. Error types are explained in the README",
        f'("Error types"); `smokejumper runs show {run_id} --store s3://BUCKET/{plan}` shows the run.',
    ]
    return "\n".join(lines)


def _entry(result: ItemResult) -> ArtifactRef:
    item = result.item.item()
    if result.ref is not None:
        return result.ref
    if result.error is not None:
        return ArtifactRef(
            path=item.path,
            engine=item.engine,
            name=item.name,
            status="failed",
            error_type=_error_name(result.error.error),
            error=result.error.message() or result.error.error,
        )
    return failed_ref(item, RuntimeError("the item's step returned neither a result nor an error"))


def _error_name(name: str) -> str:
    """Ours, or a Step Functions error kept by its name (States.Timeout, Lambda.ServiceException...)."""
    if name in ERROR_TYPES or ERROR_NAME.fullmatch(name):
        return name
    return "BackupFailed"


def emit_metrics(manifest: RunManifest, metrics: Any, *, now: datetime | None = None) -> None:
    """EMF: per item its bytes, seconds and success, and the time of its last success (for staleness alarms)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    stamp = (now or datetime.now(UTC)).timestamp()
    for ref in manifest.artifacts:
        component = ref.path.split("/", 1)[0]
        dimensions = {"plan": manifest.plan, "component": component, "item": ref.name}
        good = ref.status == "succeeded"
        values: list[tuple[str, Any, float]] = [("BackupSucceeded", MetricUnit.Count, 1.0 if good else 0.0)]
        if good:
            values += [
                ("BackupBytes", MetricUnit.Bytes, float(ref.size)),
                ("LastSuccessTimestamp", MetricUnit.Seconds, stamp),
            ]
        if ref.seconds is not None:
            values.append(("BackupSeconds", MetricUnit.Seconds, ref.seconds))
        for name, unit, value in values:
            with single_metric(
                name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE, default_dimensions=dimensions
            ):
                pass
    metrics.add_metric(name="RunSucceeded", unit=MetricUnit.Count, value=1 if manifest.status == "succeeded" else 0)


def parse(model: type[ModelT], event: Mapping[str, Any]) -> ModelT:
    """An event as its model (Powertools' parser); a malformed event is InvalidInput, naming every problem."""
    from aws_lambda_powertools.utilities.parser import parse as parse_event
    from pydantic import ValidationError

    try:
        return parse_event(event=dict(event), model=model)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(event)'}: {error['msg']}" for error in exc.errors()
        )
        raise ERRORS["InvalidInput"](f"malformed {model.__name__}: {problems}") from None


# --- restores: the restore workflow's steps --------------------------------------------------------


class RestoreStepEvent(_Event):
    """One step of the restore workflow (smokejumper.restores), named by `phase`.

    check: the console's `input`; verify and restore: the checked input (its run fixed) and one `item`
    ("databases/ccdb", "etcd/k8s", "volumes/NS/NAME"); report: every item's outcome. The restore test:
    test-start (`run_id` optional: the latest good run), test (one `item` of `run_id`), test-verdict
    (every item's verdict, in `outcomes`).
    """

    phase: Literal["check", "verify", "restore", "report", "test-start", "test", "test-verdict"]
    input: dict[str, Any] = Field(default_factory=dict)
    restore_id: str | None = None
    run_id: str | None = None
    item: str | None = None
    outcomes: list[dict[str, Any]] = Field(default_factory=list)
    read_from: str | None = Field(default=None, description="report: the store the check read the run from")


def restore_step(event: RestoreStepEvent, env: Environment, *, ec2: Any = None) -> dict[str, Any]:
    """Check the input (every problem at once), verify one item, restore one item, or report the restore."""
    from smokejumper import restores

    try:
        if event.phase.startswith("test"):
            return _restore_test_step(event, env, env.store(s3_client()))
        # Reads come from the input's store (the primary, or the replica); what is written goes to the primary.
        stores = env.restore_stores()
        if event.phase == "check":
            prepared = restores.prepare(env.plan, stores, event.input)
            restore_id, run_id = restores.new_restore_id(), prepared.run.run_id
            # The run is fixed now: a run committed while the restore goes on must not change what it reads.
            checked = {"input": {**event.input, "run": run_id}, "restore_id": restore_id, "run_id": run_id}
            # Each Map's items, whole: the state machine passes them on as they are.
            return {
                "restore_id": restore_id,
                "run_id": run_id,
                "read_from": prepared.source.url,
                "verify": [{"phase": "verify", **checked, "item": item.label} for item in prepared.items],
                "restore": [{"phase": "restore", **checked, "item": item.label} for item in prepared.items],
            }
        if event.restore_id is None or event.run_id is None:
            raise UsageError(f"a {event.phase} step needs the restore_id and run_id its check returned")
        if event.phase == "report":
            return _restore_report(stores.primary, event)
        prepared = restores.prepare(env.plan, stores, event.input)
        item = restores.find_item(prepared, event.item or "")
        if event.phase == "verify":
            return {"item": item.label, "verified_bytes": restores.verify_item(prepared.source, item)}
        outcome = restores.restore_item(
            env.plan,
            prepared,
            item,
            secrets=SecretsManagerSecrets(),
            restore_id=event.restore_id,
            ec2=ec2,
        )
        return outcome.to_json()
    except Exception as exc:
        raise typed(exc) from exc


def _restore_report(store: Store, event: RestoreStepEvent) -> dict[str, Any]:
    """restore.json beside the run's restore output, and what the console shows: the status, what failed."""
    from smokejumper.restores import ItemOutcome, RestoreReport, write_report

    outcomes = [ItemOutcome(**outcome) for outcome in event.outcomes]
    report = RestoreReport(event.restore_id or "", event.run_id or "", outcomes, read_from=event.read_from)
    return {**report.to_json(), "report": write_report(store, report)}


def _restore_test_step(event: RestoreStepEvent, env: Environment, store: Store) -> dict[str, Any]:
    from smokejumper import restore_tests

    if event.phase == "test-start":
        run_id = event.input.get("run_id") or event.run_id  # none: the latest good run
        run, paths = restore_tests.items_to_test(env.plan, store, run_id)
        return {"run_id": run.run_id, "items": [{"phase": "test", "run_id": run.run_id, "item": p} for p in paths]}
    if event.run_id is None:
        raise UsageError(f"a {event.phase} step needs the run_id its test-start returned")
    if event.phase == "test":
        from smokejumper.catalog import read_manifest

        run = read_manifest(store, event.run_id)
        ref = restore_tests.find_ref(run, event.item or "")
        item = restore_tests.restore_test_item(env.plan, store, run, ref, secrets=SecretsManagerSecrets())
        return item.to_json()
    items = [restore_tests.ItemVerdict(**outcome) for outcome in event.outcomes]
    verdict = restore_tests.Verdict(env.plan.name, event.run_id, datetime.now(UTC), items)
    restore_tests.write_verdict(store, verdict)
    failed = [item for item in items if item.status == "failed"]
    said = "; ".join(f"{item.path}: {' '.join(item.problems) or item.error_type}" for item in failed)
    return {
        **verdict.to_json(),
        "subject": f"Restore test of run {event.run_id} of plan {env.plan.name} {verdict.status}"[:100],
        "message": f"restore test of run {event.run_id}: {verdict.status}" + (f": {said}" if failed else ""),
    }


def emit_restore_test_metrics(verdict: Mapping[str, Any]) -> None:
    """EMF: whether the run's restore test passed (its alarms), and each item's restore time (the RTO)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    plan = verdict["plan"]
    passed = 1.0 if verdict["status"] == "passed" else 0.0
    with single_metric(
        name="RestoreTestPassed",
        unit=MetricUnit.Count,
        value=passed,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"plan": plan},
    ):
        pass
    for item in verdict["items"]:
        if item.get("restore_seconds") is None:
            continue
        with single_metric(
            name="RestoreSeconds",
            unit=MetricUnit.Seconds,
            value=float(item["restore_seconds"]),
            namespace=METRICS_NAMESPACE,
            default_dimensions={"plan": plan, "item": item["path"]},
        ):
            pass
