"""`smokejumper demo`: the product end to end on emulated AWS, with the example plan.

What it shows today (the skeleton; each engine issue makes a step real):
a bucket built as the stack builds it, a history of nightly runs written
through the real store, frame, artifact and catalog code, listing, a full
verify, the retention decision, a local copy verified again, and a tampered
copy that verify rejects (those nightly runs hold *sample* data, labelled
engine "sample", until the workflows land). Then real backups to the
emulated bucket and restores from it: PostgreSQL and MySQL databases on the
local servers, and a private etcd (snapshot, offline inspection, restore kit).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape

from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRef, RunManifest, list_runs, new_run_id, run_dir, write_manifest
from smokejumper.demo_engines import demo_etcd, demo_mysql
from smokejumper.local import create_backup_bucket, emulated_aws
from smokejumper.plan import Plan, example_plan_path, load_plan
from smokejumper.retention import decide
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.store import Store, join_key, open_store
from smokejumper.verify import verify_location

NIGHTS = 12
FAILED_NIGHT = 4  # one night where a database was unreachable


def sample_tables(database: str, night: int) -> dict[str, bytes]:
    """A few tables of COPY-like text, different each night (rows grow)."""
    rng = random.Random(f"{database}-{night}")  # noqa: S311 - sample data, not security
    tables = {}
    for table, columns in (("orgs", 3), ("spaces", 4), ("apps", 6)):
        rows = 200 + night * 20 + rng.randrange(50)
        lines = ("\t".join([str(row), *(f"{rng.getrandbits(48):012x}" for _ in range(columns))]) for row in range(rows))
        tables[f"public.{table}"] = ("\n".join(lines) + "\n").encode()
    return tables


def write_sample_run(
    store: Store, plan: Plan, started: datetime, night: int, *, fail: str | None = None
) -> RunManifest:
    run_id = new_run_id(started)
    refs = []
    for database in plan.databases:
        path = f"databases/{database.name}"
        if database.name == fail:
            refs.append(
                ArtifactRef(
                    path=path, engine="sample", name=database.name, status="failed", error="connection timed out"
                )
            )
            continue
        writer = ArtifactWriter(store, join_key(run_dir(run_id), path), engine="sample", name=database.name)
        writer.source = {"note": "sample data: real sources come with the engine issues", "engine": database.engine}
        with writer.data_file("dump.sql.zst") as frames:
            for table, data in sample_tables(database.name, night).items():
                frames.write_frame(table, data, rows=data.count(b"\n"))
        record, digest = writer.commit()
        refs.append(
            ArtifactRef(
                path=path,
                engine="sample",
                name=database.name,
                status="succeeded",
                size=record.size,
                record_sha256=digest,
            )
        )
    manifest = RunManifest(
        plan=plan.name,
        run_id=run_id,
        status="failed" if fail else "succeeded",
        trigger="schedule",
        started_at=started,
        finished_at=started + timedelta(seconds=40),
        artifacts=refs,
    )
    write_manifest(store, manifest)
    return manifest


def copy_tree(source: Store, target: Store) -> None:
    for key in source.list_keys():
        with target.writer(key, expected_size=source.size(key)) as out:
            for chunk in source.iter_chunks(key):
                out.write(chunk)


DEMO_SOURCE = "smokejumper_demo_ccdb"
DEMO_TARGET = "smokejumper_demo_restored"


def demo_postgres(
    console: Console, say: Callable[[str], None], admin_dsn: str, workdir: Path, *, keep_databases: bool
) -> None:
    """A real PostgreSQL backup to emulated S3 and a restore from it, checked by counting rows."""
    from smokejumper.sources.dsn import parse_dsn
    from smokejumper.sources.postgres.connection import connect

    admin_target = parse_dsn(admin_dsn)

    def recreate_databases(*, create: bool) -> None:
        admin = connect(admin_target)
        try:
            for name in (DEMO_SOURCE, DEMO_TARGET):
                admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if create:
                    admin.run(f'CREATE DATABASE "{name}"')
        finally:
            admin.close()

    recreate_databases(create=True)
    try:
        _backup_and_restore(console, say, admin_target, workdir)
    finally:
        if not keep_databases:
            recreate_databases(create=False)


def _backup_and_restore(
    console: Console, say: Callable[[str], None], admin_target: DatabaseTarget, workdir: Path
) -> None:
    from importlib.resources import files

    from smokejumper.sources.postgres.connection import connect
    from smokejumper.sources.postgres.dump import dump_database
    from smokejumper.sources.postgres.restore import restore_database

    source_target = replace(admin_target, database=DEMO_SOURCE)
    restored_target = replace(admin_target, database=DEMO_TARGET)
    source = connect(source_target)
    source.run(files("smokejumper").joinpath("data/demo-ccdb.sql").read_text())
    counts = "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM spaces), (SELECT count(*) FROM apps)"
    before = source.run(counts)[0]

    with emulated_aws() as session:
        bucket = create_backup_bucket(session, load_plan(example_plan_path()))
        store = open_store(f"s3://{bucket.name}/demo", s3_client=bucket.s3, kms_key_id=bucket.kms_key_id)
        artifact_dir = join_key(run_dir(new_run_id()), "databases", "ccdb")
        say(f"PostgreSQL: back up {source_target.redacted()} to {store.url}/{artifact_dir}")
        record = dump_database(source, ArtifactWriter(store, artifact_dir, engine="postgres", name="ccdb"))
        source.close()
        dump_file = record.files[0]
        # A table over the split size has one frame per part: count tables, not frames.
        tables = {(f.meta["schema"], f.meta["table"]) for f in dump_file.frames if f.meta.get("kind") == "table"}
        console.print(
            f"   {len(tables)} tables, "
            f"{sum(f.rows or 0 for f in dump_file.frames)} rows, {dump_file.uncompressed_size} bytes of SQL "
            f"in {dump_file.size} bytes; snapshot {record.snapshot_point['txid_snapshot']}"
        )
        report = verify_location(store.child(artifact_dir))
        console.print(f"   verify: {'OK' if report.ok else report.problems}")
        say(f"PostgreSQL: restore it into {restored_target.redacted()} (verified first, one transaction)")
        restored = connect(restored_target)
        try:
            summary = restore_database(store, restored, artifact_dir=artifact_dir)
            restored.run("SET search_path = public")
            after = restored.run(counts)[0]
        finally:
            restored.close()
        console.print(f"   {summary.rows} rows in {summary.seconds:.2f}s; orgs/spaces/apps {before} -> {after}")
        if list(before) != list(after):
            raise AssertionError(f"demo restore lost rows: {before} -> {after}")
        local = open_store(str(workdir.resolve() / "ccdb"))
        if local.exists("artifact.json"):
            shutil.rmtree(workdir.resolve() / "ccdb")
        copy_tree(store.child(artifact_dir), local)
        console.print(f"   a copy of the artifact: {local.url}  (zstd -dc dump.sql.zst | psql ...)", markup=False)


def run_demo(
    workdir: Path, console: Console, postgres_dsn: str, mysql_dsn: str, *, keep_databases: bool = False
) -> None:
    step = 0

    def say(title: str) -> None:
        nonlocal step
        step += 1
        console.print(f"\n[bold cyan]{step}. {title}[/]")

    plan_path = example_plan_path()
    plan = load_plan(plan_path)
    say(f"Backup plan {plan.name!r} (embedded example, {escape(str(plan_path))})")
    console.print(
        f"   {len(plan.databases)} databases ({', '.join(d.name + '/' + d.engine for d in plan.databases)}), "
        f"{len(plan.etcd)} etcd cluster(s), {len(plan.volumes)} volume selector(s)"
    )

    with emulated_aws(plan.deployment.region or "eu-west-1") as session:
        bucket = create_backup_bucket(session, plan)
        say(f"Emulated AWS: bucket {bucket.name} (versioned, SSE-KMS, public access blocked)")
        store = open_store(f"s3://{bucket.name}/{plan.name}", s3_client=bucket.s3, kms_key_id=bucket.kms_key_id)

        zone = ZoneInfo(plan.retention.time_zone)
        today = datetime.now(zone).replace(hour=2, minute=0, second=0, microsecond=0)
        say(f"Writing {NIGHTS} nightly runs to {store.url} (sample data; one night has a failure)")
        for night in range(NIGHTS, 0, -1):
            started = (today - timedelta(days=night)).astimezone(UTC)
            failing = plan.databases[0].name if night == FAILED_NIGHT else None
            manifest = write_sample_run(store, plan, started, NIGHTS - night, fail=failing)
            console.print(f"   {manifest.run_id}  {manifest.status:<9}  {manifest.size:>8} bytes")

        runs = list_runs(store)
        say(f"Runs in the store: {len(runs)}, newest {runs[0].run_id}")
        latest_good = next(run for run in runs if run.status == "succeeded")
        run_url = f"{store.url}/{run_dir(latest_good.run_id)}"
        report = verify_location(store.child(run_dir(latest_good.run_id)))
        say(f"Verify {run_url}")
        console.print(
            f"   {'OK' if report.ok else 'FAILED'}: {len(report.artifacts)} artifacts, "
            f"{report.bytes_checked} bytes, every frame and sha256 checked"
        )
        if not report.ok:
            raise AssertionError(f"demo run failed verification: {report.problems}")

        decision = decide(runs, plan.retention, now=datetime.now(UTC))
        policy = plan.retention
        say(
            f"Retention ({policy.daily} daily, {policy.weekly} weekly, {policy.monthly} monthly, "
            f"min_keep {policy.min_keep}, {policy.time_zone}): keep {len(decision.keep)}, delete {len(decision.delete)}"
        )
        for verdict in decision.delete:
            console.print(f"   delete {verdict.run_id}: {'; '.join(verdict.reasons)}")

        local_root = workdir.resolve() / "store"
        if local_root.exists():
            shutil.rmtree(local_root)
        local = open_store(str(local_root))
        say(f"Copy the latest good run to {local.url} and verify it there")
        copy_tree(store.child(run_dir(latest_good.run_id)), local.child(run_dir(latest_good.run_id)))
        copy_tree(store.child(run_dir(runs[0].run_id)), local.child(run_dir(runs[0].run_id)))
        local_report = verify_location(local.child(run_dir(latest_good.run_id)))
        console.print(f"   {'OK' if local_report.ok else 'FAILED'}: {local_report.bytes_checked} bytes checked")

    tampered_root = workdir.resolve() / "tampered"
    if tampered_root.exists():
        shutil.rmtree(tampered_root)
    artifact = latest_good.artifacts[0].path
    shutil.copytree(local_root / run_dir(latest_good.run_id) / artifact, tampered_root)
    dump = tampered_root / "dump.sql.zst"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    say(f"Flip one byte in a copy of {artifact} and verify it")
    tampered = verify_location(open_store(str(tampered_root)))
    for problem in tampered.problems:
        console.print(f"   rejected: {problem}", markup=False)
    if tampered.ok:
        raise AssertionError("verify accepted a tampered artifact")

    demo_postgres(console, say, postgres_dsn, workdir, keep_databases=keep_databases)
    demo_mysql(console, say, mysql_dsn, keep_databases=keep_databases)
    demo_etcd(console, say, workdir)

    console.print("\n[bold green]Demo complete.[/] Try:")
    console.print(f"   smokejumper runs list --store {local.url}", markup=False)
    console.print(f"   smokejumper runs show latest --store {local.url}", markup=False)
    console.print(f"   smokejumper verify {tampered_root.as_uri()}", markup=False)
