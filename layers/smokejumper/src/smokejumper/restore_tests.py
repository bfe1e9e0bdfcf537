"""Restore tests: a run's backups proven to restore, judged against the backup's own records.

A backup that was never restored is a hope. `run_restore_test` takes a good run (the
latest by default) and, for each of its databases, restores the artifact into
a scratch database on the plan's scratch server for that engine
(`smokejumper_rt_<item>_<run>`), then reads everything back out of the
scratch database with the engine's dump code (an independent read path:
SELECT/COPY, not the restore's) and compares it, table by table, with what
the artifact holds:

- the same tables;
- each table's row count equal to the count its frames recorded at backup
  time;
- each table's content equal to the artifact's: for PostgreSQL the multiset
  of its COPY rows (order-free: a heap may hand rows back in another order),
  for MySQL the exact INSERT stream (dumped in primary-key order, so equal
  data gives equal bytes).

A lost, duplicated or altered row changes a count or a digest: this cannot
pass on a wrong restore. The scratch database is dropped afterwards, also
when the test fails. An etcd snapshot is verified offline: its sha256 trailer,
every page of every bbolt bucket, and the number of live keys at the
snapshot's revision equal to the count etcd reported when the backup was
taken. EBS snapshots are not restored by the test (a volume per
PVC, every day, costs money); their records are checked as `verify` checks
them.

The verdict goes beside the run, `runs/RUN/restore-test.json` (the manifest
is never rewritten: it may be under Object Lock), with each item's result,
what was compared, and its restore time: the RTO a platform team plans by.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from smokejumper.catalog import (
    ArtifactRecord,
    ArtifactRef,
    RunManifest,
    latest_run,
    read_artifact_record,
    read_manifest,
)
from smokejumper.catalog import run_dir as run_directory
from smokejumper.errors import NotFoundError, UsageError
from smokejumper.plan import Database, Plan
from smokejumper.store import Store, join_key

VERDICT_FILE = "restore-test.json"
SCRATCH_PREFIX = "smokejumper_rt_"
_MAX_NAME = 63  # PostgreSQL's identifier limit (MySQL's is 64)

Status = Literal["passed", "failed", "skipped"]


@dataclass
class ItemVerdict:
    path: str  # the item in the run: databases/ccdb, etcd/k8s, volumes/pvs
    engine: str
    status: Status
    compared: dict[str, Any] = field(default_factory=dict)  # what was checked, in numbers
    problems: list[str] = field(default_factory=list)
    restore_seconds: float | None = None  # the RTO figure: the restore alone
    seconds: float = 0.0  # restore, judgement and clean-up
    error_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, [], {})}


@dataclass
class Verdict:
    plan: str
    run_id: str
    tested_at: datetime
    items: list[ItemVerdict]

    @property
    def status(self) -> Literal["passed", "failed"]:
        return "failed" if any(item.status == "failed" for item in self.items) else "passed"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "smokejumper.restore-test",
            "plan": self.plan,
            "run_id": self.run_id,
            "tested_at": self.tested_at.isoformat(),
            "status": self.status,
            "items": [item.to_json() for item in self.items],
        }


def scratch_name(item: str, run_id: str) -> str:
    """`smokejumper_rt_<item>_<run>`, lowercase, within 63 characters (a digest keeps a long one unique)."""
    name = re.sub(r"[^a-z0-9_]", "_", f"{SCRATCH_PREFIX}{item}_{run_id}".lower())
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11]}_{digest}"


def read_verdict(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's restore-test verdict, if it was tested."""
    try:
        return json.loads(store.get_bytes(join_key(run_directory(run_id), VERDICT_FILE)))
    except NotFoundError:
        return None


def items_to_test(plan: Plan, store: Store, run_id: str | None = None) -> tuple[RunManifest, list[str]]:
    """The run to test (default: the latest good one) and the paths of its items that succeeded."""
    run = read_manifest(store, run_id) if run_id else latest_run(store, good_only=True, plan=plan.name)
    return run, [ref.path for ref in run.artifacts if ref.status == "succeeded"]


def find_ref(run: RunManifest, path: str) -> ArtifactRef:
    for ref in run.artifacts:
        if ref.path == path:
            return ref
    raise UsageError(f"run {run.run_id} has no item {path}", hint="the run's items: smokejumper runs show RUN")


def run_restore_test(
    plan: Plan,
    store: Store,
    *,
    secrets: Any,
    run_id: str | None = None,
    now: datetime | None = None,
    on_item: Callable[[ItemVerdict], None] | None = None,
) -> Verdict:
    """Test a run (default: the latest good one), write its verdict beside it, return it."""
    # A failed item of the run is left out: the manifest already says it failed; there is nothing to restore.
    run, paths = items_to_test(plan, store, run_id)
    verdict = Verdict(plan.name, run.run_id, (now or datetime.now(UTC)).astimezone(UTC), [])
    for path in paths:
        item = restore_test_item(plan, store, run, find_ref(run, path), secrets=secrets)
        verdict.items.append(item)
        if on_item is not None:
            on_item(item)
    write_verdict(store, verdict)
    return verdict


