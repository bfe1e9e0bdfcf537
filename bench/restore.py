#!/usr/bin/env python3
"""Benchmark: RTO - the sample estate's databases restored by the restore state machine, against the engines' tools.

    .venv/bin/python bench/restore.py [--pg-scale 20] [--mysql-rows 300000] [--repeat 2]

Builds a PostgreSQL pgbench database (--pg-scale, as bench/postgres.py makes
it; 20 is about 300 MB on disk) and a MySQL database of --mysql-rows
ccdb-like rows (bench/mysql.py's `build`; 300000 is about 200 MB), backs
both up once through the synthesized backup workflow on moto
(smokejumper.offline.OfflineWorkflow: the plan's stack created on moto, the
handlers in-process; set-up, not timed), fetches each artifact's data file
(dump.sql.zst, exactly as stored) from the emulated bucket to a local file
(not timed), then times each restore into a freshly created, empty database:
  reference:      zstd -dc dump.sql.zst | psql -v ON_ERROR_STOP=1     (PostgreSQL)
                  zstd -dc dump.sql.zst | mysql --comments               (MySQL)
                  the same artifact's data, read from local disk by the engines' own tools;
  run_restore:    smokejumper.restores.run_restore (what `smokejumper restore run` does: check
                  the input, verify every byte of the artifact, restore), one database at a
                  time, from the emulated bucket;
  state machine:  the synthesized restore state machine executed on moto
                  (OfflineWorkflow.restore), one input restoring both databases: from
                  start_execution until wait() sees SUCCEEDED (check, a Map verifying both
                  artifacts, a Map restoring both at the plan's concurrency of 2, the report);
  both at once:   the two reference pipelines started together: like for like with the
                  state machine, which restores the two at once too;
  run_restore x2: run_restore of each database in a thread of its own, both at once, in
                  this process: what the state machine's Map does offline (its two handlers
                  share moto's process, and so Python's GIL), without Step Functions.
Ratios: run_restore / reference per database; state machine / (sum of the references),
issue 16's goal (the state machine adds <= 10%); state machine / both at once;
state machine / run_restore x2 (what Step Functions on moto adds to the same threads).

As in bench/postgres.py: a CHECKPOINT before every measurement, each restore
into a database created just before (untimed) and dropped right after (no
other restored copy beside it), one untimed reference restore of each first
(the server's warm-up), the contenders taking turns (A B C D E, E D C B A, ...),
and the best of --repeat runs of each counted (per database: its own best);
every run is printed. Each restored copy's largest table is counted
(untimed) so that a fast restore of nothing would not pass.

Then where the time goes, measured: the pieces of a restore timed alone on the
same bucket (reading the data file; restores.prepare; verify_item, the
restore's first pass, every byte decompressed and checked; the source's own
sha256 pass over the frames, verify_stored_frames), and the state machine's
phases from its handlers' invocations (its fastest run's).

Databases are named bench_rs_*; every one this creates is dropped at the end,
also on failure or SIGTERM. The machine's load decides much here (2 cores
shared with the servers): compare ratios of one run, not seconds across runs.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
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
from mysql import build as build_mysql
from smokejumper.artifact import verify_stored_frames
from smokejumper.catalog import read_artifact_record, run_dir
from smokejumper.offline.lambdas import Invocation
from smokejumper.offline.workflow import OfflineWorkflow
from smokejumper.plan import Plan
from smokejumper.restores import find_item, prepare, run_restore, verify_item
from smokejumper.secrets import FileSecrets
from smokejumper.store import Store, join_key

HOST = "127.0.0.1"
PREFIX = "bench_rs_"
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:bench-rs-{}-AbCdEf"  # noqa: S105  # an ARN
ITEMS = ("pg", "mysql")  # the plan's names of the two databases
ENGINE = {"pg": "postgres", "mysql": "mysql"}
PORT = {"pg": 5432, "mysql": 3306}
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-U", "postgres"]
MYSQL = ["mysql", "--no-defaults", f"--host={HOST}", "--user=root"]
CONTENDERS = ("reference", "run_restore", "state machine", "both at once", "run_restore x2")


# --- the servers --------------------------------------------------------------------------------


def quiet(command: list[str], *, check: bool = True) -> str:
    """Run a command, its output kept; if it fails, exit (or, cleaning up: check=False, warn and go on)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"{command[0]} failed ({command[-1][:100]}):\n{done.stdout}{done.stderr}"
        if check:
            sys.exit(message)
        print(f"warning: {message}", file=sys.stderr)
    return done.stdout


