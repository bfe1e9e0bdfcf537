"""etcd snapshots read offline: the keyspace at the snapshot's revision, without running etcd.

etcd keeps its MVCC history in the bbolt bucket `key`: the bucket's keys are
revisions (8-byte big-endian main revision, `_`, 8-byte sub revision, and a
trailing `t` when the entry is a deletion: a tombstone), its values are
`mvccpb.KeyValue` protobufs. Walking the bucket in order replays history;
the last put of a key not followed by its tombstone is its live value. The
key index etcd builds in memory at start-up is not in the file, so every
question here is answered by one scan of the bucket, holding per live key
only its revision and value size (values are read again when written out).

A snapshot arrives as a file `etcdctl snapshot save` wrote (database +
32-byte sha256 trailer, which is checked), a member's raw `member/snap/db`
(no trailer; only the bbolt structure can be checked), or a smokejumper
artifact (every frame checked while it is decompressed to a private temp
file). `fetch_snapshot` handles the three; `EtcdSnapshot` reads the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, urlsplit

from etcd3.etcdrpc import kv_pb2  # the generated mvccpb.KeyValue message: decoding it is the protobuf library's job

from smokejumper.artifact import read_frame
from smokejumper.catalog import ArtifactRecord, read_artifact_record
from smokejumper.errors import IntegrityError, NotFoundError, SmokejumperError, UsageError
from smokejumper.sources.etcd.bbolt import BoltFile
from smokejumper.sources.etcd.snapshot import SNAPSHOT_FILE, SNAPSHOT_FRAME, TRAILER_SIZE
from smokejumper.store import Store, join_key, open_store

__all__ = [
    "EtcdSnapshot",
    "ExportResult",
    "FetchedSnapshot",
    "KeyValue",
    "LiveKey",
    "SnapshotSummary",
    "export_prefix",
    "fetch_artifact_snapshot",
    "fetch_snapshot",
]

REVISION = struct.Struct(">Q1sQ")
REVISION_SIZE = REVISION.size  # 17
TOMBSTONE = b"t"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ_CHUNK = 1024 * 1024

KEY_BUCKET = b"key"
META_BUCKET = b"meta"
MEMBERS_BUCKET = b"members"

Progress = Callable[[int], None]
"""Called with a number of bytes just handled (for progress bars)."""


# --- getting a snapshot file onto local disk ----------------------------------


def _private_file(directory: Path, name: str) -> tuple[int, Path]:
    path = directory / name
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), path


@dataclass(frozen=True)
class FetchedSnapshot:
    path: Path
    record: ArtifactRecord | None  # the artifact it came from, if it came from one


def fetch_snapshot(url: str, directory: Path, *, progress: Progress | None = None) -> FetchedSnapshot:
    """A local, checked copy of the snapshot at `url`, as etcdctl writes it (database + trailer).

    `url` is an etcd artifact directory (s3://… or file:// or a path holding
    artifact.json), a `snapshot.db.zst` file, or a plain snapshot file (then
    it is used where it is). Copies go into `directory`, mode 0600:
    snapshots hold every Kubernetes secret.
    """
    local = Path(url).expanduser() if urlsplit(url).scheme == "" else None
    if local is not None and local.is_file():
        with local.open("rb") as head:
            magic = head.read(4)
        if magic != ZSTD_MAGIC:
            return FetchedSnapshot(local, None)
        return FetchedSnapshot(_decompress_file(local, directory, progress), None)
    if local is not None and not local.exists():
        raise NotFoundError(
            f"{url}: no such file or directory",
            hint="give a snapshot file (etcdctl snapshot save), a snapshot.db.zst, or an artifact directory URL",
        )
    return fetch_artifact_snapshot(open_store(url), directory, progress=progress)


def fetch_artifact_snapshot(store: Store, directory: Path, *, progress: Progress | None = None) -> FetchedSnapshot:
    """A local, checked copy of the etcd artifact at the root of `store` (every frame checked on the way)."""
    record, _digest = read_artifact_record(store)
    return FetchedSnapshot(_fetch_artifact(store, record, store.url, directory, progress), record)


def _decompress_file(source: Path, directory: Path, progress: Progress | None) -> Path:
    import zstandard

    fd, path = _private_file(directory, "snapshot.db")
    try:
        with source.open("rb") as compressed, os.fdopen(fd, "wb") as out:
            reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
            while data := reader.read(READ_CHUNK):
                out.write(data)
                if progress:
                    progress(len(data))
    except zstandard.ZstdError as exc:
        path.unlink(missing_ok=True)
        raise IntegrityError(f"{source}: not valid zstd data ({exc})", hint="the file is damaged or not zstd") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _fetch_artifact(store: Store, record: ArtifactRecord, url: str, directory: Path, progress: Progress | None) -> Path:
    if record.engine != "etcd":
        raise UsageError(
            f"{url} holds a {record.engine} backup, not an etcd snapshot",
            hint="point at the etcd artifact of a run: `smokejumper runs show RUN` lists a run's artifacts",
        )
    data_file = next((file for file in record.files if file.name == SNAPSHOT_FILE), None)
    frame = next((f for f in data_file.frames if f.name == SNAPSHOT_FRAME), None) if data_file else None
    if data_file is None or frame is None:
        raise IntegrityError(f"{url}: artifact.json lists no {SNAPSHOT_FILE} frame {SNAPSHOT_FRAME!r}")
    fd, path = _private_file(directory, "snapshot.db")
    try:
        with os.fdopen(fd, "wb") as out:
            # read_frame checks length, sha256 and zstd's checksum; it raises before the last piece is handed over.
            for data in read_frame(store, join_key(SNAPSHOT_FILE), frame):
                out.write(data)
                if progress:
                    progress(len(data))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


# --- reading it ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    def record(self) -> dict[str, Any]:
        return {
            "key": _text(self.key),
            "create_revision": self.create_revision,
            "mod_revision": self.mod_revision,
            "version": self.version,
            "lease": self.lease,
            "size": len(self.value),
        }


@dataclass(frozen=True, slots=True)  # one per live key: slots keep a million of them small
class LiveKey:
    """Where a live key's current value is, and how big it is."""

    main: int
    sub: int
    size: int


