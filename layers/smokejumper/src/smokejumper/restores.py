"""Restores of a plan's items from one run: the input the console, the CLI and the restore workflow take.

One JSON document says what to restore (README "Restores from the console"):

    {"run": "latest", "store": "primary",
     "databases": [{"name": "ccdb", "target": {...}, "tables": [...], "clean": false}],
     "etcd": [{"cluster": "k8s", "members": {"etcd-0": "https://10.0.1.10:2380"}}],
     "volumes": [{"pvc": "cf-db/data-mysql-0", "availability_zone": "eu-west-1b"}]}

`prepare` checks all of it against the plan and the store before anything is
touched, and lists every problem at once (an operator on the worst day fixes
the input once, not once per mistake): the shape of each field, names the
plan does not have, a run that does not exist or does not hold a good copy of
what is asked, a target server the plan does not allow, a table the artifact
does not hold. It resolves `run` (`latest`: the newest good run holding every
item asked for; a run id; `latest-before:<ISO time>`), then `verify` checks
every artifact the restore will read against its record (every byte, every
sha256) - still before any target changes. Only then does `restore_item`
restore each item: a database into its target (created when it does not
exist; a non-empty one refused unless `clean`), an etcd cluster as a restore
kit written under the run's `restores/` prefix, a PVC as a new EBS volume and
its PV/PVC YAML there too.

`store` says which copy of the runs is read: the plan's own store (`primary`,
the default) or its replica (`replica`: storage.replica, which keeps runs
longer). That is the one seam (`Stores`, then `PreparedRestore.source` and
`.output`): every read - the run, the records, the artifacts - comes from the
source, and what a restore writes for the operator (the etcd kit, PV/PVC
YAML, restore.json) goes to the output, the primary store, either way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smokejumper.catalog import RunManifest, list_runs, newness, read_artifact_record, read_manifest, run_dir
from smokejumper.errors import IntegrityError, NotFoundError, SmokejumperError
from smokejumper.plan import Database, DatabaseTls, Host, Name, Plan, SecretArn, validation_problems
from smokejumper.store import Store, join_key
from smokejumper.targets import DEFAULT_PORTS

RUN_HELP = "'latest' (the newest good run holding every item asked for), a run id, or 'latest-before:<ISO time>'"
STORE_HELP = (
    "which copy of the plan's runs the restore reads: 'primary' (the plan's own bucket: the restore workflow's; "
    "for `smokejumper restore run`, its --store) or 'replica' (storage.replica, in another region and kept longer: "
    "for a run only the replica still holds, or when the primary's copy is damaged; `smokejumper restore run` reads "
    "it at its --replica-store). What the restore writes for you (the etcd kit, PV/PVC YAML, restore.json) goes to "
    "the primary either way, under runs/RUN/restores/RESTORE_ID/; nothing is written to the replica. The workflow "
    "reads a replica of its own account only: one in another account (the air gap) is read by `smokejumper restore "
    "run` with that account's credentials"
)
LATEST_BEFORE = "latest-before:"
# A database name a restore creates: quoted in CREATE DATABASE, but kept to what needs no thought in a console.
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")


class RestoreInputError(SmokejumperError):
    """The restore's input cannot be carried out; `problems` lists every reason, not only the first."""

    error_type = "InvalidRestoreInput"
    exit_code = 2

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"the restore input has {count} problem{'s' if count != 1 else ''}; nothing was touched:"
        super().__init__("\n".join([heading, *(f"  - {problem}" for problem in self.problems)]))


# --- the input -------------------------------------------------------------------------------------------

