#!/usr/bin/env python3
"""Benchmark: smokejumper's PostgreSQL backup and restore against pg_dump and psql, in one run.

    .venv/bin/python bench/postgres.py [--scale 70] [--keep]

Builds a pgbench database (scale 70 is about 1 GB on disk, ~0.7 GB of COPY
text), then times, on the same database and machine:
  backup:  smokejumper backup postgres        vs  pg_dump -Fp | zstd -3
  restore: smokejumper restore postgres       vs  zstd -dc | psql (pg_dump's output)
and prints wall time, peak RSS and the ratios. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import measure

HOST, USER = "127.0.0.1", "postgres"
BIN = Path(sys.executable).parent


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(["psql", "-X", "-q", "-h", HOST, "-U", USER, "-d", database, "-c", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=70, help="pgbench scale (70 ≈ 1 GB)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    args = parser.parse_args()
    source, ours_db, ref_db = "sj_bench_source", "sj_bench_ours", "sj_bench_ref"
    work = Path(tempfile.mkdtemp(prefix="sj-bench-"))
    try:
        for name in (source, ours_db, ref_db):
            psql(f"DROP DATABASE IF EXISTS {name}")
        psql(f"CREATE DATABASE {source}")
        print(f"building pgbench scale {args.scale} ...", flush=True)
        subprocess.run(["pgbench", "-q", "-i", "-s", str(args.scale), "-h", HOST, "-U", USER, source], check=True)
        psql(f"CREATE DATABASE {ours_db}")
        psql(f"CREATE DATABASE {ref_db}")
        dsn = f"postgresql://{USER}@{HOST}:5432"
        print("backup")
        ref_backup = measure(
            "pg_dump -Fp | zstd -3", f"pg_dump -h {HOST} -U {USER} -Fp {source} | zstd -3 -q -o {work}/ref.sql.zst"
        )
        our_backup = measure(
            "smokejumper backup postgres",
            f"{BIN}/smokejumper backup postgres --dsn '{dsn}/{source}?sslmode=disable' --to {work}/ours >/dev/null",
        )
        print("restore")
        ref_restore = measure(
            "zstd -dc | psql",
            f"zstd -dc -q {work}/ref.sql.zst"
            f" | psql -X -q -v ON_ERROR_STOP=1 -h {HOST} -U {USER} -d {ref_db} >/dev/null",
        )
        our_restore = measure(
            "smokejumper restore postgres",
            f"{BIN}/smokejumper restore postgres --from {work}/ours --dsn '{dsn}/{ours_db}?sslmode=disable' >/dev/null",
        )
        sizes = {path.name: path.stat().st_size for path in [work / "ref.sql.zst", work / "ours" / "dump.sql.zst"]}
        print("result")
        backup_ratio = our_backup[0] / ref_backup[0]
        print(f"  backup  time ratio {backup_ratio:.2f}  (goal <= 1.0), peak RSS {our_backup[1]:.0f} MiB (goal <= 150)")
        print(f"  restore time ratio {our_restore[0] / ref_restore[0]:.2f}  (goal <= 1.0)")
        print(f"  compressed sizes: {sizes}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            for name in (source, ours_db, ref_db):
                psql(f"DROP DATABASE IF EXISTS {name}")


if __name__ == "__main__":
    main()