def psql(sql: str, database: str = "postgres", *, check: bool = True) -> str:
    return quiet([*PSQL, "-At", "-d", database, "-c", sql], check=check)


def mysql(sql: str, *, check: bool = True) -> str:
    return quiet([*MYSQL, "-N", "-e", sql], check=check)


def shell(label: str, command: str) -> float:
    """Wall seconds of a shell pipeline (measure.measure's, without its peak RSS: a child forked from this
    process, which holds moto, reports this process's RSS)."""
    started = time.perf_counter()
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{label} failed: {command}")
    print(f"  {label:<34} {seconds:7.2f} s{load()}", flush=True)
    return seconds


def load() -> str:
    """The machine's 1-minute load average, printed with each run: the other work sharing its 2 cores."""
    return f"   load {os.getloadavg()[0]:.2f}"


def checkpoint() -> None:
    gc.collect()
    psql("CHECKPOINT")


class Databases:
    """Every database this bench makes, by item: created empty on demand, dropped after use and at the end."""

    def __init__(self) -> None:
        self.made: dict[str, str] = {}  # name -> item
        self.count = 0

    def claim(self, item: str, name: str) -> str:
        """`name` dropped if it is there, and noted from now on: a failure half-way still drops it."""
        self.made[name] = item
        self.drop(name, check=True)
        self.made[name] = item
        return name

    def create(self, item: str, name: str | None = None) -> str:
        if name is None:
            self.count += 1
            name = f"{PREFIX}{item}_{self.count}"
        self.claim(item, name)
        if item == "pg":
            psql(f"CREATE DATABASE {name}")
        else:  # as bench/mysql.py makes its databases (and `build` its source)
            mysql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return name

    def drop(self, name: str, *, check: bool = False) -> None:
        item = self.made.pop(name, None)
        if item == "pg":
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=check)
        elif item == "mysql":
            mysql(f"DROP DATABASE IF EXISTS {name}", check=check)

    def drop_all(self) -> None:
        for name in list(self.made):
            self.drop(name)


def count_rows(item: str, database: str) -> int:
    """The rows of the item's largest table in `database` (pgbench_accounts, events)."""
    if item == "pg":
        return int(psql("SELECT count(*) FROM pgbench_accounts", database))
    return int(mysql(f"SELECT count(*) FROM {database}.events"))


# --- what one state machine execution spent where ----------------------------------------------------


