#!/usr/bin/env python3
"""Benchmark: the offline run of the sample estate end to end, and the share of it that is orchestration.

    .venv/bin/python bench/workflow.py [--scale 5] [--mysql-rows 300000] [--databases 20] [--repeat 3]

Two estates, each with a plan (127.0.0.1, credentials from a secrets file,
the plan's default concurrency of 2, default retention):
  sample:       one PostgreSQL pgbench database (--scale, 5 ≈ 80 MB), one MySQL
                database of --mysql-rows pgbench-like rows, and a private etcd
                seeded with a few thousand Kubernetes-shaped keys;
  N databases:  --databases small PostgreSQL databases (one table of --small-rows
                rows each) and the same etcd.
For each estate, taking turns (A B C, C B A, ...):
  workflow:   one execution of the synthesized state machine for every item of the
              plan, on moto (smokejumper.offline.OfflineWorkflow: start-run with its
              leases, the Parallel of per-component Maps, each item's Lambda handler
              in-process, commit-run with retention, the completion event), from
              start_execution until wait() sees it finished;
  direct:     the same items through runs.start_run, back_up_items (plan.concurrency
              at a time), commit_run and prune, on a local directory store;
  direct-s3:  the same direct path into the workflow's own emulated bucket (moto S3,
              SSE-KMS emulated), under a prefix of its own so that each store holds
              the same earlier runs when retention scans it.
The OfflineWorkflow is entered once per estate: synthesizing the plan's stack and
creating it on moto are set-up, and are not timed.

Orchestration share = (workflow - direct) / workflow, and (workflow - direct-s3) /
workflow, the fair one (the same store, so only the orchestration differs); per-item
cost = (workflow - direct-s3) / items. Goal: orchestration <= 10% of the sample run.
Medians of --repeat runs each. Databases are named bench_wf_*; everything this
creates is removed at the end, also on failure. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import compile_smokejumper, take_turns
from smokejumper import demo_engines
from smokejumper.offline.lambdas import Invocation
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan
from smokejumper.runs import back_up_items, commit_run, prune, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.store import Store, open_store

HOST = "127.0.0.1"
PREFIX = "bench_wf_"
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:bench-wf-{}-AbCdEf"  # noqa: S105  # an ARN
ETCD_KEYS = 3000
ETCD_VALUE = 512  # bytes: a small serialized Kubernetes object
CONTENDERS = ("workflow", "direct", "direct-s3")


# --- the estate ---------------------------------------------------------------------------------


def quiet(command: list[str], *, check: bool = True) -> None:
    """Run a command, showing its output only if it fails; then exit, or (cleaning up: check=False) go on."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"{command[0]} failed ({command[-1][:80]}):\n{done.stdout}{done.stderr}"
        if check:
            sys.exit(message)
        print(f"warning: {message}", file=sys.stderr)


def psql(sql: str, database: str = "postgres", *, check: bool = True) -> None:
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-U", "postgres", "-d", database, "-c", sql]
    quiet(command, check=check)


def mysql(sql: str, *, check: bool = True) -> None:
    quiet(["mysql", "--no-defaults", "-h", HOST, "-u", "root", "-e", sql], check=check)


@contextmanager
def postgres_databases(names: list[str]) -> Iterator[None]:
    """Empty databases `names`, dropped afterwards whatever happens (each from the moment it is asked for)."""
    created: list[str] = []
    try:
        for name in names:
            created.append(name)
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            psql(f"CREATE DATABASE {name}")
        yield
    finally:
        for name in created:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


@contextmanager
def mysql_database(name: str, rows: int) -> Iterator[None]:
    """A MySQL database with one pgbench-like table of `rows` rows (as bench/run.py's), dropped afterwards."""
    try:
        mysql(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}")
        mysql(
            f"USE {name}; CREATE TABLE accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler CHAR(84));"
            f" INSERT INTO accounts SELECT seq, seq DIV 100000, 0, '' FROM seq_1_to_{rows}"
        )
        yield
    finally:
        mysql(f"DROP DATABASE IF EXISTS {name}", check=False)


