"""The run catalog: artifact records, run manifests, run ids and listing.

Layout under a plan's store root:

    runs/RUN_ID/manifest.json              written last: the run exists only if this exists
    runs/RUN_ID/<artifact dir>/artifact.json
    runs/RUN_ID/<artifact dir>/<data files>

Both records carry a schema version; readers refuse versions they do not know
rather than guessing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smokejumper import __version__
from smokejumper.errors import IntegrityError, NotFoundError, StoreError, UsageError
from smokejumper.store import Store, join_key

SCHEMA_VERSION = 1
ARTIFACT_SCHEMA_VERSION = 2
ARTIFACT_RECORD = "artifact.json"
MANIFEST = "manifest.json"
RUNS_DIR = "runs"

RUN_ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-f]{4,})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

ModelT = TypeVar("ModelT", bound=BaseModel)

Status = Literal["succeeded", "failed"]


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: `20261125T020000Z-3f9a`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_id_time(run_id: str) -> datetime:
    match = RUN_ID_PATTERN.match(run_id)
    if not match:
        raise UsageError(f"{run_id!r} is not a run id", hint="run ids look like 20261125T020000Z-3f9a, or use 'latest'")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


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
    error: str | None = None


class RunManifest(_Record):
    """manifest.json: the commit point of a run."""

    kind: Literal["smokejumper.run"] = "smokejumper.run"
    schema_version: Literal[1] = SCHEMA_VERSION
    plan: str
    run_id: str
    status: Status
    trigger: str = "manual"
    started_at: datetime
    finished_at: datetime
    tool: ToolInfo = Field(default_factory=ToolInfo)
    artifacts: list[ArtifactRef] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(artifact.size for artifact in self.artifacts)

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str) -> str:
        run_id_time(value)
        return value


def _dump(model: BaseModel) -> bytes:
    return (model.model_dump_json(indent=2, exclude_none=False) + "\n").encode()


def parse_record(model: type[ModelT], data: bytes, where: str) -> ModelT:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()[:5]
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


def list_runs(store: Store) -> list[RunManifest]:
    """Committed runs, newest first. Directories without a manifest are not runs."""
    runs = []
    for name in store.list_children(RUNS_DIR):
        if not RUN_ID_PATTERN.match(name):
            continue
        try:
            data = store.get_bytes(join_key(RUNS_DIR, name, MANIFEST))
        except NotFoundError:
            continue
        runs.append(parse_record(RunManifest, data, f"{store.url}/{RUNS_DIR}/{name}/{MANIFEST}"))
    return sorted(runs, key=lambda run: run.run_id, reverse=True)


def uncommitted_run_ids(store: Store) -> list[str]:
    """Run directories with no manifest: runs that failed before committing."""
    committed = {run.run_id for run in list_runs(store)}
    return [name for name in store.list_children(RUNS_DIR) if RUN_ID_PATTERN.match(name) and name not in committed]


def latest_run(store: Store, *, good_only: bool = True) -> RunManifest:
    for run in list_runs(store):
        if run.status == "succeeded" or not good_only:
            return run
    raise NotFoundError(
        f"no {'successful ' if good_only else ''}run in {store.url}",
        hint="check the store URL (it should end with the plan name) or run a backup first",
    )