def write_verdict(store: Store, verdict: Verdict) -> None:
    key = join_key(run_directory(verdict.run_id), VERDICT_FILE)
    store.put_bytes(key, json.dumps(verdict.to_json(), indent=2).encode(), content_type="application/json")


def restore_test_item(plan: Plan, store: Store, run: RunManifest, ref: ArtifactRef, *, secrets: Any) -> ItemVerdict:
    """One item of the run: restored and judged (databases), verified offline (etcd), or checked (volumes)."""
    from smokejumper.failures import describe, error_type_of

    started = time.monotonic()
    artifact_dir = join_key(run_directory(run.run_id), ref.path)
    verdict = ItemVerdict(ref.path, ref.engine, "passed")
    try:
        if ref.engine in ("postgres", "mysql"):
            _test_database(plan, store, run, ref, artifact_dir, secrets, verdict)
        elif ref.engine == "etcd":
            _test_etcd(store, artifact_dir, verdict)
        else:
            _check_record(store, artifact_dir, verdict)
    except Exception as exc:
        verdict.status = "failed"
        verdict.error_type = error_type_of(exc)
        verdict.problems.append(describe(exc))
    if verdict.problems:
        verdict.status = "failed"
    verdict.seconds = round(time.monotonic() - started, 3)
    return verdict


# --- databases --------------------------------------------------------------------------------------------


def _test_database(
    plan: Plan, store: Store, run: RunManifest, ref: ArtifactRef, artifact_dir: str, secrets: Any, verdict: ItemVerdict
) -> None:
    import tempfile

    from smokejumper.sources.base import DatabaseRestore, source_for
    from smokejumper.store import open_store
    from smokejumper.targets import database_target

    server = plan.restore_tests.server_for(ref.engine) if plan.restore_tests else None
    if server is None:
        raise UsageError(
            f"the plan names no {ref.engine} scratch server to test {ref.path} on",
            hint=f"add restore_tests.scratch: [{{engine: {ref.engine}, host: ..., credentials_secret_arn: ...}}]",
        )
    name = ref.path.partition("/")[2]
    scratch = Database(
        name=name,
        engine=ref.engine,  # type: ignore[arg-type]
        host=server.host,
        port=server.port,
        database=scratch_name(name, run.run_id),
        credentials_secret_arn=server.credentials_secret_arn,
        tls=server.tls,
    )
    target = database_target(scratch, secrets)
    source = source_for(ref.engine)
    verdict.compared["scratch"] = target.redacted()
    # A scratch database a crashed test left behind is this test's by its name: dropped, not reused.
    source.drop_database_if_exists(target)
    try:
        source.create_database_if_missing(target)
        began = time.monotonic()
        # The data is judged, not who owns it: a scratch server need not have the production roles.
        roles_left_out = ref.engine == "postgres"  # (MySQL's dumps carry no owners; its restore refuses the flags)
        request = DatabaseRestore(target, no_owner=roles_left_out, no_privileges=roles_left_out)
        summary = source.restore(store, artifact_dir, request)
        verdict.restore_seconds = round(time.monotonic() - began, 3)
        verdict.compared["restored_rows"] = summary.rows
        record, _ = read_artifact_record(store, artifact_dir)
        with tempfile.TemporaryDirectory(prefix="smokejumper-rt-") as scratch_dir:
            reread_store = open_store(scratch_dir)
            # Read back with the engine's dump code: SELECT/COPY on the scratch database, not the restore's path.
            source.backup(target, reread_store, "reread", name=name)
            reread, _ = read_artifact_record(reread_store, "reread")
            verdict.problems += _compare(
                ref.engine, (store, artifact_dir, record), (reread_store, "reread", reread), verdict.compared
            )
    finally:
        source.drop_database_if_exists(target)


@dataclass
class _Table:
    rows: int = 0
    lines: int = 0
    digest: int = 0  # PostgreSQL: the sum of each row's sha256 (order-free); MySQL: unused
    stream: Any = None  # MySQL: sha256 of the INSERT stream, in order

    def value(self) -> tuple[int, int, str]:
        digest = self.stream.hexdigest() if self.stream is not None else f"{self.digest:064x}"
        return self.rows, self.lines, digest