@dataclass
class Steps:
    """The restore function's invocations of one execution: (phase, item, start, end), stamped as each ends."""

    begun: float = 0.0
    ended: float = 0.0
    calls: list[tuple[str, str, float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, invocation: Invocation) -> None:
        end = time.perf_counter()
        event = invocation.event if isinstance(invocation.event, dict) else {}
        phase, item = str(event.get("phase", "?")), str(event.get("item") or "")
        with self.lock:
            self.calls.append((phase, item, end - invocation.seconds, end))
            if invocation.error_type:
                self.errors.append(f"{phase} {item}: {invocation.error_type}: {invocation.error}")

    def reset(self) -> None:
        with self.lock:
            self.calls, self.errors = [], []

    def of(self, phase: str) -> list[tuple[str, float, float]]:
        return [(item, start, end) for p, item, start, end in self.calls if p == phase]

    def phases(self) -> dict[str, float]:
        [(_, check_begin, check_end)] = self.of("check")
        verify, restore = self.of("verify"), self.of("restore")
        [(_, report_begin, report_end)] = self.of("report")
        verify_begin, verify_end = min(s for _, s, _ in verify), max(e for _, _, e in verify)
        restore_begin, restore_end = min(s for _, s, _ in restore), max(e for _, _, e in restore)
        phases = {
            "start_execution -> check begins": check_begin - self.begun,
            "check the input (handler)": check_end - check_begin,
            "check -> first verify": verify_begin - check_end,
            "verify Map (first begins -> last ends)": verify_end - verify_begin,
        }
        phases |= {f"  verify {item} (handler)": end - start for item, start, end in sorted(verify)}
        phases["verify -> first restore"] = restore_begin - verify_end
        phases["restore Map (first begins -> last ends)"] = restore_end - restore_begin
        phases |= {f"  restore {item} (handler)": end - start for item, start, end in sorted(restore)}
        phases |= {
            "restore -> report": report_begin - restore_end,
            "report (handler)": report_end - report_begin,
            "report -> wait() sees the end": self.ended - report_end,
        }
        return phases


# --- the contenders -----------------------------------------------------------------------------


@dataclass
class Results:
    seconds: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # contender -> item or "total" -> runs
    machine_runs: list[tuple[float, dict[str, float], dict[str, float]]] = field(default_factory=list)
    # each state machine run: (seconds, its phases, each item's own restore seconds as its report says)

    def add(self, contender: str, part: str, seconds: float) -> None:
        self.seconds.setdefault(contender, {}).setdefault(part, []).append(seconds)

    def best(self, contender: str, part: str) -> float:
        return min(self.seconds[contender][part])


@dataclass
class Bench:
    workflow: OfflineWorkflow
    store: Store
    plan: Plan
    secrets: FileSecrets
    run_id: str
    files: dict[str, Path]  # item -> the local copy of its data file
    databases: Databases
    steps: Steps
    expected: dict[str, int]  # item -> rows of its largest table
    results: Results = field(default_factory=Results)

    def restore_input(self, targets: dict[str, str]) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "databases": [
                {"name": item, "target": {"host": HOST, "port": PORT[item], "database": database}}
                for item, database in targets.items()
            ],
        }

    def check_restored(self, label: str, item: str, database: str) -> None:
        rows = count_rows(item, database)
        if rows != self.expected[item]:
            sys.exit(f"{label}: {item} restored {rows} rows into {database}, the source has {self.expected[item]}")

    def pipeline(self, item: str, database: str) -> str:
        """The engine's own tool reading the artifact's data file: what an operator without smokejumper runs."""
        # mysql --comments: without it the client strips comments inside routine bodies (README).
        client = " ".join([*PSQL, "-d", database] if item == "pg" else [*MYSQL, "--comments", database])
        return f"zstd -dc -q {self.files[item]} | {client} >/dev/null"

    def reference(self, label: str = "reference") -> tuple[float, float]:
        total = 0.0
        for item in ITEMS:
            database = self.databases.create(item)
            checkpoint()
            seconds = shell(f"{label}: zstd -dc | {ENGINE[item]}", self.pipeline(item, database))
            self.check_restored(label, item, database)
            self.databases.drop(database)
            if label == "reference":
                self.results.add(label, item, seconds)
            total += seconds
        return total, 0.0

    def both_at_once(self) -> tuple[float, float]:
        targets = {item: self.databases.create(item) for item in ITEMS}
        checkpoint()
        pg, my = (self.pipeline(item, targets[item]) for item in ITEMS)
        seconds = shell("both at once: zstd -dc | both", f"( {pg} ) & p=$!; {my}; s=$?; wait $p && exit $s")
        for item, database in targets.items():
            self.check_restored("both at once", item, database)
            self.databases.drop(database)
        self.results.add("both at once", "total", seconds)
        return seconds, 0.0

    def cli(self) -> tuple[float, float]:
        total = 0.0
        for item in ITEMS:
            database = self.databases.create(item)
            checkpoint()
            started = time.perf_counter()
            done = run_restore(self.plan, self.store, self.restore_input({item: database}), secrets=self.secrets)
            seconds = time.perf_counter() - started
            if done.status != "restored":
                sys.exit(f"run_restore of {item} failed: {[o.to_json() for o in done.items]}")
            print(f"  {'run_restore: ' + item:<34} {seconds:7.2f} s{load()}", flush=True)
            self.check_restored("run_restore", item, database)
            self.databases.drop(database)
            self.results.add("run_restore", item, seconds)
            total += seconds
        return total, 0.0

    def state_machine(self) -> tuple[float, float]:
        targets = {item: self.databases.create(item) for item in ITEMS}
        checkpoint()
        self.steps.reset()
        self.steps.begun = time.perf_counter()
        execution = self.workflow.wait(self.workflow.restore(self.restore_input(targets)), timeout=3600)
        self.steps.ended = time.perf_counter()
        seconds = self.steps.ended - self.steps.begun
        if execution.status != "SUCCEEDED":
            sys.exit(f"state machine: {execution.status}: {execution.error}: {execution.cause} {self.steps.errors}")
        if self.steps.errors:  # a step retried: not the run being measured
            sys.exit(f"state machine: retried steps: {self.steps.errors}")
        items = {o["name"]: o["seconds"] for o in (execution.output or {})["report"]["items"]}
        print(
            f"  {'state machine: both':<34} {seconds:7.2f} s  (items' own restore: "
            + ", ".join(f"{name} {s:.2f} s" for name, s in sorted(items.items()))
            + f"){load()}",
            flush=True,
        )
        for item, database in targets.items():
            self.check_restored("state machine", item, database)
            self.databases.drop(database)
        self.results.add("state machine", "total", seconds)
        self.results.machine_runs.append((seconds, self.steps.phases(), items))
        return seconds, 0.0

    def threads(self) -> tuple[float, float]:
        targets = {item: self.databases.create(item) for item in ITEMS}
        checkpoint()
        outcomes: dict[str, Any] = {}

        def one(item: str) -> None:
            data = self.restore_input({item: targets[item]})
            try:
                outcomes[item] = run_restore(self.plan, self.store, data, secrets=self.secrets)
            except Exception as exc:  # reported below, in the main thread
                outcomes[item] = exc

        started = time.perf_counter()
        workers = [threading.Thread(target=one, args=(item,)) for item in ITEMS]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - started
        for item, done in outcomes.items():
            if isinstance(done, Exception) or done.status != "restored":
                sys.exit(f"run_restore x2: {item}: {done if isinstance(done, Exception) else done.to_json()}")
        items = {item: done.items[0].seconds for item, done in outcomes.items()}
        print(
            f"  {'run_restore x2: both, threads':<34} {seconds:7.2f} s  (items' own restore: "
            + ", ".join(f"{name} {s:.2f} s" for name, s in sorted(items.items()))
            + f"){load()}",
            flush=True,
        )
        for item, database in targets.items():
            self.check_restored("run_restore x2", item, database)
            self.databases.drop(database)
        self.results.add("run_restore x2", "total", seconds)
        return seconds, 0.0

    def pieces(self, repeat: int) -> dict[str, dict[str, float]]:
        """Each part of a restore's reading, timed alone on the same bucket (best of `repeat`): where the time goes."""
        data = self.restore_input({item: f"{PREFIX}unused_{item}" for item in ITEMS})
        timed: dict[str, dict[str, list[float]]] = {}

        def clock(what: str, item: str, work: Callable[[], object]) -> None:
            gc.collect()
            started = time.perf_counter()
            work()
            timed.setdefault(what, {}).setdefault(item, []).append(time.perf_counter() - started)

        for _ in range(repeat):
            for item in ITEMS:
                one = {**data, "databases": [d for d in data["databases"] if d["name"] == item]}
                clock("restores.prepare (check the input)", item, lambda one=one: prepare(self.plan, self.store, one))
                prepared = prepare(self.plan, self.store, one)
                restore_item = find_item(prepared, f"databases/{item}")
                record, _ = read_artifact_record(self.store, restore_item.artifact_dir)
                [data_file] = record.files
                key = join_key(restore_item.artifact_dir, data_file.name)
                clock(
                    "read the data file from the bucket",
                    item,
                    lambda key=key: sum(map(len, self.store.iter_chunks(key))),
                )
                clock("verify_item (decompress, every digest)", item, lambda i=restore_item: verify_item(self.store, i))
                clock(
                    "verify_stored_frames (sha256 of frames)",
                    item,
                    lambda key=key, frames=data_file.frames: verify_stored_frames(self.store, key, frames),
                )
        return {what: {item: min(runs) for item, runs in by_item.items()} for what, by_item in timed.items()}


