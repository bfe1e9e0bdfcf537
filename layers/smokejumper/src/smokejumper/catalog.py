"""The run catalog: artifact records, run manifests, run ids and listing.

Layout under a plan's store root:

    runs/RUN_ID/manifest.json              written last: the run exists only if this exists
    runs/RUN_ID/<artifact dir>/artifact.json
    runs/RUN_ID/<artifact dir>/<data files>

Both records carry a schema version; readers refuse versions they do not know
rather than guessing.

Listing feeds the deleter (retention decides, a deleter removes `runs/RUN_ID/`), so
it trusts a run only when its manifest agrees with where it lies: the directory's
name is its run_id, and it names the plan being pruned. Anything else is refused,
with a reason, and is neither a run nor an uncommitted directory: nothing acts on it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smokejumper import __version__
from smokejumper.errors import IntegrityError, NotFoundError, StoreError, UsageError
from smokejumper.store import Store, join_key

# 2: artifact refs carry error_type and seconds (older readers would refuse them as unknown fields).
SCHEMA_VERSION = 2
ARTIFACT_SCHEMA_VERSION = 2
ARTIFACT_RECORD = "artifact.json"
MANIFEST = "manifest.json"
RUNS_DIR = "runs"

# Matched whole (fullmatch: `$` would let a trailing newline through) and ASCII only (`\d` is any Unicode digit).
RUN_ID_PATTERN = re.compile(r"(\d{8}T\d{6}Z)-([0-9a-f]{4,})", re.ASCII)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

ModelT = TypeVar("ModelT", bound=BaseModel)

Status = Literal["succeeded", "failed"]


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: `20261125T020000Z-3f9a`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_id_time(run_id: str) -> datetime:
    match = RUN_ID_PATTERN.fullmatch(run_id)
    hint = "run ids look like 20261125T020000Z-3f9a, or use 'latest'"
    if not match:
        raise UsageError(f"{run_id!r} is not a run id", hint=hint)
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
    except ValueError as exc:  # the right shape, but no such time: month 13, day 32
        raise UsageError(f"{run_id!r} is not a run id: {exc}", hint=hint) from exc
    return moment.replace(tzinfo=UTC)


class Dated(Protocol):
    """What ordering runs needs. Read-only, so frozen records and manifests qualify."""

    @property
    def run_id(self) -> str: ...

    @property
    def started_at(self) -> datetime: ...


def newness(run: Dated) -> tuple[datetime, str]:
    """The one order of runs, for listing, `latest` and retention alike: larger is newer.

    By instant (started_at in UTC), never by wall clock: two datetimes sharing one
    ZoneInfo compare by wall clock and ignore `fold`, which misorders the repeated hour
    of a DST fall-back. Not by run_id either: it has whole seconds only, and its random
    suffix would decide between two runs started in the same second. run_id breaks ties
    between equal instants, so the order never depends on the order of the input.
    """
    if run.started_at.tzinfo is None or run.started_at.utcoffset() is None:
        # A naive time has no instant: guessing a zone could make an old run the newest.
        raise ValueError(f"started_at of run {run.run_id!r} must be timezone-aware")
    return (run.started_at.astimezone(UTC), run.run_id)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _sha256_field(value: str | None) -> str | None:
    if value is not None and not _SHA256.match(value):
        raise ValueError("must be 64 lowercase hex digits")
    return value


class FrameEntry(_Record):
    """One zstd frame of a data file: a section (e.g. one table) of the artifact."""

    name: str
    offset: int = Field(ge=0)
    length: int = Field(ge=0)
    sha256: str
    uncompressed_size: int = Field(ge=0)
    # Records of schema version 1 only: sha256 covers the stored bytes (see smokejumper.frames).
    uncompressed_sha256: str | None = Field(default=None, exclude_if=lambda value: value is None)
    rows: int | None = Field(default=None, ge=0)
    meta: dict[str, Any] = Field(default_factory=dict, description="engine-specific: what using this frame alone needs")

    _check_sha = field_validator("sha256", "uncompressed_sha256")(_sha256_field)


class DataFile(_Record):
    """One data file of an artifact (e.g. dump.sql.zst) and its frame index."""

    name: str
    size: int = Field(ge=0)
    sha256: str
    uncompressed_size: int = Field(ge=0)
    uncompressed_sha256: str | None = Field(default=None, exclude_if=lambda value: value is None)  # version 1
    compression: Literal["zstd"] = "zstd"
    frames: list[FrameEntry]

    _check_sha = field_validator("sha256", "uncompressed_sha256")(_sha256_field)


class ToolInfo(_Record):
    name: str = "smokejumper"
    version: str = __version__


class ArtifactRecord(_Record):
    """artifact.json: makes an artifact directory self-describing."""

    kind: Literal["smokejumper.artifact"] = "smokejumper.artifact"
    # 2: no sha256 of uncompressed bytes (older readers would refuse a record without them).
    schema_version: Literal[1, 2] = ARTIFACT_SCHEMA_VERSION
    engine: str = Field(description="postgres, mysql, etcd, volume, ...")
    name: str = Field(description="the target's name in the plan, e.g. ccdb")
    source: dict[str, Any] = Field(default_factory=dict, description="identity and server version")
    snapshot_point: dict[str, Any] = Field(default_factory=dict, description="where in time the copy was cut")
    started_at: datetime
    finished_at: datetime
    tool: ToolInfo = Field(default_factory=ToolInfo)
    files: list[DataFile] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


class ArtifactRef(_Record):
    """A manifest's entry for one artifact of the run."""

    path: str = Field(description="artifact directory relative to the run, e.g. databases/ccdb")
    engine: str
    name: str
    status: Status
    size: int = Field(default=0, ge=0)
    record_sha256: str | None = Field(default=None, description="sha256 of its artifact.json")
    error: str | None = Field(default=None, description="what went wrong, for people")
    # Manifest schema version 2 on; the Step Functions Catch matches error_type, so it is a name, not prose.
    error_type: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_.]*$",
        description="stable error name, e.g. SourceUnreachable, AuthenticationFailed, WouldExceedTimeLimit",
    )
    seconds: float | None = Field(default=None, ge=0, description="how long backing up this item took")

    @model_validator(mode="after")
    def _failure_says_why(self) -> Self:
        # A failure nobody can explain is one nobody can fix: the operator reads `error`.
        if self.status == "failed" and not (self.error or "").strip():
            raise ValueError(f"artifact {self.path} failed but has no error saying why")
        return self


