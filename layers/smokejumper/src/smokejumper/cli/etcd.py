"""`smokejumper etcd ...`: look inside a snapshot offline, and build the disaster-restore kit (the etcd source's
restore)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from rich.markup import escape

from smokejumper.cli.console import byte_progress, err, human_size, json_option, out, print_json
from smokejumper.errors import NotFoundError, UsageError
from smokejumper.store import open_store

if TYPE_CHECKING:  # the etcd modules load gRPC: only the commands that need them import them
    from smokejumper.sources.etcd.offline import EtcdSnapshot

SNAPSHOT_URL_HELP = (
    "an etcd artifact directory (s3://BUCKET/.../etcd/CLUSTER, file:///DIR, or a path), "
    "a snapshot.db.zst, or a plain snapshot file as `etcdctl snapshot save` writes it"
)


@click.group()
def etcd() -> None:
    """Work with etcd snapshots: look inside one offline, or build a restore kit from one."""


def _is_artifact(url: str) -> bool:
    """Whether `url` is an artifact directory (rather than a snapshot file on this machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "file"):
        return True
    return Path(parts.path if parts.scheme == "file" else url).expanduser().is_dir()


@contextmanager
def opened_snapshot(url: str, *, quiet: bool) -> Iterator[EtcdSnapshot]:
    """Fetch (checking every frame), check the trailer, open; the private temp copy goes away after."""
    from smokejumper.sources.etcd.offline import EtcdSnapshot, fetch_snapshot, scratch_directory

    with scratch_directory() as scratch:
        with byte_progress("fetching", 0, enabled=not quiet) as advance:
            fetched = fetch_snapshot(url, Path(scratch), progress=advance)
        with byte_progress("checking", 0, enabled=not quiet) as advance:
            snapshot = EtcdSnapshot(fetched.path, name=url, progress=advance)
        with snapshot:
            yield snapshot