def table_contents(engine: str, store: Store, artifact_dir: str, record: ArtifactRecord) -> dict[str, _Table]:
    """Each table's recorded row count and a digest of its rows, from the artifact's own frames."""
    import zstandard

    tables: dict[str, _Table] = {}
    for data_file in record.files:
        key = join_key(artifact_dir, data_file.name)
        for frame in data_file.frames:
            if frame.meta.get("kind") != "table":
                continue
            table = tables.setdefault(frame.name, _Table())
            table.rows += frame.rows or 0
            reader = zstandard.ZstdDecompressor().decompressobj()
            chunks = (
                reader.decompress(chunk) for chunk in store.iter_chunks(key, start=frame.offset, length=frame.length)
            )
            if engine == "postgres":
                _digest_copy_rows(chunks, int(frame.meta.get("header_length", 0)), table)
            else:
                if table.stream is None:
                    table.stream = hashlib.sha256()
                for chunk in chunks:
                    table.stream.update(chunk)
                    table.lines += chunk.count(b"\n")
    return tables


def _digest_copy_rows(chunks: Iterable[bytes], header_length: int, table: _Table) -> None:
    """Add each COPY data row of a frame to the table's order-free digest (header and terminator left out)."""
    skip = header_length
    for line in _lines(chunks):
        if skip > 0:
            skip -= len(line) + 1
            continue
        if line in (b"\\.", b""):
            continue
        table.lines += 1
        table.digest = (table.digest + int.from_bytes(hashlib.sha256(line).digest(), "big")) % (1 << 256)


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def _compare(
    engine: str,
    backup: tuple[Store, str, ArtifactRecord],
    reread: tuple[Store, str, ArtifactRecord],
    compared: dict[str, Any],
) -> list[str]:
    expected = {name: table.value() for name, table in table_contents(engine, *backup).items()}
    found = {name: table.value() for name, table in table_contents(engine, *reread).items()}
    problems = [
        f"table {name} is in the backup, not in the restored database" for name in sorted(set(expected) - set(found))
    ]
    problems += [
        f"table {name} is in the restored database, not in the backup" for name in sorted(set(found) - set(expected))
    ]
    for name in sorted(set(expected) & set(found)):
        (rows, lines, digest), (rows_back, lines_back, digest_back) = expected[name], found[name]
        if rows_back != rows:
            problems.append(f"table {name}: {rows} rows backed up, {rows_back} read back from the restore")
        elif digest_back != digest or lines_back != lines:
            problems.append(f"table {name}: its content read back differs from the backup's ({rows} rows each)")
    compared["tables"] = len(expected)
    compared["rows"] = sum(value[0] for value in expected.values())
    compared["content"] = "COPY rows, order-free digest" if engine == "postgres" else "INSERT stream, sha256"
    return problems


# --- etcd and volumes --------------------------------------------------------------------------------------


def _test_etcd(store: Store, artifact_dir: str, verdict: ItemVerdict) -> None:
    from pathlib import Path

    from smokejumper.sources.etcd.offline import EtcdSnapshot, fetch_artifact_snapshot, scratch_directory

    with scratch_directory() as scratch:
        began = time.monotonic()
        # Frames checked as they download; the trailer before the file is read; bbolt pages as they are read.
        fetched = fetch_artifact_snapshot(store.child(artifact_dir), Path(scratch))
        record = fetched.record
        snapshot = EtcdSnapshot(fetched.path, name=f"{store.url}/{artifact_dir}")
        try:
            point = record.snapshot_point if record is not None else {}
            revision = point.get("revision")
            entries = snapshot.bolt.check()  # every page of every bucket, as the restore kit checks it
            _, summary = snapshot.live(b"", revision)
        finally:
            snapshot.bolt.close()
        verdict.restore_seconds = round(time.monotonic() - began, 3)
    recorded = point.get("key_count")
    verdict.compared |= {
        "revision": revision,
        "live_keys": summary.live_keys,
        "recorded_key_count": recorded,
        "bbolt_entries_read": entries,
    }
    verdict.compared["trailer"] = "checked" if snapshot.has_trailer else "none (raw database)"
    if recorded is None:
        verdict.problems.append("the backup recorded no key count to compare with")
    elif summary.live_keys != recorded:
        verdict.problems.append(
            f"{summary.live_keys} live keys at revision {revision} in the snapshot, {recorded} when it was taken"
        )


def _check_record(store: Store, artifact_dir: str, verdict: ItemVerdict) -> None:
    from smokejumper.verify import verify_artifact

    record, problems = verify_artifact(store, artifact_dir)
    verdict.status = "skipped"
    verdict.compared["snapshots"] = len(record.snapshot_point.get("snapshots", []))
    verdict.compared["why"] = "EBS snapshots are not restored by the test: a volume per PVC costs money"
    verdict.problems += problems