# --- set-up -------------------------------------------------------------------------------------


def make_plan(sources: dict[str, str]) -> Plan:
    return Plan.model_validate(
        {
            "name": "bench-restore",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [
                {
                    "name": item,
                    "engine": ENGINE[item],
                    "host": HOST,
                    "port": PORT[item],
                    "database": sources[item],
                    "credentials_secret_arn": SECRET.format(ENGINE[item]),
                    "tls": {"mode": "disable"},
                }
                for item in ITEMS
            ],
        }
    )


@contextmanager
def databases_dropped() -> Iterator[Databases]:
    databases = Databases()
    try:
        yield databases
    finally:
        databases.drop_all()


def build_sources(databases: Databases, scale: int, rows: int) -> dict[str, str]:
    sources = {item: f"{PREFIX}{item}_source" for item in ITEMS}
    print(f"building pgbench scale {scale} and {rows} MySQL rows ...", flush=True)
    started = time.perf_counter()
    databases.create("pg", sources["pg"])
    quiet(["pgbench", "-q", "-i", "-s", str(scale), "-h", HOST, "-U", "postgres", sources["pg"]])
    psql("VACUUM ANALYZE", sources["pg"])  # nothing left for autovacuum to do while we measure
    databases.claim("mysql", sources["mysql"])  # build() creates it, as bench/mysql.py does
    build_mysql(sources["mysql"], rows)
    print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
    return sources


