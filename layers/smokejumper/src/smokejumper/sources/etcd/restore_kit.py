"""The etcd disaster-restore kit: a checked snapshot, one restore script per member, and a runbook.

Restoring etcd is done by `etcdutl snapshot restore` on every member, then
starting them all; what goes wrong on the day is the flags. Each member
needs the same `--initial-cluster` and token, its own `--name` and peer URL,
and, for Kubernetes, `--bump-revision` with `--mark-compacted`: a restored
cluster otherwise starts at the snapshot's revision, lower than the one
every API server, controller and kubelet already saw, so their watches and
caches silently miss or misorder changes. Bumping the revision far past
anything served (a billion by default, etcd's and Kubernetes' advice) and
marking the old revisions compacted makes every watcher get "compacted" and
relist.

The kit is plain files, so it can be carried to machines with no access to
the backups: `snapshot.db` (as `etcdctl snapshot save` writes it, trailer
checked, mode 0600), `restore-NAME.sh` per member, `RUNBOOK.md` (the order
of operations with this cluster's names filled in), and `kit.json` (the same
as data, for the console workflow and scripts).

The revision flags need etcdutl 3.5.10 or later, and an older one fails only
once etcd is already down. So each script checks `etcdutl version` (and that
the snapshot is there) before it changes anything, refuses in one line, and
does nothing but those checks with `--check`, which the runbook has the
operator run on every member before stopping anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from smokejumper import __version__
from smokejumper.errors import UsageError
from smokejumper.sources.etcd.offline import EtcdSnapshot, check_new_directory, staged_directory

__all__ = ["DEFAULT_BUMP", "KIT_SNAPSHOT", "Member", "RestoreKit", "parse_member", "write_restore_kit"]

DEFAULT_BUMP = 1_000_000_000
KIT_SNAPSHOT = "snapshot.db"
RUNBOOK = "RUNBOOK.md"
KIT_RECORD = "kit.json"
# The first etcdutl with `snapshot restore --bump-revision --mark-compacted`: etcd 3.5.10 (CHANGELOG-3.5.md,
# PR #16165); on the 3.6 line every release from 3.6.0-rc.0 (CHANGELOG-3.6.md, PR #16029). 3.4 has no etcdutl.
MINIMUM_ETCDUTL = "3.5.10"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")  # a DNS name or an IPv4/IPv6 address
TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MEMBER_HINT = "give each member as NAME=PEER_URL, e.g. --member etcd-0=https://10.0.1.10:2380"


@dataclass(frozen=True)
class Member:
    name: str
    peer_url: str


def parse_member(text: str) -> Member:
    """`NAME=PEER_URL`, checked: a plain name, and an http(s) URL with a host and a port."""
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise UsageError(f"--member {text!r} is not NAME=PEER_URL", hint=MEMBER_HINT)
    if not NAME.match(name):
        raise UsageError(
            f"--member {text!r}: the name {name!r} must be letters, digits, '.', '_' or '-' (up to 63)",
            hint="use the member's etcd --name",
        )
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not HOST.match(host)
        or port is None
        or parts.path not in ("", "/")
        or parts.username is not None
        or parts.query
        or parts.fragment
        or not url.isprintable()
        or " " in url
    ):
        raise UsageError(
            f"--member {text!r}: {url!r} is not a peer URL like https://HOST:2380",
            hint="the member's --initial-advertise-peer-urls: scheme, host and port only",
        )
    # Rebuilt from its checked parts: nothing else from the argument reaches the scripts.
    shown = f"[{host}]" if ":" in host else host
    return Member(name, f"{parts.scheme}://{shown}:{port}")


def check_members(members: list[Member]) -> list[str]:
    """Refuse what etcd would refuse later; return warnings about what it would accept but should not."""
    if not members:
        raise UsageError("no --member given", hint=MEMBER_HINT)
    for attribute in ("name", "peer_url"):
        seen: set[str] = set()
        for member in members:
            value = getattr(member, attribute)
            if value in seen:
                raise UsageError(f"two members have the {attribute.replace('_', ' ')} {value!r}", hint=MEMBER_HINT)
            seen.add(value)
    if len(members) % 2 == 0:
        return [
            f"{len(members)} members: an even-sized cluster tolerates no more failures than one member fewer; "
            "etcd clusters are normally 1, 3 or 5 members"
        ]
    return []


@dataclass
class RestoreKit:
    directory: Path
    snapshot: Path
    sha256: str
    revision: int
    bump_revision: int
    cluster_token: str
    members: list[Member]
    scripts: dict[str, Path]
    commands: dict[str, list[str]]
    runbook: Path
    warnings: list[str]
    has_trailer: bool = True

    def record(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "snapshot": KIT_SNAPSHOT,
            "snapshot_sha256": self.sha256,
            "snapshot_revision": self.revision,
            "bump_revision": self.bump_revision,
            "mark_compacted": self.bump_revision > 0,
            "restored_revision_at_least": self.revision + self.bump_revision,
            "cluster_token": self.cluster_token,
            "minimum_etcdutl": MINIMUM_ETCDUTL if self.bump_revision else None,
            "members": [
                {
                    "name": member.name,
                    "peer_url": member.peer_url,
                    "script": self.scripts[member.name].name,
                    "command": self.commands[member.name],
                }
                for member in self.members
            ],
            "runbook": self.runbook.name,
            "warnings": self.warnings,
        }


def restore_command(
    member: Member,
    members: list[Member],
    *,
    snapshot: str,
    data_dir: str,
    token: str,
    bump: int,
    skip_hash_check: bool = False,
) -> list[str]:
    """The `etcdutl snapshot restore` argv for one member."""
    command = [
        "etcdutl",
        "snapshot",
        "restore",
        snapshot,
        f"--name={member.name}",
        f"--initial-cluster={','.join(f'{m.name}={m.peer_url}' for m in members)}",
        f"--initial-cluster-token={token}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--data-dir={data_dir}",
    ]
    if bump:
        command += [f"--bump-revision={bump}", "--mark-compacted"]
    if skip_hash_check:
        command.append("--skip-hash-check")  # a member's raw db has no sha256 trailer; etcdutl refuses it otherwise
    return command


def _script(member: Member, command: list[str], *, data_dir: str, bump: int, created: str) -> str:
    # The argv is fixed but for three things the operator may need to change on the machine: the
    # etcdutl binary, where the snapshot was copied to, and the data directory. Every check runs
    # before anything is changed and refuses in one line; `--check` runs the checks alone, so a
    # too-old etcdutl is found while the cluster still runs (RUNBOOK.md, step 1).
    script = f"restore-{member.name}.sh"
    arguments = [shlex.quote(arg) for arg in command[4:] if not arg.startswith("--data-dir=")]
    wanted = f"etcdutl {MINIMUM_ETCDUTL} or later" if bump else "etcdutl"
    checks = f"""
