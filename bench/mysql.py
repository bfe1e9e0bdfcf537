#!/usr/bin/env python3
"""Benchmark: smokejumper's MySQL backup and restore against mysqldump and mysql, in one run.

    .venv/bin/python bench/mysql.py [--rows 1400000] [--repeat 2] [--keep]

Builds a database on the local MariaDB (127.0.0.1:3306, root): a ccdb-like
`events` table (about 700 bytes a row: ids, a guid, short strings, a JSON-ish
text, a DECIMAL, a DATETIME(6), a nullable BLOB) plus a small `apps` table;
--rows 1400000 is about 1 GB. Then times, on the same database and machine:
  backup:  smokejumper backup mysql     vs  mysqldump --single-transaction | zstd -3
  restore: smokejumper restore mysql    vs  zstd -dc | mysql (mysqldump's output)
and prints wall time, peak RSS and the ratios. Not part of the test suite.

As in bench/postgres.py: each restore goes into a freshly created database
with no other restored copy beside it, the tools take turns (A B B A ...),
and each ratio compares the best of --repeat runs of each; every run is
printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import compile_smokejumper, measure, print_ratios, take_turns

HOST, USER = "127.0.0.1", "root"
BIN = Path(sys.executable).parent
CLIENT = ["--no-defaults", f"--host={HOST}", f"--user={USER}"]


def sql(statement: str, database: str = "") -> None:
    subprocess.run(["mysql", *CLIENT, *([database] if database else []), "-e", statement], check=True)


def build(database: str, rows: int) -> None:
    sql(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    sql(
        "CREATE TABLE events (id BIGINT UNSIGNED PRIMARY KEY, guid CHAR(36) NOT NULL, type VARCHAR(64) NOT NULL,"
        " actor VARCHAR(64), metadata TEXT, amount DECIMAL(12,2), created_at DATETIME(6) NOT NULL, blob_data BLOB,"
        " KEY (type), KEY (created_at)) ENGINE=InnoDB",
        database,
    )
    sql(
        "CREATE TABLE apps (id INT PRIMARY KEY, name VARCHAR(255), state ENUM('STARTED','STOPPED'),"
        " memory INT, environment TEXT) ENGINE=InnoDB",
        database,
    )
    chunk = 200_000
    for start in range(0, rows, chunk):
        count = min(chunk, rows - start)
        sql(
            "INSERT INTO events SELECT seq, UUID(), CONCAT('audit.app.', ELT(1 + seq % 5, 'create', 'update',"
            " 'start', 'stop', 'delete')), IF(seq % 7 = 0, NULL, CONCAT('user-', seq % 1000)),"
            ' CONCAT(\'{"request": {"name": "app-\', seq, \'", "note": "\', REPEAT(MD5(seq), 16),'
            " '\\\\n it''s\"}}'), (seq % 100000) / 100, '2026-01-01' + INTERVAL seq SECOND,"
            " IF(seq % 10 = 0, UNHEX(MD5(seq)), NULL)"
            f" FROM seq_{start + 1}_to_{start + count}",
            database,
        )
    sql(
        "INSERT INTO apps SELECT seq, CONCAT('app-', seq), IF(seq % 2, 'STARTED', 'STOPPED'), 256 * (seq % 8),"
        " REPEAT('KEY=value;', 20) FROM seq_1_to_20000",
        database,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_400_000, help="rows in events (1400000 ≈ 1 GB)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool; the best counts (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the source database and the dump files")
    args = parser.parse_args()
    compile_smokejumper()
    source, target = "sj_bench_source", "sj_bench_target"
    work = Path(tempfile.mkdtemp(prefix="sj-bench-mysql-"))
    client = " ".join(CLIENT)
    dsn = f"mysql://{USER}@{HOST}:3306"

    def fresh_target() -> None:
        sql(f"DROP DATABASE IF EXISTS {target}")
        sql(f"CREATE DATABASE {target} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def ref_backup() -> tuple[float, float]:
        return measure(
            "mysqldump --single-transaction | zstd",
            f"mysqldump {client} --single-transaction --routines --triggers --events {source}"
            f" | zstd -3 -q -f -o {work}/ref.sql.zst",
        )

    def ours_backup() -> tuple[float, float]:
        shutil.rmtree(work / "ours", ignore_errors=True)
        return measure(
            "smokejumper backup mysql",
            f"{BIN}/smokejumper backup mysql --dsn {dsn}/{source} --to {work}/ours --json >/dev/null",
        )

    def ref_restore() -> tuple[float, float]:
        fresh_target()
        return measure("zstd -dc | mysql", f"zstd -dc -q {work}/ref.sql.zst | mysql {client} {target}")

    def ours_restore() -> tuple[float, float]:
        fresh_target()
        return measure(
            "smokejumper restore mysql",
            f"{BIN}/smokejumper restore mysql --from {work}/ours --dsn {dsn}/{target} --json >/dev/null",
        )

    try:
        for name in (source, target):
            sql(f"DROP DATABASE IF EXISTS {name}")
        print(f"building {args.rows} rows ...", flush=True)
        build(source, args.rows)
        print("backup")
        backup = take_turns(args.repeat, {"ref": ref_backup, "ours": ours_backup}, settle=lambda: None)
        print("restore")
        restore = take_turns(args.repeat, {"ref": ref_restore, "ours": ours_restore}, settle=lambda: None)
        sizes = {path.name: path.stat().st_size for path in [work / "ref.sql.zst", work / "ours" / "dump.sql.zst"]}
        print_ratios(backup, restore, args.repeat)
        print("  compressed sizes: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sizes.items()))
    finally:
        sql(f"DROP DATABASE IF EXISTS {target}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            sql(f"DROP DATABASE IF EXISTS {source}")
        else:
            print(f"kept: database {source}, files in {work}")


if __name__ == "__main__":
    main()