def back_up(workflow: OfflineWorkflow, work: Path) -> tuple[str, dict[str, Path]]:
    """One run through the backup state machine; each database's data file fetched to local disk (not timed)."""
    started = time.perf_counter()
    execution = workflow.wait(workflow.start({"reason": "bench/restore.py"}), timeout=3600)
    if execution.status != "SUCCEEDED":
        sys.exit(f"backup: execution {execution.status}: {execution.error}: {execution.cause}")
    run_id = (execution.output or {})["summary"]["run_id"]
    print(f"  backup run {run_id} through the backup state machine: {time.perf_counter() - started:.2f} s")
    store, files = workflow.store(), {}
    for item in ITEMS:
        artifact_dir = join_key(run_dir(run_id), f"databases/{item}")
        record, _ = read_artifact_record(store, artifact_dir)
        [data_file] = record.files
        files[item] = work / f"{item}-{data_file.name}"
        fetched = time.perf_counter()
        with files[item].open("wb") as out:
            for chunk in store.iter_chunks(join_key(artifact_dir, data_file.name)):
                out.write(chunk)
        print(
            f"  {item}: {data_file.name} {data_file.size / 2**20:.1f} MiB"
            f" ({data_file.uncompressed_size / 2**20:.0f} MiB of SQL, {len(data_file.frames)} frames),"
            f" fetched in {time.perf_counter() - fetched:.2f} s (not counted)",
            flush=True,
        )
    return run_id, files


# --- the report ---------------------------------------------------------------------------------