@dataclass
class SnapshotSummary:
    file: str
    db_size: int
    trailer: str  # "verified" or "absent"
    page_size: int
    revision: int
    compact_revision: int | None
    consistent_index: int | None
    raft_term: int | None
    members: list[dict[str, Any]]
    revisions: int = 0
    tombstones: int = 0
    live_keys: int = 0
    live_bytes: int = 0

    def record(self) -> dict[str, Any]:
        return dict(vars(self))


def _key_value(kv: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _text(key: bytes) -> str:
    return key.decode("utf-8", errors="backslashreplace")


def _be_int(raw: bytes | None) -> int | None:
    return int.from_bytes(raw, "big") if raw is not None and len(raw) == 8 else None


class EtcdSnapshot:
    """A snapshot file opened for reading: trailer checked, bbolt structure checked as it is read."""

    def __init__(self, path: Path, *, name: str | None = None, progress: Progress | None = None) -> None:
        self.path = path
        self.name = name or str(path)
        size = path.stat().st_size
        # etcd's own rule (etcdutl snapshot restore): a file whose size is 32 past a multiple of 512 has a trailer.
        self.has_trailer = size % 512 == TRAILER_SIZE
        self.db_size = size - TRAILER_SIZE if self.has_trailer else size
        if self.has_trailer:
            self._check_trailer(progress)
        self.bolt = BoltFile(path, size=self.db_size, name=self.name)
        try:
            missing = [b.decode() for b in (KEY_BUCKET, META_BUCKET) if not self.bolt.has_bucket(b)]
            if missing:
                raise IntegrityError(
                    f"{self.name} is a bbolt database but not etcd's: no bucket {', '.join(missing)}",
                    hint="give a file written by `etcdctl snapshot save` or `smokejumper backup etcd`",
                )
            self.meta = dict(self.bolt.items(META_BUCKET))
            last = self.bolt.last(KEY_BUCKET)
            # As etcd computes it at start-up: compacting away a final deletion removes the newest
            # entry from the bucket, and the compaction marks then hold the revision.
            newest = self._parse_revision(last[0])[0] if last else 1
            self.revision = max(newest, self.compact_revision or 0)
        except BaseException:
            self.bolt.close()
            raise

    def _check_trailer(self, progress: Progress | None) -> None:
        digest = hashlib.sha256()
        with self.path.open("rb") as source:
            left = self.db_size
            while left:
                data = source.read(min(READ_CHUNK, left))
                if not data:
                    break
                digest.update(data)
                left -= len(data)
                if progress:
                    progress(len(data))
            trailer = source.read(TRAILER_SIZE)
        if digest.digest() != trailer:
            raise IntegrityError(
                f"{self.name} failed its checksum: the sha256 of its {self.db_size} database bytes is "
                f"{digest.hexdigest()[:16]}…, its trailer says {trailer.hex()[:16]}…",
                hint="the file is damaged or truncated: use another run's snapshot (`smokejumper runs list`)",
            )

    def close(self) -> None:
        self.bolt.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- history ----------------------------------------------------------------

    def _parse_revision(self, raw: bytes) -> tuple[int, int, bool]:
        tombstone = len(raw) == REVISION_SIZE + 1 and raw[-1:] == TOMBSTONE
        if len(raw) != REVISION_SIZE + tombstone or raw[8:9] != b"_":
            raise self.bolt.damaged(f"key bucket entry {raw.hex()} is not an etcd revision")
        main, _sep, sub = REVISION.unpack_from(raw)
        return main, sub, tombstone

    @property
    def compact_revision(self) -> int | None:
        """History before this revision may be gone. A compaction that was scheduled but not
        finished (the snapshot was taken during one, or a restore used --mark-compacted) counts:
        below it, history may be partly deleted, and etcd itself treats it as compacted."""
        marks = [self._parse_revision(raw)[0] for name in (b"finishedCompactRev", b"scheduledCompactRev")
                 if (raw := self.meta.get(name))]  # fmt: skip
        return max(marks) if marks else None

    def check_revision(self, revision: int | None) -> int:
        """The revision to read at: `revision`, or the snapshot's own; refuses one the file cannot answer."""
        if revision is None:
            return self.revision
        if revision > self.revision:
            raise UsageError(
                f"revision {revision} is after the snapshot's revision {self.revision}",
                hint="leave out --revision to read the snapshot as taken",
            )
        compacted = self.compact_revision or 0
        if revision < compacted:
            raise UsageError(
                f"revision {revision} was compacted away before the snapshot: history starts at {compacted}",
                hint=f"give a revision from {compacted} to {self.revision}, or use an older snapshot",
            )
        return revision

    def history(self, revision: int | None = None) -> Iterator[tuple[int, int, bool, bytes]]:
        """(main, sub, deleted, KeyValue protobuf) of every entry up to `revision`, oldest first."""
        upto = self.check_revision(revision)
        for raw, value in self.bolt.items(KEY_BUCKET):
            main, sub, deleted = self._parse_revision(raw)
            if main > upto:
                return
            yield main, sub, deleted, value

    def _decode(self, value: bytes, main: int) -> kv_pb2.KeyValue:
        try:
            kv = kv_pb2.KeyValue.FromString(value)
        except Exception as exc:  # protobuf's DecodeError, whichever implementation is loaded
            raise self.bolt.damaged(f"the entry at revision {main} is not a KeyValue protobuf ({exc})") from exc
        return kv

    def live(self, prefix: bytes = b"", revision: int | None = None) -> tuple[dict[bytes, LiveKey], SnapshotSummary]:
        """The live keys under `prefix` at `revision`, with a summary of what the scan saw."""
        summary = self.summary_head()
        keys: dict[bytes, LiveKey] = {}
        for main, sub, deleted, value in self.history(revision):
            summary.revisions += 1
            kv = self._decode(value, main)
            key = kv.key
            if deleted:
                summary.tombstones += 1
                if key.startswith(prefix):
                    keys.pop(key, None)
            elif key.startswith(prefix):
                keys[key] = LiveKey(main, sub, len(kv.value))
        summary.live_keys = len(keys)
        summary.live_bytes = sum(entry.size for entry in keys.values())
        return keys, summary

    def values(self, wanted: dict[bytes, LiveKey], revision: int | None = None) -> Iterator[KeyValue]:
        """The KeyValues of `wanted` (from `live`), in revision order, in a second scan."""
        positions = {(entry.main, entry.sub) for entry in wanted.values()}
        for main, sub, deleted, value in self.history(revision):
            if not deleted and (main, sub) in positions:
                yield _key_value(self._decode(value, main))

    def get(self, key: bytes, revision: int | None = None) -> KeyValue | None:
        found: KeyValue | None = None
        for main, _sub, deleted, value in self.history(revision):
            kv = self._decode(value, main)
            if kv.key == key:
                found = None if deleted else _key_value(kv)
        return found

    def summary_head(self) -> SnapshotSummary:
        members = []
        if self.bolt.has_bucket(MEMBERS_BUCKET):
            for member_id, raw in self.bolt.items(MEMBERS_BUCKET):
                try:
                    member = json.loads(raw)
                except ValueError:
                    member = {}
                members.append(
                    {
                        "id": member_id.decode(errors="replace"),
                        "name": member.get("name"),
                        "peer_urls": member.get("peerURLs", []),
                    }
                )
        return SnapshotSummary(
            file=self.name,
            db_size=self.db_size,
            trailer="verified" if self.has_trailer else "absent",
            page_size=self.bolt.meta.page_size,
            revision=self.revision,
            compact_revision=self.compact_revision,
            consistent_index=_be_int(self.meta.get(b"consistent_index")),
            raft_term=_be_int(self.meta.get(b"term")),
            members=members,
        )


def group_counts(keys: dict[bytes, LiveKey], depth: int) -> list[tuple[str, int, int]]:
    """(group, keys, value bytes) per key prefix of `depth` path segments, biggest group first.

    `/registry/secrets/kube-system/token` at depth 3 is in `/registry/secrets/kube-system`.
    """
    counts: dict[bytes, list[int]] = defaultdict(lambda: [0, 0])
    for key, entry in keys.items():
        lead = key.startswith(b"/")
        parts = key.split(b"/", depth + lead)
        group = b"/".join(parts[: depth + lead]) if len(parts) > depth + lead else key
        tally = counts[group]
        tally[0] += 1
        tally[1] += entry.size
    return sorted(((_text(g), n, size) for g, (n, size) in counts.items()), key=lambda row: (-row[1], row[0]))


# --- export ---------------------------------------------------------------------

VALUE_FILE = "%value"  # quote() never writes a bare % followed by non-hex, so no key segment maps here
INDEX_FILE = "index.json"
KEYS_DIRECTORY = "keys"  # values go under here, so that no key can land on index.json
MAX_SEGMENT = 200


def _segment(raw: bytes) -> str:
    if raw in (b"", b".", b".."):
        return {b"": "%", b".": "%2E", b"..": "%2E%2E"}[raw]
    encoded = quote(raw, safe="-._~@:=+,")
    if len(encoded) > MAX_SEGMENT:
        encoded = f"%{hashlib.sha256(raw).hexdigest()}"
    return encoded


def key_path(key: bytes) -> tuple[str, ...]:
    """The relative path a key is exported to: its `/`-separated segments, each percent-encoded
    so that no segment can climb out of the directory or hide as `.`/`..`."""
    parts = key[1:].split(b"/") if key.startswith(b"/") else [b"%noslash", *key.split(b"/")]
    return tuple(_segment(part) if part != b"%noslash" else "%noslash" for part in parts)


@dataclass
class ExportResult:
    directory: str
    prefix: str
    revision: int
    keys: int = 0
    bytes: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


def export_prefix(
    snapshot: EtcdSnapshot,
    prefix: bytes,
    out: Path,
    *,
    revision: int | None = None,
    on_key: Callable[[KeyValue], None] | None = None,
) -> ExportResult:
    """Write the live value of every key under `prefix` to a file under `out/keys/`, plus `index.json`
    (key, file, revisions, version, lease, size, sha256). `out` must be empty or absent: nothing
    is overwritten. Files are 0600 and directories 0700, as the values may be secrets."""
    check_new_directory(out)
    at = snapshot.check_revision(revision)
    keys, _summary = snapshot.live(prefix, at)
    paths = {key: key_path(key) for key in keys}
    directories = {path[:cut] for path in paths.values() for cut in range(1, len(path))}
    result = ExportResult(str(out), _text(prefix), at)
    with staged_directory(out) as staging:
        try:
            _export_values(snapshot, keys, at, paths, directories, staging, result, on_key)
        except OSError as exc:
            raise SmokejumperError(
                f"cannot write the export under {out}: {exc.strerror or exc} ({exc.filename})",
                hint="on a case-insensitive file system two keys differing only in case collide; "
                "export to a case-sensitive one, or a narrower --export prefix",
            ) from exc
    return result


def _export_values(
    snapshot: EtcdSnapshot,
    keys: dict[bytes, LiveKey],
    at: int,
    paths: dict[bytes, tuple[str, ...]],
    directories: set[tuple[str, ...]],
    out: Path,
    result: ExportResult,
    on_key: Callable[[KeyValue], None] | None,
) -> None:
    for kv in snapshot.values(keys, at):
        relative = paths[kv.key]
        if relative in directories:  # the key is also a "directory" of longer keys
            relative = (*relative, VALUE_FILE)
        folder = out
        for part in (KEYS_DIRECTORY, *relative[:-1]):  # mkdir(parents=True) would give the parents umask's mode
            folder = folder / part
            if not folder.is_dir():
                folder.mkdir(mode=0o700)
        target = folder / relative[-1]
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(kv.value)
        result.keys += 1
        result.bytes += len(kv.value)
        digest = hashlib.sha256(kv.value).hexdigest()
        result.files.append(
            {
                **kv.record(),
                "key_base64": base64.b64encode(kv.key).decode(),  # "key" is for reading; this is exact
                "file": "/".join((KEYS_DIRECTORY, *relative)),
                "sha256": digest,
            }
        )
        if on_key:
            on_key(kv)
    result.files.sort(key=lambda entry: entry["file"])
    index = {"prefix": result.prefix, "revision": at, "snapshot": snapshot.name, "keys": result.files}
    fd = os.open(out / INDEX_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(index, handle, indent=2)


def check_new_directory(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not an empty directory", hint="choose a new --out directory")


@contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """A private directory next to `out` that becomes `out` only if the block succeeds:
    a failure part-way leaves no half-written directory behind."""
    check_new_directory(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        os.replace(staging, out)  # replaces an empty `out` too
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def scratch_directory() -> tempfile.TemporaryDirectory[str]:
    """A private (0700) temp directory for fetched snapshots, removed when done."""
    return tempfile.TemporaryDirectory(prefix="smokejumper-etcd-")