class RunManifest(_Record):
    """manifest.json: the commit point of a run."""

    kind: Literal["smokejumper.run"] = "smokejumper.run"
    # 1: no error_type or seconds on artifact refs; still read.
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    plan: str
    run_id: str
    status: Status
    trigger: str = "manual"
    # Aware only: retention orders runs by instant, and a naive time has none.
    started_at: AwareDatetime
    finished_at: AwareDatetime
    tool: ToolInfo = Field(default_factory=ToolInfo)
    artifacts: list[ArtifactRef] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(artifact.size for artifact in self.artifacts)

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str) -> str:
        try:
            run_id_time(value)
        except UsageError as exc:  # pydantic reports ValueError only
            raise ValueError(exc.message) from exc
        return value

    @model_validator(mode="after")
    def _success_means_every_artifact(self) -> Self:
        # Retention keeps good runs in place of older ones: a "succeeded" run missing a
        # database would let the last complete copy of that database be pruned.
        if self.status == "succeeded":
            for artifact in self.artifacts:
                if artifact.status != "succeeded":
                    raise ValueError(f"manifest says succeeded but artifact {artifact.path} {artifact.status}")
        return self


def _dump(model: BaseModel) -> bytes:
    return (model.model_dump_json(indent=2, exclude_none=False) + "\n").encode()


def _problem_text(error: Any) -> str:
    # Our validators' messages are whole sentences; pydantic's "Value error, " prefix only hides them.
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return str(error["msg"])


def parse_record(model: type[ModelT], data: bytes, where: str) -> ModelT:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {_problem_text(error)}"
            for error in exc.errors()[:5]
        )
        raise IntegrityError(
            f"{where} is not a valid {model.__name__}: {problems}",
            hint="the file is damaged, or was written by a newer smokejumper",
        ) from exc


def run_dir(run_id: str) -> str:
    return join_key(RUNS_DIR, run_id)


def write_artifact_record(store: Store, artifact_dir: str, record: ArtifactRecord) -> str:
    """Write artifact.json; returns its sha256 for the manifest."""
    stored = store.put_bytes(join_key(artifact_dir, ARTIFACT_RECORD), _dump(record), content_type="application/json")
    return stored.sha256


def read_artifact_record(store: Store, artifact_dir: str = "") -> tuple[ArtifactRecord, str]:
    """The record and the sha256 of its bytes."""
    key = join_key(artifact_dir, ARTIFACT_RECORD)
    try:
        data = store.get_bytes(key)
    except NotFoundError as exc:
        where = f"{store.url.rstrip('/')}/{artifact_dir}".rstrip("/")
        raise NotFoundError(
            f"no artifact at {where}: {ARTIFACT_RECORD} is missing",
            hint="point at an artifact directory (the one holding artifact.json) or a run directory",
        ) from exc
    return parse_record(ArtifactRecord, data, f"{store.url}/{key}"), hashlib.sha256(data).hexdigest()


