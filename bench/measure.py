"""What every benchmark here reports: wall time and peak RSS of one command, its children included."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import smokejumper


def compile_smokejumper() -> None:
    """Byte-compile smokejumper before timing it, as `pip install` does for a regular install.

    The development install is editable, and machines here set
    PYTHONDONTWRITEBYTECODE=1: without this, every timed run would compile
    our modules from source again first (about 25 ms a run, measured).
    """
    if not compileall.compile_dir(Path(smokejumper.__file__).parent, quiet=1):
        sys.exit("could not byte-compile smokejumper")


def measure(label: str, command: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB: the largest process of the command's tree) of a shell command."""
    started = time.perf_counter()
    process = subprocess.Popen(["bash", "-o", "pipefail", "-c", command])
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label} failed: {command}")
    peak = usage.ru_maxrss / 1024
    print(f"  {label:<34} {seconds:7.2f} s  {peak:7.0f} MiB peak RSS", flush=True)
    return seconds, peak


def take_turns(
    repeat: int, contenders: dict[str, Callable[[], tuple[float, float]]], settle: Callable[[], None]
) -> dict[str, tuple[float, float]]:
    """Run each contender `repeat` times in A B B A ... order, `settle` before each; the best (time, RSS) of each.

    Taking turns and keeping the best of each keeps a noisy neighbour on a
    shared machine, or the previous run's background work, from deciding a ratio.
    """
    names = list(contenders)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for turn in range(repeat):
        for name in names if turn % 2 == 0 else reversed(names):
            settle()
            results[name].append(contenders[name]())
    return {name: min(runs) for name, runs in results.items()}


def print_ratios(backup: dict[str, tuple[float, float]], restore: dict[str, tuple[float, float]], repeat: int) -> None:
    """The result lines both database benches print: ours against the reference, best runs."""
    print(f"result (best of {repeat} runs each)")
    print(
        f"  backup  time ratio {backup['ours'][0] / backup['ref'][0]:.2f}  (goal <= 1.0),"
        f" peak RSS {backup['ours'][1]:.0f} MiB (goal <= 150)"
    )
    print(f"  restore time ratio {restore['ours'][0] / restore['ref'][0]:.2f}  (goal <= 1.0)")