@contextmanager
def private_etcd(work: Path) -> Iterator[str]:
    """A single-member etcd on loopback ports (demo_engines.etcd_member), seeded; stopped afterwards."""
    from smokejumper.sources.etcd.client import EtcdEndpoint, open_client

    peer = f"http://{HOST}:{demo_engines.free_port()}"
    with demo_engines.etcd_member(work / "etcd-data", "bench-wf", peer) as url:
        kinds = ("pods", "secrets", "configmaps", "services", "endpoints", "deployments")
        with open_client(EtcdEndpoint(url)) as client:
            for index in range(ETCD_KEYS):
                kind = kinds[index % len(kinds)]
                value = json.dumps({"kind": kind, "index": index, "spec": "x" * ETCD_VALUE})
                client.put(f"/registry/{kind}/ns-{index % 10}/obj-{index}".encode(), value.encode())
        yield url


def database(name: str, engine: str, port: int, database_name: str) -> dict[str, object]:
    return {
        "name": name,
        "engine": engine,
        "host": HOST,
        "port": port,
        "database": database_name,
        "credentials_secret_arn": SECRET.format(engine),
        "tls": {"mode": "disable"},
    }


def make_plan(name: str, etcd_url: str, databases: list[dict[str, object]]) -> Plan:
    return Plan.model_validate(
        {
            "name": name,
            "schedules": {"etcd": {"cron": "cron(15 * * * ? *)"}, "databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "etcd": [{"name": "k8s", "endpoints": [etcd_url]}],
            "databases": databases,
        }
    )


# --- what one workflow execution spent where ------------------------------------------------------


@dataclass
class Timeline:
    """The handler invocations of one execution, stamped when each ended (on_invocation is called then)."""

    begun: float = 0.0
    ended: float = 0.0
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, start, end)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, invocation: Invocation) -> None:
        end = time.perf_counter()
        kind = "-".join(invocation.function.rsplit("-", 2)[-2:])  # start-run, backup-item, commit-run
        with self.lock:
            self.calls.append((kind, end - invocation.seconds, end))
            if invocation.error_type:
                self.errors.append(f"{kind}: {invocation.error_type}: {invocation.error}")

    def reset(self) -> None:
        with self.lock:
            self.calls, self.errors = [], []

    def of(self, kind: str) -> list[tuple[float, float]]:
        return [(start, end) for k, start, end in self.calls if k == kind]

    def item_seconds(self) -> float:
        return sum(end - start for start, end in self.of("backup-item"))

    def phases(self) -> dict[str, float]:
        [(start_begin, start_end)] = self.of("start-run")
        items = self.of("backup-item")
        first, last = min(start for start, _ in items), max(end for _, end in items)
        [(commit_begin, commit_end)] = self.of("commit-run")
        return {
            "start_execution -> start-run handler": start_begin - self.begun,
            "start-run handler (leases)": start_end - start_begin,
            "start-run -> first item": first - start_end,
            "items (first begins -> last ends)": last - first,
            "last item -> commit-run": commit_begin - last,
            "commit-run handler (incl. prune)": commit_end - commit_begin,
            "commit-run -> wait() sees the end": self.ended - commit_end,
        }


# --- the contenders -------------------------------------------------------------------------------


@dataclass
class Results:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CONTENDERS})
    items: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CONTENDERS})
    execution: list[float] = field(default_factory=list)  # Execution.seconds (from wait(), after start)
    phases: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def add_phases(self, phases: dict[str, float]) -> None:
        for phase, seconds in phases.items():
            self.phases.setdefault(phase, []).append(seconds)