if ! command -v "$ETCDUTL" >/dev/null 2>&1; then
  refuse "etcdutl not found (looked for $ETCDUTL): install {wanted} and set ETCDUTL=/path/to/etcdutl"
fi
"""
    if bump:
        checks += f"""
# --bump-revision and --mark-compacted came in etcdutl {MINIMUM_ETCDUTL} (etcd PR #16165) and 3.6.0 (PR #16029).
at_least() {{  # at_least VERSION MINIMUM: compares MAJOR.MINOR.PATCH; an unreadable VERSION is too old
  echo "$1" | awk -F'[.-]' -v need="$2" '{{
    split(need, n, ".")
    for (i = 1; i <= 3; i++) if ($i + 0 != n[i] + 0) exit ($i + 0 < n[i] + 0)
  }}'
}}
version=$("$ETCDUTL" version 2>/dev/null | sed -n 's/^etcdutl version: *//p' | head -n 1)
# (3.6.0-alpha.0 predates the flags; the 3.6.0 release candidates have them.)
if ! at_least "$version" {MINIMUM_ETCDUTL} || [ "${{version#3.6.0-alpha}}" != "$version" ]; then
  refuse "$ETCDUTL is etcdutl ${{version:-of unknown version}}, and this restore's --bump-revision and" \\
    "--mark-compacted need etcdutl {MINIMUM_ETCDUTL} or later: install one and set ETCDUTL=/path/to/it"
fi
"""
    checks += f"""
if [ ! -f "$SNAPSHOT" ]; then
  refuse "no snapshot at $SNAPSHOT: copy the kit's {KIT_SNAPSHOT} there, or set SNAPSHOT=/path/to/{KIT_SNAPSHOT}"
