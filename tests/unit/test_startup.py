"""Start-up cost: what a command imports before it does anything.

A backup's or restore's start-up is part of its time (at 1 GB, pg_dump
starts in 0.06 s), so heavy modules are imported only where they are used.
Each check runs in a fresh interpreter, since this one has imported them all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize(
    ("statement", "not_imported"),
    [
        # Every command: botocore only for s3:// stores; progress bars and tables only where shown.
        ("import smokejumper.cli", {"botocore", "numpy", "pg8000", "rich.progress", "rich.table"}),
        # A PostgreSQL restore has no COPY to frame; a backup frames it in C, and numpy is the fallback.
        ("import smokejumper.sources.postgres.restore", {"numpy", "botocore"}),
        ("from smokejumper.sources.postgres.copy import row_cutter; row_cutter()", {"numpy"}),
        ("from smokejumper.store import open_store; open_store('file:///tmp')", {"botocore"}),
    ],
)
def test_heavy_modules_wait_until_needed(statement: str, not_imported: set[str]):
    assert modules_after(statement) & not_imported == set()


def test_the_check_sees_imports():
    fallback = "from smokejumper.sources.postgres.copy import row_cutter; row_cutter(compiled=False)"
    assert "numpy" in modules_after(fallback)
    assert "botocore" in modules_after("import smokejumper.store.s3")