def direct(plan: Plan, store: Store, secrets: FileSecrets, results: Results, name: str) -> tuple[float, float]:
    started = time.perf_counter()
    ticket = start_run(plan, trigger="bench")
    refs = back_up_items(plan, store, ticket, secrets)
    backed_up = time.perf_counter()
    manifest = commit_run(store, ticket, refs)
    committed = time.perf_counter()
    prune(plan, store)
    seconds = time.perf_counter() - started
    if manifest.status != "succeeded":
        failed = [
            f"{ref.path}: {ref.error_type}: {ref.error}" for ref in manifest.artifacts if ref.status != "succeeded"
        ]
        sys.exit(f"{name}: run {manifest.run_id} failed: {'; '.join(failed)}")
    items = sum(ref.seconds or 0.0 for ref in manifest.artifacts)
    results.seconds[name].append(seconds)
    results.items[name].append(items)
    results.add_phases(
        {
            f"{name}: start_run + back_up_items": backed_up - started,
            f"{name}: commit_run": committed - backed_up,
            f"{name}: prune": seconds - (committed - started),
        }
    )
    print(f"  {name:<10} {seconds:7.2f} s   items' own {items:6.2f} s", flush=True)
    return seconds, 0.0


def workflow_run(workflow: OfflineWorkflow, timeline: Timeline, results: Results) -> tuple[float, float]:
    timeline.reset()
    timeline.begun = time.perf_counter()
    execution = workflow.wait(workflow.start({"reason": "bench"}), timeout=3600)
    timeline.ended = time.perf_counter()
    seconds = timeline.ended - timeline.begun
    if execution.status != "SUCCEEDED":
        sys.exit(f"workflow: execution {execution.status}: {execution.error}: {execution.cause} {timeline.errors}")
    if timeline.errors:  # a transient error retried: the run is not what is being measured
        sys.exit(f"workflow: retried invocations: {timeline.errors}")
    items = timeline.item_seconds()
    results.seconds["workflow"].append(seconds)
    results.items["workflow"].append(items)
    results.execution.append(execution.seconds)
    results.add_phases(timeline.phases())
    print(
        f"  {'workflow':<10} {seconds:7.2f} s   items' own {items:6.2f} s"
        f"   (Execution.seconds {execution.seconds:.2f})",
        flush=True,
    )
    return seconds, 0.0


def bench_estate(
    label: str, plan: Plan, secrets: dict[str, Any], secrets_file: Path, work: Path, repeat: int
) -> Results:
    items = len(plan.etcd) + len(plan.databases)
    print(f"{label}: {items} items, concurrency {plan.concurrency}", flush=True)
    results = Results()
    timeline = Timeline()
    file_secrets = FileSecrets.load(secrets_file)
    set_up = time.perf_counter()
    with OfflineWorkflow(plan, secrets, work / f"offline-{plan.name}", on_invocation=timeline) as workflow:
        print(f"  set-up (synthesis, stack on moto; not timed) {time.perf_counter() - set_up:.1f} s", flush=True)
        local = open_store(str(work / f"direct-{plan.name}"))
        # The workflow's bucket, under a prefix of its own: retention there sees direct-s3's runs only.
        emulated = workflow.store().child("direct-s3")
        contenders: dict[str, Callable[[], tuple[float, float]]] = {
            "workflow": lambda: workflow_run(workflow, timeline, results),
            "direct": lambda: direct(plan, local, file_secrets, results, "direct"),
            "direct-s3": lambda: direct(plan, emulated, file_secrets, results, "direct-s3"),
        }

        def settle() -> None:
            gc.collect()
            psql("CHECKPOINT")

        take_turns(repeat, contenders, settle)
    return results


# --- the report -----------------------------------------------------------------------------------


def share(results: Results, against: str) -> float:
    return (results.median("workflow") - results.median(against)) / results.median("workflow")