StoreName = Literal["primary", "replica"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseTargetInput(_Input):
    """Where one database is restored: a server the plan allows, and the database there (created if absent)."""

    host: Host
    port: int | None = Field(default=None, ge=1, le=65535, description="default: the engine's (5432, 3306)")
    database: str = Field(description="the database to restore into; created when it does not exist")
    credentials_secret_arn: SecretArn | None = Field(
        default=None, description="default: the secret the plan names for that server"
    )
    tls: DatabaseTls | None = Field(default=None, description="default: the TLS the plan names for that server")


class DatabaseItemInput(_Input):
    name: Name = Field(description="the plan's name of the database (what its backups are named by)")
    target: DatabaseTargetInput
    tables: list[str] = Field(default_factory=list, description="only these tables (schema.table for PostgreSQL)")
    clean: bool = Field(default=False, description="empty a non-empty target first (tables: reload only those)")


class EtcdItemInput(_Input):
    cluster: Name = Field(description="the plan's name of the etcd cluster")
    members: dict[str, str] = Field(min_length=1, description="each member of the restored cluster: name -> peer URL")
    data_dir: str = Field(default="/var/lib/etcd", description="the members' data directory")


class VolumeItemInput(_Input):
    pvc: str = Field(pattern=r"^[a-z0-9][-a-z0-9]{0,62}/[a-z0-9][-a-z0-9.]{0,252}$", description="NAMESPACE/NAME")
    availability_zone: str | None = Field(default=None, description="default: the source volume's")
    region: str | None = Field(default=None, description="default: the snapshot's; or the region it is copied to")
    kms_key: str | None = None
    volume_type: str | None = None


class RestoreInput(_Input):
    """What to restore, from which run. Every list may be left out; at least one item is needed."""

    run: str = Field(default="latest", description=RUN_HELP)
    store: StoreName = Field(default="primary", description=STORE_HELP)
    databases: list[DatabaseItemInput] = Field(default_factory=list)
    etcd: list[EtcdItemInput] = Field(default_factory=list)
    volumes: list[VolumeItemInput] = Field(default_factory=list)


def input_schema() -> dict[str, Any]:
    """The JSON Schema of the restore input (`smokejumper restore input-schema`)."""
    schema = RestoreInput.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "smokejumper restore input"
    return schema


# --- what a checked input becomes ------------------------------------------------------------------------


Component = Literal["databases", "etcd", "volumes"]


@dataclass(frozen=True)
class RestoreItem:
    """One item to restore, checked: where its artifact is, and what the restore needs."""

    component: Component
    name: str  # the plan's item (a volume restore: the PVC)
    artifact_dir: str  # in the store, relative to the plan's prefix
    request: Any  # the item's input model
    database: Database | None = None  # databases: the target, as a plan database (for targets.database_target)

    @property
    def label(self) -> str:
        return f"{self.component}/{self.name}"


@dataclass(frozen=True)
class PreparedRestore:
    run: RunManifest
    items: list[RestoreItem]
    source: Store  # where the run is read from: the primary store, or the replica
    output: Store  # where what the restore leaves for the operator goes: the primary store, always


# --- where a restore reads, and where it writes -----------------------------------------------------------

NO_REPLICA = (
    'store: the plan has no storage.replica, so its runs are only in the primary store: leave "store" out '
    '(or say "primary")'
)


@dataclass(frozen=True)
class Stores:
    """The stores a restore may use: `primary`, the plan's own, and `replica`, the plan's replica.

    The primary store is read unless the input says "store": "replica", and is always where a restore writes
    what it leaves for the operator. `replica` is None when this caller cannot read the replica; `no_replica`
    then says why (the input's problem, with what to do instead).
    """

    primary: Store
    replica: Store | None = None
    no_replica: str | None = None

    def source(self, plan: Plan, which: StoreName) -> tuple[Store | None, list[str]]:
        """The store to read the runs from, or None and the problem that says why there is none."""
        if which == "primary":
            return self.primary, []
        if plan.storage.replica is None:
            return None, [NO_REPLICA]
        if self.replica is None:
            return None, [f"store: {self.no_replica or 'this restore was given no replica store to read'}"]
        return self.replica, []


def replica_url(plan: Plan, account: str | None) -> str:
    """s3://BUCKET/PLAN of the plan's replica; without the account (and no bucket_name), a placeholder saying where."""
    replica = plan.storage.replica
    assert replica is not None
    holder = replica.account or account
    if replica.bucket_name is None and holder is None:
        return f"s3://REPLICA_BUCKET/{plan.name} (REPLICA_BUCKET: the output ReplicaBucketName of its stack)"
    return f"s3://{replica.bucket_in(plan.name, holder or '')}/{plan.name}"


def replica_in_another_account(plan: Plan) -> str:
    """Why a restore workflow of the plan's account does not read a replica in another account, and what does."""
    replica = plan.storage.replica
    assert replica is not None
    assert replica.account is not None
    return (
        f"the plan's replica is in account {replica.account}, not the plan's own: a restore workflow of the plan's "
        "account cannot read it, by design (the air gap). Restore from it with credentials of account "
        f"{replica.account}: smokejumper restore run --input INPUT.json --plan PLAN.yaml --replica-store "
        f"{replica_url(plan, replica.account)} --store file:///tmp/{plan.name}-restore (this input as it is: the run "
        "is read from the replica, and the etcd kit, PV/PVC YAML and restore.json go to --store)"
    )


def plan_problems(plan: Plan, data: Any) -> list[str]:
    """What is wrong with an input whatever the store holds: its shape, names and targets the plan lacks."""
    try:
        request = RestoreInput.model_validate(data)
    except ValidationError as exc:
        return [str(problem) for problem in validation_problems(exc)]
    return _plan_problems(plan, request)


def prepare(plan: Plan, stores: Stores | Store, data: Any) -> PreparedRestore:
    """Check the input against the plan and the store it reads; RestoreInputError listing every problem.

    `stores`: a plain Store is the primary store, with no replica to read.
    """
    if not isinstance(stores, Stores):
        stores = Stores(stores)
    try:
        request = RestoreInput.model_validate(data)
    except ValidationError as exc:
        raise RestoreInputError([str(problem) for problem in validation_problems(exc)]) from None
    problems: list[str] = []
    if not (request.databases or request.etcd or request.volumes):
        raise RestoreInputError(["nothing to restore: list databases, etcd clusters or volumes"])
    problems += _plan_problems(plan, request)
    store, store_problems = stores.source(plan, request.store)
    problems += store_problems
    if store is None:  # no store to read: the run and the tables cannot be checked
        raise RestoreInputError(problems)
    # The run and the tables are checked for the items the plan knows, whatever else is wrong: every
    # problem is listed at once.
    known = request.model_copy(
        update={
            "databases": [d for d in request.databases if d.name in {x.name for x in plan.databases}],
            "etcd": [e for e in request.etcd if e.cluster in {x.name for x in plan.etcd}],
            "volumes": request.volumes if plan.volumes else [],
        }
    )
    run, run_problems = _resolve_run(plan, store, known)
    problems += run_problems
    items: list[RestoreItem] = []
    if run is not None and not run_problems:
        items, item_problems = _items(plan, store, run, known)
        problems += item_problems
    if problems or run is None:
        raise RestoreInputError(problems)
    return PreparedRestore(run, items, source=store, output=stores.primary)


def _plan_problems(plan: Plan, request: RestoreInput) -> list[str]:
    """Names the plan has, targets it allows."""
    problems = []
    databases = {database.name: database for database in plan.databases}
    for index, item in enumerate(request.databases):
        where = f"databases[{index}]"
        database = databases.get(item.name)
        if database is None:
            problems.append(f"{where}.name: the plan has no database {item.name!r} (it has: {_names(databases)})")
            continue
        target = item.target
        if not _DATABASE_NAME.fullmatch(target.database):
            problems.append(
                f"{where}.target.database: {target.database!r} is not a database name a restore creates "
                "(letters, digits, '_', '$', '-'; starting with a letter or '_'; up to 63)"
            )
        if _allowed_server(plan, database.engine, target) is None:
            port = target.port or DEFAULT_PORTS[database.engine]
            problems.append(
                f"{where}.target: {database.engine} server {target.host}:{port} is not one the plan allows "
                "(its databases' servers, and restores.servers)"
            )
        elif target.credentials_secret_arn is not None and target.credentials_secret_arn not in _known_secrets(plan):
            problems.append(
                f"{where}.target.credentials_secret_arn: not a secret the plan names (the restore may read only those)"
            )
        if (target.host, target.port or DEFAULT_PORTS[database.engine], target.database) == (
            database.host,
            database.port,
            database.database,
        ) and not item.clean:
            problems.append(
                f"{where}.target: that is the live database {database.database} itself; restore into a new "
                "database, or say clean: true to replace what it holds"
            )
    clusters = {cluster.name: cluster for cluster in plan.etcd}
    for index, item in enumerate(request.etcd):
        if item.cluster not in clusters:
            problems.append(
                f"etcd[{index}].cluster: the plan has no etcd cluster {item.cluster!r} (it has: {_names(clusters)})"
            )
        problems += _member_problems(f"etcd[{index}].members", item.members)
    if request.volumes and not plan.volumes:
        problems.append("volumes: the plan backs up no volumes")
    return problems


def _names(named: Mapping[str, Any]) -> str:
    return ", ".join(sorted(named)) or "none"


def _known_secrets(plan: Plan) -> set[str]:
    return {d.credentials_secret_arn for d in plan.databases} | {
        s.credentials_secret_arn for s in plan.restores.servers
    }


def _allowed_server(plan: Plan, engine: str, target: DatabaseTargetInput) -> Any:
    """The plan's database or restore server at the target's host and port (same engine), if any."""
    port = target.port or DEFAULT_PORTS[engine]
    for server in [*plan.databases, *plan.restores.servers]:
        if (server.engine, server.host.lower(), server.port) == (engine, target.host.lower(), port):
            return server
    return None


def _member_problems(where: str, members: Mapping[str, str]) -> list[str]:
    from smokejumper.sources.etcd.restore_kit import parse_member

    problems = []
    for name, url in members.items():
        try:
            parse_member(f"{name}={url}")
        except SmokejumperError as exc:
            problems.append(f"{where}.{name}: {exc.message.removeprefix('--member ')}")
    return problems


def _wanted(request: RestoreInput) -> list[tuple[str, str]]:
    """(component, item name) of every artifact the restore reads (volumes: any volumes item)."""
    wanted = [("databases", item.name) for item in request.databases]
    wanted += [("etcd", item.cluster) for item in request.etcd]
    return wanted


def _good_items(run: RunManifest) -> set[tuple[str, str]]:
    found = set()
    for ref in run.artifacts:
        if ref.status == "succeeded":
            component, _, name = ref.path.partition("/")
            found.add((component, name))
    return found


def _holds(run: RunManifest, request: RestoreInput, store: Store) -> bool:
    good = _good_items(run)
    if not all(item in good for item in _wanted(request)):
        return False
    if request.volumes:
        held = _pvcs(store, run)
        return all(item.pvc in held for item in request.volumes)
    return True


def _resolve_run(plan: Plan, store: Store, request: RestoreInput) -> tuple[RunManifest | None, list[str]]:
    selector = request.run
    if selector == "latest" or selector.startswith(LATEST_BEFORE):
        before: datetime | None = None
        if selector.startswith(LATEST_BEFORE):
            try:
                before = datetime.fromisoformat(selector.removeprefix(LATEST_BEFORE))
            except ValueError:
                return None, [f"run: {selector!r} has no ISO time after 'latest-before:' (e.g. 2026-12-01T06:00Z)"]
            if before.tzinfo is None:
                return None, [f"run: {selector!r}: say the time zone of the time (e.g. Z or +01:00)"]
        runs = sorted(list_runs(store, plan=plan.name), key=newness, reverse=True)
        for run in runs:
            if run.status != "succeeded" or (before is not None and run.started_at >= before):
                continue
            if _holds(run, request, store):
                return run, []
        when = f" started before {before.isoformat()}" if before else ""
        return None, [f"run: no good run{when} holds everything asked for ({len(runs)} runs in the store)"]
    try:
        run = read_manifest(store, selector)
    except NotFoundError:
        return None, [f"run: there is no run {selector!r} in {store.url}"]
    except SmokejumperError as exc:
        return None, [f"run: {exc.message}"]
    problems = []
    good = _good_items(run)
    for component, name in _wanted(request):
        if (component, name) not in good:
            status = next((ref.status for ref in run.artifacts if ref.path == f"{component}/{name}"), "not in it")
            problems.append(f"run: run {run.run_id} holds no good backup of {component}/{name} ({status})")
    if request.volumes:
        held = _pvcs(store, run)
        problems += [
            f"volumes: run {run.run_id} holds no snapshot of PVC {item.pvc}"
            for item in request.volumes
            if item.pvc not in held
        ]
    return run, problems


def _pvcs(store: Store, run: RunManifest) -> dict[str, str]:
    """PVC -> the artifact directory of the run's volumes item holding its snapshot."""
    held: dict[str, str] = {}
    for ref in run.artifacts:
        if ref.engine == "ebs" and ref.status == "succeeded":
            directory = join_key(run_dir(run.run_id), ref.path)
            record, _ = read_artifact_record(store, directory)
            for snapshot in record.snapshot_point.get("snapshots", []):
                held.setdefault(f"{snapshot['pvc_namespace']}/{snapshot['pvc_name']}", directory)
    return held


def _items(plan: Plan, store: Store, run: RunManifest, request: RestoreInput) -> tuple[list[RestoreItem], list[str]]:
    items: list[RestoreItem] = []
    problems: list[str] = []
    databases = {database.name: database for database in plan.databases}
    for item in request.databases:
        directory = join_key(run_dir(run.run_id), f"databases/{item.name}")
        if item.tables:
            record, _ = read_artifact_record(store, directory)
            held = {f.name for data in record.files for f in data.frames if f.meta.get("kind") == "table"}
            problems += [
                f"databases (name {item.name}).tables: {table!r} is not in its backup in run {run.run_id}"
                for table in item.tables
                if table not in held
            ]
        source = databases[item.name]
        server = _allowed_server(plan, source.engine, item.target)
        if server is None:
            continue  # listed by _plan_problems
        target = Database(
            name=item.name,
            engine=source.engine,
            host=item.target.host,
            port=item.target.port or DEFAULT_PORTS[source.engine],
            database=item.target.database,
            credentials_secret_arn=item.target.credentials_secret_arn or server.credentials_secret_arn,
            tls=item.target.tls or server.tls,
        )
        items.append(RestoreItem("databases", item.name, directory, item, target))
    for item in request.etcd:
        items.append(RestoreItem("etcd", item.cluster, join_key(run_dir(run.run_id), f"etcd/{item.cluster}"), item))
    if request.volumes:
        held = _pvcs(store, run)
        items += [RestoreItem("volumes", item.pvc, held[item.pvc], item) for item in request.volumes]
    return items, problems


# --- verify, then restore --------------------------------------------------------------------------------


def verify_item(store: Store, item: RestoreItem) -> int:
    """The item's artifact checked against its record, every byte; its size, or IntegrityError naming each problem."""
    from smokejumper.verify import verify_artifact

    try:
        record, problems = verify_artifact(store, item.artifact_dir)
    except SmokejumperError as exc:
        record, problems = None, [exc.message]
    if problems:
        raise IntegrityError(
            f"the backup of {item.label} differs from its record; nothing was restored:\n"
            + "\n".join(f"  - {item.artifact_dir}: {problem}" for problem in problems),
            hint="restore from another run (the input's run: a run id, or latest-before:<time>)",
        )
    return record.size if record is not None else 0


def verify(prepared: PreparedRestore) -> None:
    """Every artifact the restore reads, checked against its record (every byte), before any target changes."""
    for item in prepared.items:
        verify_item(prepared.source, item)


def find_item(prepared: PreparedRestore, label: str) -> RestoreItem:
    for item in prepared.items:
        if item.label == label:
            return item
    raise RestoreInputError([f"the restore has no item {label} (it has: {', '.join(i.label for i in prepared.items)})"])


@dataclass
class ItemOutcome:
    """What became of one item, for the console's output and the CLI."""

    component: str
    name: str
    status: Literal["restored", "failed"]
    seconds: float
    rows: int = 0
    bytes: int = 0
    detail: dict[str, Any] = field(default_factory=dict)  # where things are, what to do next
    error_type: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def new_restore_id(now: datetime | None = None) -> str:
    """A restore's id: when it started and a random tail, like a run id (the kit and YAML go under it)."""
    from smokejumper.catalog import new_run_id

    return new_run_id(now)


def output_prefix(run_id: str, restore_id: str) -> str:
    """Where a restore writes what the operator needs next (the etcd kit, PV/PVC YAML): beside the run."""
    return join_key(run_dir(run_id), f"restores/{restore_id}")


def restore_item(
    plan: Plan,
    prepared: PreparedRestore,
    item: RestoreItem,
    *,
    secrets: Any,
    restore_id: str,
    ec2: Any = None,
) -> ItemOutcome:
    """Restore one checked item; a failure is the item's outcome (with its error type), not an exception.

    Its artifact is read from the prepared source; the kit or YAML is written to the prepared output.
    """
    from smokejumper.failures import describe, error_type_of

    started = time.monotonic()
    source, run = prepared.source, prepared.run
    try:
        if item.component == "databases":
            outcome = _restore_database(source, item, secrets)
        elif item.component == "etcd":
            outcome = _restore_etcd(source, prepared.output, item, output_prefix(run.run_id, restore_id))
        else:
            outcome = _restore_volume(
                plan, source, prepared.output, run, item, output_prefix(run.run_id, restore_id), ec2
            )
    except Exception as exc:
        return ItemOutcome(
            item.component,
            item.name,
            "failed",
            round(time.monotonic() - started, 3),
            error_type=error_type_of(exc),
            error=describe(exc),
        )
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def _restore_database(store: Store, item: RestoreItem, secrets: Any) -> ItemOutcome:
    from smokejumper.sources.base import DatabaseRestore, source_for
    from smokejumper.targets import database_target

    assert item.database is not None
    target = database_target(item.database, secrets)
    source = source_for(target.engine)
    created = source.create_database_if_missing(target)
    request: DatabaseItemInput = item.request
    summary = source.restore(store, item.artifact_dir, DatabaseRestore(target, tuple(request.tables), request.clean))
    return ItemOutcome(
        "databases",
        item.name,
        "restored",
        0.0,
        rows=summary.rows,
        bytes=summary.bytes,
        detail={
            "target": target.redacted(),
            "created": created,
            "tables": len(summary.tables),
            **({"warnings": summary.warnings} if summary.warnings else {}),
        },
    )


def _restore_etcd(store: Store, output: Store, item: RestoreItem, prefix: str) -> ItemOutcome:
    """The restore kit, read from `store`, written to `output` under the restore's prefix: what the operator runs."""
    import tempfile
    from pathlib import Path

    from smokejumper.sources.base import EtcdRestore, source_for
    from smokejumper.sources.etcd.restore_kit import check_members, parse_member

    request: EtcdItemInput = item.request
    members = [parse_member(f"{name}={url}") for name, url in request.members.items()]
    check_members(members)
    with tempfile.TemporaryDirectory(prefix="smokejumper-kit-") as scratch:
        out = Path(scratch) / "kit"
        kit = source_for("etcd").restore(
            store,
            item.artifact_dir,
            EtcdRestore(tuple(members), out, request.data_dir, source={"from": f"{store.url}/{item.artifact_dir}"}),
        )
        kit_prefix = join_key(prefix, f"etcd/{item.name}")
        written = 0
        for path in sorted(out.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                output.put_bytes(join_key(kit_prefix, path.relative_to(out).as_posix()), data)
                written += len(data)
    return ItemOutcome(
        "etcd",
        item.name,
        "restored",
        0.0,
        bytes=written,
        detail={
            "kit": f"{output.url}/{kit_prefix}",
            "runbook": f"{output.url}/{kit_prefix}/{kit.runbook.name}",
            "revision": kit.revision,
            "next": "download the kit (aws s3 cp --recursive) and follow its RUNBOOK.md on the members",
        },
    )


def _restore_volume(
    plan: Plan, store: Store, output: Store, run: RunManifest, item: RestoreItem, prefix: str, ec2: Any
) -> ItemOutcome:
    from smokejumper.sources.volumes.restore import find_pvc, in_region, restore_volume
    from smokejumper.sources.volumes.source import ec2_client

    request: VolumeItemInput = item.request
    record_of_run, _ = read_artifact_record(store, item.artifact_dir)
    found = find_pvc(record_of_run.snapshot_point, request.pvc)
    record = in_region({**found, "region": record_of_run.source.get("region")}, request.region)
    region = record.pop("region") or plan.deployment.region
    client = ec2 if ec2 is not None else ec2_client(region)
    restored = restore_volume(
        client,
        record,
        run_id=run.run_id,
        zone=request.availability_zone,
        volume_type=request.volume_type,
        kms_key=request.kms_key,
    )
    namespace, _, name = request.pvc.partition("/")
    key = join_key(prefix, f"volumes/{namespace}-{name}.yaml")
    output.put_bytes(key, restored.pv_yaml.encode(), content_type="application/yaml")
    return ItemOutcome(
        "volumes",
        item.name,
        "restored",
        0.0,
        bytes=restored.size_gib * 2**30,
        detail={
            "volume_id": restored.volume_id,
            "availability_zone": restored.availability_zone,
            "yaml": f"{output.url}/{key}",
            "next": f"kubectl apply -f {namespace}-{name}.yaml (after deleting the old claim, if it is still there)",
        },
    )


@dataclass
class RestoreReport:
    """The whole restore: which run, each item's outcome; failed when any item failed."""

    restore_id: str
    run_id: str
    items: list[ItemOutcome]
    read_from: str | None = None  # the URL of the store the run was read from (the primary's, or the replica's)

    @property
    def status(self) -> Literal["restored", "failed"]:
        return "failed" if any(item.status == "failed" for item in self.items) else "restored"

    @property
    def message(self) -> str:
        """One line for the console and the CLI: how many items were restored, or each that failed and why."""
        failed = [item for item in self.items if item.status == "failed"]
        said = [f"{i.component}/{i.name} failed ({i.error_type}): {i.error}" for i in failed]
        return f"restore {self.restore_id} of run {self.run_id}: " + (
            "; ".join(said) if failed else f"{len(self.items)} items restored"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "restore_id": self.restore_id,
            "run_id": self.run_id,
            "status": self.status,
            **({"read_from": self.read_from} if self.read_from else {}),
            "items": [item.to_json() for item in self.items],
            "message": self.message,
        }


def write_report(store: Store, report: RestoreReport) -> str:
    """restore.json beside the restore's output (what it restored, and where to go next); its URL."""
    key = join_key(output_prefix(report.run_id, report.restore_id), "restore.json")
    store.put_bytes(key, json.dumps(report.to_json(), indent=2).encode(), content_type="application/json")
    return f"{store.url}/{key}"


def run_restore(
    plan: Plan,
    stores: Stores | Store,
    data: Any,
    *,
    secrets: Any,
    ec2: Any = None,
    on_item: Any = None,
) -> RestoreReport:
    """Check, verify, then restore every item (what `smokejumper restore run` does; the workflow: per step)."""
    prepared = prepare(plan, stores, data)
    verify(prepared)
    restore_id = new_restore_id()
    outcomes = []
    for item in prepared.items:
        outcome = restore_item(plan, prepared, item, secrets=secrets, restore_id=restore_id, ec2=ec2)
        outcomes.append(outcome)
        if on_item is not None:
            on_item(outcome)
    report = RestoreReport(restore_id, prepared.run.run_id, outcomes, read_from=prepared.source.url)
    write_report(prepared.output, report)
    return report