fi
"""
    lines = " \\\n  ".join(['"$ETCDUTL" snapshot restore "$SNAPSHOT"', *arguments, '--data-dir="$DATA_DIR"'])
    return f"""#!/bin/sh
# Restore etcd member {member.name} ({member.peer_url}) from this kit's snapshot.
# Written by smokejumper {__version__} on {created}. Read RUNBOOK.md first: every member's
# etcd must be stopped, and this runs on {member.name}'s own machine.
# `sh {script} --check` only checks etcdutl and the snapshot: run it before stopping anything.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ETCDUTL="${{ETCDUTL:-etcdutl}}"
SNAPSHOT="${{SNAPSHOT:-$here/{KIT_SNAPSHOT}}}"
DATA_DIR=${{DATA_DIR:-{shlex.quote(data_dir)}}}
refuse() {{ printf '%s\\n' "{script}: $*. Nothing was changed." >&2; exit 1; }}
{checks}
if [ "${{1:-}}" = --check ]; then
  echo "ready to restore member {member.name} with $ETCDUTL from $SNAPSHOT into $DATA_DIR"
  exit 0
fi
if [ -e "$DATA_DIR" ]; then
  refuse "$DATA_DIR already exists: move it aside first (mv '$DATA_DIR' '$DATA_DIR.before-restore')," \\
    "or set DATA_DIR to a new directory"
fi

{lines}

echo "member {member.name} restored into $DATA_DIR: give it to the user etcd runs as (chown -R), then"
echo "start etcd with --name={member.name} --data-dir=$DATA_DIR"
"""


def _runbook(kit: RestoreKit, *, data_dir: str, source: dict[str, Any], created: str) -> str:
    members = "\n".join(f"| {m.name} | {m.peer_url} | `{kit.scripts[m.name].name}` |" for m in kit.members)
    first = kit.members[0].name
    bump_note = (
        f"The scripts bump the revision by {kit.bump_revision:,} and mark the old revisions compacted "
        f"(`--bump-revision`, `--mark-compacted`; etcdutl {MINIMUM_ETCDUTL} or later). The restored cluster "
        f"answers at revision {kit.revision + kit.bump_revision:,} or more, above anything the old cluster "
        "served, and every watcher is told its revision is compacted, so it relists instead of silently "
        "missing changes."
        if kit.bump_revision
        else "**The revision is not bumped (`--bump-revision 0`).** The restored cluster starts at the "
        f"snapshot's revision {kit.revision:,}, below what Kubernetes components have already seen: restart "
        "every API server, controller manager, scheduler and kubelet after the restore, or their caches "
        "will be wrong."
    )
    origin = ", ".join(f"{key} {value}" for key, value in source.items() if value not in (None, "", [], {}))
    hash_note = (
        "etcdutl checks the snapshot's sha256 trailer before it writes anything."
        if kit.has_trailer
        else "This snapshot is a member's raw database without a sha256 trailer, so the scripts pass "
        "`--skip-hash-check`: check the copy with sha256sum (step 1) instead."
    )
    return f"""# etcd restore runbook

Written by smokejumper {__version__} on {created}.

Snapshot: `{KIT_SNAPSHOT}`, revision {kit.revision:,}, sha256 `{kit.sha256}`{f" ({origin})" if origin else ""}.
Cluster token for the restored cluster: `{kit.cluster_token}`.

| member | peer URL | script |
|---|---|---|
{members}

{bump_note}

## Order of operations

1. **Before stopping anything, copy the kit to each member's machine and check it there**:
   `sha256sum {KIT_SNAPSHOT}` must print `{kit.sha256}`, and `sh restore-NAME.sh --check`
   (e.g. `sh restore-{first}.sh --check` on {first}) must print "ready": it checks that etcdutl is there
   {"and new enough for the revision flags " if kit.bump_revision else ""}and changes nothing.
2. **Stop every Kubernetes API server** (kubeadm: move `/etc/kubernetes/manifests/kube-apiserver.yaml`
   out of the manifests directory on each control-plane node). Nothing may write to etcd, or read a
   half-restored one.
3. **Stop etcd on every member** (kubeadm: move `etcd.yaml` out of the manifests directory; systemd:
   `systemctl stop etcd`). All of them: a member left running keeps the old cluster's identity.
4. **Move each member's data directory aside**, do not delete it:
   `mv {shlex.quote(data_dir)} {shlex.quote(data_dir + ".before-restore")}`.