def report(label: str, results: Results, items: int) -> None:
    print(f"\n{label} ({items} items; medians of {len(results.seconds['workflow'])})")
    print(f"  {'':<12} {'median s':>9} {'min':>7} {'max':>7} {'items own s':>12}")
    for name in CONTENDERS:
        runs = results.seconds[name]
        print(
            f"  {name:<12} {statistics.median(runs):9.2f} {min(runs):7.2f} {max(runs):7.2f}"
            f" {statistics.median(results.items[name]):12.2f}"
        )
    workflow = results.median("workflow")
    for against in ("direct", "direct-s3"):
        difference = workflow - results.median(against)
        print(
            f"  orchestration against {against + ':':<10} {difference:6.2f} s = {share(results, against) * 100:5.1f}%"
            f" of the workflow's run, {difference / items * 1000:6.0f} ms per item"
        )
    print(f"  wait()'s Execution.seconds (from after start_execution): {statistics.median(results.execution):.2f} s")
    print("  where the time went (medians):")
    for phase, runs in results.phases.items():
        print(f"    {phase:<42} {statistics.median(runs):7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=5, help="pgbench scale of the sample's database (5 ≈ 80 MB)")
    parser.add_argument("--mysql-rows", type=int, default=300_000, help="rows of the sample's MySQL table")
    parser.add_argument("--databases", type=int, default=20, help="small PostgreSQL databases of the second estate")
    parser.add_argument("--small-rows", type=int, default=10_000, help="rows of each small database's table")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender; medians count (default 3)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill too, not only on Ctrl-C
    compile_smokejumper()
    sample_pg, sample_my = f"{PREFIX}sample", f"{PREFIX}sample_mysql"
    small = [f"{PREFIX}small_{index:02d}" for index in range(args.databases)]
    with ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sj-bench-workflow-")))
        print("building the estates", flush=True)
        cleanup.enter_context(postgres_databases([sample_pg, *small]))
        quiet(["pgbench", "-q", "-i", "-s", str(args.scale), "-h", HOST, "-U", "postgres", sample_pg])
        for name in small:
            psql(
                "CREATE TABLE accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));"
                f" INSERT INTO accounts SELECT g, g / 1000, 0, '' FROM generate_series(1, {args.small_rows}) g;"
                " ANALYZE accounts",
                name,
            )
        cleanup.enter_context(mysql_database(sample_my, args.mysql_rows))
        etcd_url = cleanup.enter_context(private_etcd(work))
        secrets = {
            SECRET.format("postgres"): {"username": "postgres", "password": ""},
            SECRET.format("mysql"): {"username": "root", "password": ""},
        }
        secrets_file = work / "secrets.json"
        secrets_file.write_text(json.dumps(secrets))

        sample_plan = make_plan(
            "bench-wf-sample",
            etcd_url,
            [database("pg", "postgres", 5432, sample_pg), database("mysql", "mysql", 3306, sample_my)],
        )
        small_plan = make_plan(
            "bench-wf-small",
            etcd_url,
            [database(f"db-{index:02d}", "postgres", 5432, name) for index, name in enumerate(small)],
        )
        sample_items = len(sample_plan.etcd) + len(sample_plan.databases)
        small_items = len(small_plan.etcd) + len(small_plan.databases)
        sample = bench_estate("sample", sample_plan, secrets, secrets_file, work, args.repeat)
        many = bench_estate(f"{args.databases} databases", small_plan, secrets, secrets_file, work, args.repeat)

    report("sample", sample, sample_items)
    report(f"{args.databases} databases", many, small_items)
    print(
        "\nOrchestration below is against direct-s3 (the same emulated bucket); against local disk it is above."
        f" Per item: over all {small_items} items (the databases and etcd)."
    )
    workflow_many = many.median("workflow")
    per_item = (workflow_many - many.median("direct-s3")) / small_items * 1000
    print(
        f"sample: orchestration {share(sample, 'direct-s3') * 100:.1f}% of {sample.median('workflow'):.2f} s"
        f" (goal <= 10%); {args.databases} databases: orchestration {share(many, 'direct-s3') * 100:.1f}%"
        f" of {workflow_many:.2f} s, {per_item:.0f} ms per item"
    )


if __name__ == "__main__":
    main()
