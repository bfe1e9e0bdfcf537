#!/usr/bin/env python3
"""Memory check: writing 1 GiB through the S3 store (and the local store) stays streaming.

    .venv/bin/python bench/store.py [--gib 1]

S3 is moto's server in a separate process on 127.0.0.1, so this process's
peak RSS is the store's own. Prints the peak RSS of each write; the goal is
under 150 MB whatever the size. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from smokejumper.store import open_store

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_stream(store_url: str, total: int, **store_options: object) -> tuple[float, str]:
    store = open_store(store_url, **store_options)
    block = hashlib.sha256(b"smokejumper").digest() * (MIB // 32)  # 1 MiB, written over and over
    started = time.perf_counter()
    with store.writer("bench/object.bin", expected_size=total) as out:
        for _ in range(total // MIB):
            out.write(block)
    assert out.result is not None
    assert out.result.size == total
    return time.perf_counter() - started, out.result.sha256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    total = int(args.gib * 1024) * MIB
    port = free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workdir = Path(tempfile.mkdtemp(prefix="sj-store-bench-"))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        print(f"writing {total / MIB:.0f} MiB; peak RSS before: {peak_rss_mib():.0f} MiB", flush=True)
        seconds, _ = write_stream(f"file://{workdir}", total)
        print(f"  local store  {seconds:6.2f} s   peak RSS {peak_rss_mib():6.0f} MiB", flush=True)
        seconds, _ = write_stream("s3://bench/prefix", total, s3_client=s3)
        print(f"  S3 store     {seconds:6.2f} s   peak RSS {peak_rss_mib():6.0f} MiB (goal < 150)", flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
