#!/usr/bin/env python3
"""Benchmark: the overhead of `smokejumper backup run` over the single backups it is made of.

    .venv/bin/python bench/run.py [--scale 10] [--databases 3] [--repeat 3]

Builds `--databases` PostgreSQL pgbench databases (scale 10 is about 160 MB
each) and one MySQL database of pgbench-like rows, and a plan naming them all
(127.0.0.1, credentials from a --secrets file). Then, taking turns:
  singles: one `smokejumper backup postgres|mysql` process per database, one after another;
  run:     `smokejumper backup run --plan` with concurrency 1 (the same work, one item after another),
           which also plans the run, commits its manifest (re-reading every artifact.json) and prunes.
The overhead is run / sum(singles) - 1 (goal: at most 5%). A run with the
plan's concurrency (2) is timed too, for what parallel items buy on this machine.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from measure import compile_smokejumper, measure, take_turns

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:bench-{}-AbCdEf"  # noqa: S105  # an ARN


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(["psql", "-X", "-q", "-h", HOST, "-U", "postgres", "-d", database, "-c", sql], check=True)


def mysql(sql: str) -> None:
    subprocess.run(["mysql", "--no-defaults", "-h", HOST, "-u", "root", "-e", sql], check=True)


def build(databases: int, scale: int) -> tuple[list[str], str]:
    names = [f"sj_bench_run_{index}" for index in range(databases)]
    for name in names:
        psql(f"DROP DATABASE IF EXISTS {name}")
        psql(f"CREATE DATABASE {name}")
        subprocess.run(["pgbench", "-q", "-i", "-s", str(scale), "-h", HOST, "-U", "postgres", name], check=True)
    mysql_name = "sj_bench_run_mysql"
    rows = 100_000 * scale
    mysql(f"DROP DATABASE IF EXISTS {mysql_name}; CREATE DATABASE {mysql_name}")
    mysql(
        f"USE {mysql_name}; CREATE TABLE accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler CHAR(84));"
        f" INSERT INTO accounts SELECT seq, seq DIV 100000, 0, '' FROM seq_1_to_{rows}"
    )
    return names, mysql_name


def plan_file(work: Path, names: list[str], mysql_name: str, concurrency: int) -> Path:
    def database(name: str, engine: str, port: int) -> dict[str, object]:
        return {
            "name": name.replace("_", "-"),
            "engine": engine,
            "host": HOST,
            "port": port,
            "database": name,
            "credentials_secret_arn": SECRET.format(engine),
            "tls": {"mode": "disable"},
        }

    plan = {
        "name": "bench",
        "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
        "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
        "databases": [database(name, "postgres", 5432) for name in names] + [database(mysql_name, "mysql", 3306)],
        "concurrency": concurrency,
    }
    path = work / f"plan-{concurrency}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale of each database (10 ≈ 160 MB)")
    parser.add_argument("--databases", type=int, default=3, help="PostgreSQL databases (plus one MySQL)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts (default 3)")
    args = parser.parse_args()
    compile_smokejumper()
    work = Path(tempfile.mkdtemp(prefix="sj-bench-run-"))
    names, mysql_name = build(args.databases, args.scale)
    secrets = work / "secrets.json"
    secrets.write_text(
        json.dumps(
            {
                SECRET.format("postgres"): {"username": "postgres", "password": ""},
                SECRET.format("mysql"): {"username": "root", "password": ""},
            }
        )
    )
    sequential, parallel = plan_file(work, names, mysql_name, 1), plan_file(work, names, mysql_name, 2)
    turn = [0]

    def target() -> str:
        turn[0] += 1
        return str(work / f"out-{turn[0]}")

    def singles() -> tuple[float, float]:
        out, total, peak = target(), 0.0, 0.0
        commands = [
            f"{BIN}/smokejumper backup postgres --dsn postgresql://postgres@{HOST}/{name}?sslmode=disable"
            f" --to {out}/{name} --json > /dev/null"
            for name in names
        ]
        commands.append(
            f"{BIN}/smokejumper backup mysql --dsn mysql://root@{HOST}/{mysql_name}?ssl-mode=DISABLED"
            f" --to {out}/{mysql_name} --json > /dev/null"
        )
        for command in commands:
            seconds, rss = measure("  single", command)
            total, peak = total + seconds, max(peak, rss)
        print(f"  {'singles, summed':<34} {total:7.2f} s")
        return total, peak

    own: dict[str, list[float]] = {"plan-1": [], "plan-2": []}

    def run(plan: Path) -> tuple[float, float]:
        report = work / "run.json"
        seconds, rss = measure(
            f"backup run ({plan.stem})",
            f"{BIN}/smokejumper backup run --plan {plan} --store {target()} --secrets {secrets} --json > {report}",
        )
        items = sum(artifact["seconds"] for artifact in json.loads(report.read_text())["artifacts"])
        if plan.stem == "plan-1":  # one item at a time: what is not an item's own time is the run's
            own[plan.stem].append(seconds - items)
            print(
                f"  {'  the items themselves':<34} {items:7.2f} s; the rest (start-up, plan, commit, prune)"
                f" {seconds - items:.2f} s"
            )
        return seconds, rss

    try:
        best = take_turns(
            args.repeat,
            {"singles": singles, "run": lambda: run(sequential), "parallel": lambda: run(parallel)},
            lambda: psql("CHECKPOINT"),
        )
        print(f"result (best of {args.repeat} runs each)")
        overhead = best["run"][0] / best["singles"][0] - 1
        print(
            f"  backup run, one item at a time: {best['run'][0]:.2f} s against {best['singles'][0]:.2f} s of single"
            f" backups: overhead {overhead * 100:+.1f}% (goal <= 5%)"
        )
        rest = min(own["plan-1"])
        print(
            f"  of which not the items' own work (start-up, plan, commit with every artifact.json re-read, prune):"
            f" {rest:.2f} s = {rest / best['run'][0] * 100:.1f}% of the run"
        )
        print(f"  backup run, 2 items at a time:  {best['parallel'][0]:.2f} s, peak RSS {best['parallel'][1]:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for name in names:
            psql(f"DROP DATABASE IF EXISTS {name}")
        mysql(f"DROP DATABASE IF EXISTS {mysql_name}")


if __name__ == "__main__":
    main()
