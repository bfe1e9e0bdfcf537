"""Feed SQL to an engine's own client (psql, mysql), from text or a file, `.zst` or not.

Shared by the PostgreSQL and MySQL oracles. When the client stops early
(an error with ON_ERROR_STOP), a `zstd -dc` still writing gets SIGPIPE: that
is a consequence, and only the client's error is reported. A zstd that fails
on its own (a corrupt or truncated file) is reported first.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


def _broken_pipe(returncode: int | None, stderr: str) -> bool:
    return returncode == -13 or "Broken pipe" in stderr or "Error 70" in stderr


def feed_sql(
    command: list[str],
    sql: bytes | str | os.PathLike[str],
    *,
    env: dict[str, str],
    timeout: float,
    client: str,
) -> str:
    """Run `command` with the SQL on stdin; return its stdout or raise RuntimeError with the cause.

    `bytes`/`str` are SQL text (a `str` is never taken for a path); a `Path`
    is a file, decompressed with `zstd -dc` when it ends in `.zst`.
    """
    run: dict[str, Any] = {"capture_output": True, "env": env, "timeout": timeout, "check": False}
    if isinstance(sql, str):
        sql = sql.encode("utf-8")
    zstd_failure = None
    if isinstance(sql, bytes):
        done = subprocess.run(command, input=sql, **run)
    else:
        path = Path(sql)
        with path.open("rb") as source:
            if path.suffix != ".zst":
                done = subprocess.run(command, stdin=source, **run)
            else:
                zstd = subprocess.Popen(["zstd", "-dc"], stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                assert zstd.stdout is not None
                assert zstd.stderr is not None
                try:
                    done = subprocess.run(command, stdin=zstd.stdout, **run)
                finally:
                    zstd.stdout.close()  # the client is done: a zstd still writing gets SIGPIPE
                    zstd_error = zstd.stderr.read().decode(errors="replace")
                    zstd.stderr.close()
                    zstd.wait(timeout=timeout)
                if zstd.returncode != 0 and not (done.returncode != 0 and _broken_pipe(zstd.returncode, zstd_error)):
                    zstd_failure = f"zstd -dc {path} failed ({zstd.returncode}): {zstd_error.strip()}"
    client_failure = None
    if done.returncode != 0:
        client_failure = f"{client} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}"
    if zstd_failure:
        raise RuntimeError(zstd_failure + (f"\n(then {client_failure})" if client_failure else ""))
    if client_failure:
        raise RuntimeError(client_failure)
    return done.stdout.decode("utf-8", errors="replace")