def write_manifest(store: Store, manifest: RunManifest) -> None:
    """Commit a run. Runs are immutable: an existing manifest is never replaced."""
    key = join_key(run_dir(manifest.run_id), MANIFEST)
    if store.exists(key):
        raise StoreError(f"run {manifest.run_id} is already committed; runs are never rewritten")
    store.put_bytes(key, _dump(manifest), content_type="application/json")


def read_manifest(store: Store, run_id: str) -> RunManifest:
    if run_id == "latest":
        return latest_run(store, good_only=True)
    run_id_time(run_id)
    key = join_key(run_dir(run_id), MANIFEST)
    try:
        data = store.get_bytes(key)
    except NotFoundError as exc:
        if next(iter(store.list_keys(run_dir(run_id))), None):
            detail = "its directory exists but has no manifest: the run never committed"
        else:
            detail = "no such run"
        raise NotFoundError(
            f"run {run_id} in {store.url}: {detail}",
            hint="`smokejumper runs list --store URL` shows the runs",
        ) from exc
    return parse_record(RunManifest, data, f"{store.url}/{key}")


@dataclass(frozen=True)
class RefusedRun:
    """A run directory with a manifest that cannot be trusted: not a run, not uncommitted, not to be touched."""

    directory: str  # its name under runs/
    reason: str


@dataclass(frozen=True)
class RunScan:
    """Everything under runs/ that looks like a run, sorted into what a deleter may act on and what it may not.

    A directory named by a run id (whose time `run_id_time` can read) is in exactly
    one list; other directories are not runs and are in none.
    """

    runs: list[RunManifest]
    """Committed runs of the plan, each lying in the directory named by its run_id; newest first by `newness`."""
    uncommitted: list[str]
    """Directories with no manifest: runs that died before committing, or are still running."""
    refused: list[RefusedRun]
    """Directories whose manifest is unreadable, names another plan or another run_id."""


def scan_runs(store: Store, *, plan: str | None = None) -> RunScan:
    """Read every run directory's manifest and sort the directories into runs, uncommitted and refused.

    With `plan`, runs whose manifest names another plan are refused: two plans sharing
    a prefix, or a wrong --store, must not prune each other's runs. A manifest must also
    carry its directory's name as run_id, as a deleter removes the directory: a renamed
    or copied run would otherwise make it act on another directory. One unreadable
    manifest does not hide the others; it is refused with the reason.
    """
    runs: list[RunManifest] = []
    uncommitted: list[str] = []
    refused: list[RefusedRun] = []
    for name in store.list_children(RUNS_DIR):
        if not _is_run_id(name):
            continue
        key = join_key(RUNS_DIR, name, MANIFEST)
        try:
            data = store.get_bytes(key)
        except NotFoundError:
            uncommitted.append(name)
            continue
        try:
            manifest = parse_record(RunManifest, data, f"{store.url}/{key}")
        except IntegrityError as exc:
            refused.append(RefusedRun(name, f"manifest unreadable: {exc.message}"))
            continue
        if plan is not None and manifest.plan != plan:
            refused.append(RefusedRun(name, f"manifest names plan {manifest.plan}, not {plan}"))
        elif manifest.run_id != name:
            refused.append(RefusedRun(name, f"manifest says run_id {manifest.run_id} but lies in directory {name}"))
        else:
            runs.append(manifest)
    return RunScan(runs=sorted(runs, key=newness, reverse=True), uncommitted=uncommitted, refused=refused)


def _is_run_id(name: str) -> bool:
    # Shape and a real time both: a caller may date an uncommitted directory by its name.
    try:
        run_id_time(name)
    except UsageError:
        return False
    return True


def list_runs(store: Store, plan: str | None = None) -> list[RunManifest]:
    """Committed runs (of `plan`, if given), newest first; see `scan_runs` for what is left out and why."""
    return scan_runs(store, plan=plan).runs


def uncommitted_run_ids(store: Store) -> list[str]:
    """Run directories with no manifest: runs that failed before committing (or are still running)."""
    return scan_runs(store).uncommitted


def latest_run(store: Store, *, good_only: bool = True, plan: str | None = None) -> RunManifest:
    """The newest run by `newness` (the order retention uses too), by default the newest good one."""
    for run in list_runs(store, plan):
        if run.status == "succeeded" or not good_only:
            return run
    raise NotFoundError(
        f"no {'successful ' if good_only else ''}run in {store.url}",
        hint="check the store URL (it should end with the plan name) or run a backup first",
    )