@etcd.command("inspect")
@click.argument("url")
@click.option("--prefix", default="", help="Only keys starting with this (for --counts and --keys).")
@click.option("--revision", type=click.IntRange(min=1), help="Read as of this revision (default: the snapshot's own).")
@click.option("--counts", is_flag=True, help="Count live keys and value bytes per key prefix.")
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    help="With --counts: group by this many path segments (default: one more than --prefix has, or 2).",
)
@click.option("--keys", "list_keys", is_flag=True, help="List the live keys, one per line.")
@click.option("--get", "get_key", metavar="KEY", help="Print one key's value (raw bytes on stdout).")
@click.option("--export", "export_prefix", metavar="PREFIX", help="Write every live key under PREFIX to files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Directory for --export.")
@json_option
def inspect(
    url: str,
    prefix: str,
    revision: int | None,
    counts: bool,
    depth: int | None,
    list_keys: bool,
    get_key: str | None,
    export_prefix: str | None,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Read an etcd snapshot without running etcd: summary, counts, keys, one value, or an export.

    URL is an etcd artifact directory (s3://…, file:///…, or a path), a
    snapshot.db.zst, or a plain snapshot file as `etcdctl snapshot save` writes
    it. Artifacts are checked frame by frame while they download; a snapshot's sha256 trailer is checked before
    it is read; the bbolt structure is checked page by page as it is read. A
    damaged file is refused (exit code 3).

    Values are what etcd holds: Kubernetes objects are protobuf (`k8s\\0`
    prefix) unless the API server was told to store JSON. Deleted keys are not
    shown; --revision reads an earlier state, back to the last compaction.

    \b
    Examples:
      smokejumper etcd inspect s3://my-backups/k8s-prod/runs/20261125T020000Z-3f9a/etcd/main
      smokejumper etcd inspect snapshot.db --counts                 # keys per resource
      smokejumper etcd inspect snapshot.db --counts --prefix /registry/secrets/   # per namespace
      smokejumper etcd inspect snapshot.db --keys --prefix /registry/deployments/shop/
      smokejumper etcd inspect snapshot.db --get /registry/configmaps/shop/settings > settings.bin
      smokejumper etcd inspect snapshot.db --export /registry/secrets/shop/ --out ./shop-secrets
    """
    actions = [
        name
        for name, given in (
            ("--counts", counts),
            ("--keys", list_keys),
            ("--get", get_key),
            ("--export", export_prefix),
        )
        if given not in (False, None)
    ]
    if len(actions) > 1:
        raise UsageError(f"{' and '.join(actions)} cannot be combined", hint="ask for one of them per run")
    if export_prefix is not None and out_dir is None:
        raise UsageError("--export needs --out DIR", hint="e.g. --export /registry/secrets/shop/ --out ./shop-secrets")
    if out_dir is not None and export_prefix is None:
        raise UsageError("--out is only used with --export PREFIX")
    if depth is not None and not counts:
        raise UsageError("--depth is only used with --counts")
    if prefix and (get_key is not None or export_prefix is not None):
        raise UsageError(
            "--prefix is not used with --get or --export", hint="--get takes a whole key; --export its own prefix"
        )
    if out_dir is not None:
        from smokejumper.sources.etcd.offline import check_new_directory

        check_new_directory(out_dir)  # before a long download

    with opened_snapshot(url, quiet=as_json) as snapshot:
        if get_key is not None:
            _print_value(snapshot, get_key, revision, as_json)
        elif export_prefix is not None and out_dir is not None:
            _export(snapshot, export_prefix, out_dir, revision, as_json)
        elif list_keys:
            keys, _summary = snapshot.live(prefix.encode(), revision)
            names = sorted(keys)
            if as_json:
                print_json([name.decode("utf-8", errors="backslashreplace") for name in names])
            else:
                for name in names:
                    click.echo(name.decode("utf-8", errors="backslashreplace"))
        elif counts:
            _print_counts(snapshot, prefix, depth, revision, as_json)
        else:
            _print_summary(snapshot, prefix, revision, as_json)


def _print_summary(snapshot: EtcdSnapshot, prefix: str, revision: int | None, as_json: bool) -> None:
    _keys, summary = snapshot.live(prefix.encode(), revision)
    if as_json:
        print_json({**summary.record(), "at_revision": snapshot.check_revision(revision), "prefix": prefix})
        return
    compacted = summary.compact_revision
    at = snapshot.check_revision(revision)
    rows = [
        ("snapshot", summary.file),
        ("database", f"{human_size(summary.db_size)} ({summary.page_size} B pages), sha256 trailer {summary.trailer}"),
        ("revision", f"{summary.revision}" + (f" (compacted up to {compacted})" if compacted else "")),
        ("raft", f"term {summary.raft_term}, consistent index {summary.consistent_index}"),
        ("members", ", ".join(f"{m['name']} {' '.join(m['peer_urls'])}" for m in summary.members) or "-"),
        ("history", f"{summary.revisions} entries, {summary.tombstones} deletions (up to revision {at})"),
        (
            "live keys" + (f" under {prefix}" if prefix else "") + (f" at revision {at}" if revision else ""),
            f"{summary.live_keys} ({human_size(summary.live_bytes)} of values)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.print(f"{label:<{width}}  {value}", markup=False)


def _print_counts(snapshot: EtcdSnapshot, prefix: str, depth: int | None, revision: int | None, as_json: bool) -> None:
    from smokejumper.sources.etcd.offline import group_counts

    if depth is None:
        depth = prefix.strip("/").count("/") + 2 if prefix.strip("/") else 2
    keys, summary = snapshot.live(prefix.encode(), revision)
    groups = group_counts(keys, depth)
    at = snapshot.check_revision(revision)
    if as_json:
        print_json(
            {
                "revision": at,
                "prefix": prefix,
                "depth": depth,
                "keys": summary.live_keys,
                "bytes": summary.live_bytes,
                "groups": [{"prefix": group, "keys": n, "bytes": size} for group, n, size in groups],
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"live keys at revision {at}" + (f" under {prefix}" if prefix else ""), title_justify="left")
    table.add_column("prefix")
    table.add_column("keys", justify="right")
    table.add_column("value bytes", justify="right")
    for group, n, size in groups:
        table.add_row(escape(group), str(n), human_size(size))
    table.add_section()
    table.add_row("total", str(summary.live_keys), human_size(summary.live_bytes))
    out.print(table)


def _print_value(snapshot: EtcdSnapshot, key: str, revision: int | None, as_json: bool) -> None:
    at = snapshot.check_revision(revision)
    found = snapshot.get(key.encode(), at)
    if found is None:
        raise NotFoundError(
            f"{key!r} is not a live key at revision {at} of this snapshot",
            hint="list what is there with --keys --prefix …; a key deleted before the snapshot may still be "
            "found with --revision (back to the last compaction) or in an older run",
        )
    if as_json:
        record = found.record()
        record["value_base64"] = base64.b64encode(found.value).decode()
        try:
            record["value_text"] = found.value.decode("utf-8")
        except UnicodeDecodeError:
            record["value_text"] = None
        print_json(record)
        return
    err.print(
        f"{key}: revision {found.mod_revision} (created {found.create_revision}, version {found.version}), "
        f"{len(found.value)} bytes",
        markup=False,
    )
    sys.stdout.buffer.write(found.value)
    sys.stdout.buffer.flush()


def _export(snapshot: EtcdSnapshot, prefix: str, out_dir: Path, revision: int | None, as_json: bool) -> None:
    from smokejumper.sources.etcd.offline import export_prefix

    result = export_prefix(snapshot, prefix.encode(), out_dir, revision=revision)
    if as_json:
        print_json({k: v for k, v in vars(result).items() if k != "files"} | {"index": str(out_dir / "index.json")})
        return
    out.print(
        f"[green]✓[/] {result.keys} keys under {escape(prefix)!s} at revision {result.revision} "
        f"({human_size(result.bytes)}) written to {escape(str(out_dir))}; index.json lists them"
    )


@etcd.command("restore-kit")
@click.option("--from", "from_url", required=True, help="The snapshot: " + SNAPSHOT_URL_HELP + ".")
@click.option(
    "--member",
    "member_specs",
    multiple=True,
    required=True,
    metavar="NAME=PEER_URL",
    help="A member of the restored cluster; repeat for each (1, 3 or 5 members).",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="New kit directory."
)
@click.option(
    "--data-dir",
    default="/var/lib/etcd",
    show_default=True,
    help="Each member's etcd data directory; {name} is replaced by the member's name.",
)
@click.option(
    "--bump-revision",
    type=click.IntRange(min=0),
    default=1_000_000_000,
    show_default=True,
    help="How far past the snapshot's revision the restored cluster starts (0: no bump, no --mark-compacted).",
)
@click.option("--cluster-token", help="Initial cluster token of the restored cluster (default: a new one).")
@json_option
def restore_kit(
    from_url: str,
    member_specs: tuple[str, ...],
    out_dir: Path,
    data_dir: str,
    bump_revision: int,
    cluster_token: str | None,
    as_json: bool,
) -> None:
    """Write what restoring an etcd cluster from a snapshot takes, checked in advance.

    The snapshot is fetched, every frame and its sha256 trailer checked, and
    every page of it read. The kit (in --out, a new directory) holds the
    snapshot, one restore-NAME.sh per member (the exact `etcdutl snapshot
    restore` with --name, --initial-cluster, --initial-advertise-peer-urls,
    --data-dir, --bump-revision and --mark-compacted), RUNBOOK.md (the order:
    stop API servers, stop every etcd, restore, start, check) and kit.json.

    The revision bump keeps Kubernetes watches and caches correct; it needs
    etcdutl 3.5.10 or later on the members (the scripts check).

    \b
    Examples:
      smokejumper etcd restore-kit --from s3://my-backups/k8s-prod/runs/20261125T020000Z-3f9a/etcd/main \\
          --member etcd-0=https://10.0.1.10:2380 --member etcd-1=https://10.0.2.10:2380 \\
          --member etcd-2=https://10.0.3.10:2380 --out ./etcd-restore
      smokejumper etcd restore-kit --from snapshot.db --member default=http://127.0.0.1:2380 --out ./kit
    """
    from smokejumper.sources.base import EtcdRestore, source_for
    from smokejumper.sources.etcd.offline import check_new_directory, fetch_snapshot, scratch_directory
    from smokejumper.sources.etcd.restore_kit import check_members, parse_member
    from smokejumper.sources.etcd.source import restore_kit_from

    members = [parse_member(spec) for spec in member_specs]
    check_members(members)  # all of this before a long download
    check_new_directory(out_dir)
    request = EtcdRestore(tuple(members), out_dir, data_dir, bump_revision, cluster_token, {"from": from_url})
    with byte_progress("fetching", 0, enabled=not as_json) as advance:
        if _is_artifact(from_url):
            kit = source_for("etcd").restore(
                open_store(from_url), "", request, on_progress=lambda _what, _rows, size: advance(size)
            )
        else:
            # A plain snapshot file (etcdctl's, or a snapshot.db.zst): no artifact record goes with it.
            with scratch_directory() as scratch:
                kit = restore_kit_from(fetch_snapshot(from_url, Path(scratch), progress=advance), request)
    for warning in kit.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if as_json:
        print_json(kit.record())
        return
    out.print(
        f"[green]✓[/] restore kit for {len(members)} member(s) in {escape(str(out_dir))}: snapshot at revision "
        f"{kit.revision}, restored cluster starts at revision {kit.revision + kit.bump_revision} or more"
    )
    for member in members:
        out.print(f"  {member.name}: {kit.scripts[member.name].name}", markup=False)
    out.print(f"  read {kit.runbook.name} first: it gives the order of operations", markup=False)