5. **On each member, run its script**: `sh restore-NAME.sh` (e.g. `sh restore-{first}.sh` on {first}).
   `ETCDUTL=/path/to/etcdutl`, `SNAPSHOT=/path/to/{KIT_SNAPSHOT}` and `DATA_DIR=...` override the defaults.
   {hash_note}
   The script runs as whoever starts it: if etcd runs as another user, give it the new data
   directory (`chown -R etcd:etcd DATA_DIR`; etcd wants it mode 0700).
6. **Start etcd on every member** with its usual configuration: the same `--name`, peer URLs and
   `--data-dir` as in the script. The restored data directory already knows the cluster, so
   `--initial-cluster-state` is ignored. Start them all within a minute: each waits for a quorum.
7. **Check the cluster** before anything else touches it:
   `etcdctl endpoint health --cluster`, then `etcdctl endpoint status --cluster -w table`
   (one leader, every member at the same revision, at least {kit.revision + kit.bump_revision:,}), then
   `etcdctl get /registry/namespaces --prefix --keys-only` (the namespaces you expect).
8. **Start the API servers**, then restart kube-controller-manager, kube-scheduler and the kubelets so
   that nothing keeps state from before the restore.

If a step fails, stop: the old data directories from step 4 are untouched, and putting them back and
starting etcd returns the cluster to where it was.
"""


def write_restore_kit(
    snapshot_path: Path,
    members: list[Member],
    out: Path,
    *,
    data_dir: str = "/var/lib/etcd",
    bump_revision: int = DEFAULT_BUMP,
    cluster_token: str | None = None,
    source: dict[str, Any] | None = None,
) -> RestoreKit:
    """Check the snapshot (trailer and bbolt structure, a full read) and write the kit into `out`,
    which must be new or empty. Raises IntegrityError for a damaged snapshot, before writing anything."""
    warnings = check_members(members)
    if bump_revision < 0:
        raise UsageError("--bump-revision must be 0 or more")
    if cluster_token is not None and not TOKEN.match(cluster_token):
        raise UsageError(
            f"--cluster-token {cluster_token!r}: use letters, digits, '.', '_' or '-' (up to 128)",
            hint="or leave it out for a new one",
        )
    check_new_directory(out)
    with EtcdSnapshot(snapshot_path) as snapshot:
        snapshot.bolt.check()  # every page of every bucket: a damaged file fails here, not on the day
        _keys, summary = snapshot.live()
        revision, has_trailer = snapshot.revision, snapshot.has_trailer
    if not has_trailer:
        warnings.append(
            "the snapshot has no sha256 trailer (a member's raw db?): the scripts pass --skip-hash-check, "
            "so check copies with sha256sum"
        )
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = cluster_token or f"smokejumper-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with staged_directory(out) as staging:
        fd = os.open(staging / KIT_SNAPSHOT, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as copy, snapshot_path.open("rb") as original:
            sha256 = _copy_hashing(original, copy)  # the copy's digest, for the runbook's sha256sum check
        kit = RestoreKit(
            out, out / KIT_SNAPSHOT, sha256, revision, bump_revision, token, members, {}, {}, out / RUNBOOK, warnings,
            has_trailer,
        )  # fmt: skip
        for member in members:
            member_dir = data_dir.replace("{name}", member.name)
            command = restore_command(
                member, members, snapshot=KIT_SNAPSHOT, data_dir=member_dir, token=token, bump=bump_revision,
                skip_hash_check=not has_trailer,
            )  # fmt: skip
            script = f"restore-{member.name}.sh"
            text = _script(member, command, data_dir=member_dir, bump=bump_revision, created=created)
            _write_private(staging / script, text, mode=0o700)
            kit.scripts[member.name] = out / script
            kit.commands[member.name] = command
        origin = {**(source or {}), "live keys": summary.live_keys}
        _write_private(staging / RUNBOOK, _runbook(kit, data_dir=data_dir, source=origin, created=created))
        _write_private(staging / KIT_RECORD, json.dumps(kit.record(), indent=2) + "\n")
    return kit


def _write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _copy_hashing(source: BinaryIO, target: BinaryIO) -> str:
    digest = hashlib.sha256()
    while data := source.read(1024 * 1024):
        digest.update(data)
        target.write(data)
    return digest.hexdigest()