def report(bench: Bench, pieces: dict[str, dict[str, float]], repeat: int) -> None:
    results = bench.results
    ref = {item: results.best("reference", item) for item in ITEMS}
    cli = {item: results.best("run_restore", item) for item in ITEMS}
    machine, together = results.best("state machine", "total"), results.best("both at once", "total")
    threads = results.best("run_restore x2", "total")
    print(f"\nresult (best of {repeat} runs each)")
    print(f"  {'database':<10} {'a: zstd -dc | tool':>19} {'b: run_restore':>15} {'b/a':>6}")
    for item in ITEMS:
        print(f"  {item:<10} {ref[item]:17.2f} s {cli[item]:13.2f} s {cli[item] / ref[item]:6.2f}")
    sum_ref, sum_cli = sum(ref.values()), sum(cli.values())
    print(f"  {'sum':<10} {sum_ref:17.2f} s {sum_cli:13.2f} s {sum_cli / sum_ref:6.2f}")
    print(
        f"  c: state machine, both databases: {machine:.2f} s   both references at once: {together:.2f} s"
        f"   run_restore x2 (threads): {threads:.2f} s"
    )
    print(f"  c / sum(a)          {machine / sum_ref:5.2f}   (issue 16's goal: <= 1.10)")
    print(f"  c / both at once    {machine / together:5.2f}   (like for like: both two at a time)")
    print(f"  c / sum(b)          {machine / sum_cli:5.2f}   (the state machine against run_restore one at a time)")
    print(f"  c / run_restore x2  {machine / threads:5.2f}   (what Step Functions on moto adds to the same threads)")
    print(f"  run_restore x2 / both at once {threads / together:5.2f}   (two restores in one Python process)")
    print("\nwhere the time goes: each piece alone on the same bucket (best of runs)")
    print(f"  {'':<42} " + " ".join(f"{item:>9}" for item in ITEMS))
    for what, by_item in pieces.items():
        print(f"  {what:<42} " + " ".join(f"{by_item[item]:7.3f} s" for item in ITEMS))
    for item in ITEMS:
        reading = pieces["verify_item (decompress, every digest)"][item]
        reading += pieces["verify_stored_frames (sha256 of frames)"][item]
        print(
            f"  {item}: run_restore - reference = {cli[item] - ref[item]:5.2f} s;"
            f" the two verifying passes before the restore's own read {reading:5.2f} s"
        )
    seconds, phases, items = min(results.machine_runs, key=lambda run: run[0])
    print(f"\nthe state machine's fastest run ({seconds:.2f} s), from its handlers' invocations")
    for phase, value in phases.items():
        print(f"  {phase:<44} {value:7.3f} s")
    spans = phases["verify Map (first begins -> last ends)"] + phases["restore Map (first begins -> last ends)"]
    outside = seconds - spans - phases["check the input (handler)"] - phases["report (handler)"]
    print(f"  outside every handler (Step Functions on moto, the runner's polling): {outside:.3f} s")
    print(f"  the items' own restore (their report): {', '.join(f'{k} {v:.2f} s' for k, v in sorted(items.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-scale", type=int, default=20, help="pgbench scale of the PostgreSQL database (20)")
    parser.add_argument("--mysql-rows", type=int, default=300_000, help="rows of the MySQL events table (300000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each contender; the best counts (default 2)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill too, not only on Ctrl-C
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # synthesis runs jsii on node
    compile_smokejumper()
    secrets = {
        SECRET.format("postgres"): {"username": "postgres", "password": ""},
        SECRET.format("mysql"): {"username": "root", "password": ""},
    }
    begun = time.perf_counter()
    with ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sj-bench-restore-")))
        databases = cleanup.enter_context(databases_dropped())
        sources = build_sources(databases, args.pg_scale, args.mysql_rows)
        expected = {"pg": count_rows("pg", sources["pg"]), "mysql": count_rows("mysql", sources["mysql"])}
        plan = make_plan(sources)
        steps = Steps()
        started = time.perf_counter()
        workflow = cleanup.enter_context(OfflineWorkflow(plan, secrets, work / "offline", on_invocation=steps))
        print(f"  set-up (synthesis, the stack on moto; not timed) {time.perf_counter() - started:.1f} s", flush=True)
        run_id, files = back_up(workflow, work)
        bench = Bench(
            workflow, workflow.store(), workflow.plan, FileSecrets(secrets), run_id, files, databases, steps, expected
        )
        print("warm-up (not counted)")
        bench.reference("warm-up")
        print("restore")
        contenders: dict[str, Callable[[], tuple[float, float]]] = {
            "reference": bench.reference,
            "run_restore": bench.cli,
            "state machine": bench.state_machine,
            "both at once": bench.both_at_once,
            "run_restore x2": bench.threads,
        }
        assert tuple(contenders) == CONTENDERS
        loads = os.getloadavg()
        take_turns(args.repeat, contenders, settle=checkpoint)
        print(f"load averages (1, 5, 15 min) before the restores {loads}, after {os.getloadavg()}", flush=True)
        print("pieces (each alone)", flush=True)
        pieces = bench.pieces(args.repeat)
    report(bench, pieces, args.repeat)
    print(f"\nthe whole bench: {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
