"""A read-only reader of bbolt files (etcd's backend database) that trusts nothing it reads.

An etcd snapshot is a bbolt file: fixed-size pages, two meta pages (0 and 1)
naming the root of a B+tree of buckets, each bucket a B+tree of its own.
This reader exists so an operator can look inside last night's snapshot
without running etcd (`smokejumper etcd inspect`), and so the restore kit can
reject a damaged snapshot before anyone stops a cluster for it.

Layout (bbolt 1.3, little-endian; etcd 3.4-3.6 write nothing else):
  page header   id u64, flags u16, count u16, overflow u32           (16 bytes)
  meta          magic u32, version u32, page_size u32, flags u32,
                root bucket (root pgid u64, sequence u64), freelist u64,
                high-water pgid u64, txid u64, checksum u64 (FNV-1a 64 of
                the 56 bytes before it)
  branch elem   pos u32, ksize u32, child pgid u64   (key at elem + pos)
  leaf elem     flags u32, pos u32, ksize u32, vsize u32
                (key at elem + pos, value right after it; flag 1 = the
                value is a bucket header: root pgid u64, sequence u64, and
                for an inline bucket (root 0) the bucket's one page follows)

A damaged file must give a clear error, never a crash, a hang or a silently
short answer, so every page read is checked: its id lies below the
high-water mark, the id written in it is its own, its kind is the one the
tree expects, it and its overflow pages lie inside the file, its elements
and their keys and values lie inside it, no page is visited twice in one
walk (a cycle), the tree is not absurdly deep, and a bucket's keys come out
strictly increasing. Pages are read one at a time with pread, so memory
does not grow with the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self

from smokejumper.errors import IntegrityError

__all__ = ["BoltFile", "BoltMeta", "DamagedDatabaseError"]

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER = struct.Struct("<QHHI")
META = struct.Struct("<IIIIQQQQQQ")
META_CHECKSUMMED = META.size - 8
BRANCH_ELEMENT = struct.Struct("<IIQ")
LEAF_ELEMENT = struct.Struct("<IIII")
BUCKET_HEADER = struct.Struct("<QQ")

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF = 0x01

MAX_SPAN = 256 * 1024 * 1024  # etcd never writes a page this big (its requests are limited to a few MiB)
MAX_DEPTH = 64  # a B+tree of 4 KiB pages this deep would hold more keys than atoms in the universe
PAGE_SIZES = tuple(1 << shift for shift in range(9, 21))  # 512 B .. 1 MiB


class DamagedDatabaseError(IntegrityError):
    """The file is not a bbolt database, or a structure inside it is broken."""


def fnv1a_64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


@dataclass(frozen=True)
class BoltMeta:
    page: int  # 0 or 1: which meta page is in force
    page_size: int
    root: int  # page of the root bucket's tree
    freelist: int
    high_water: int  # pages in use: every valid page id is below it
    txid: int


def _parse_meta(page: int, data: bytes) -> BoltMeta | str:
    """The meta in a meta page's bytes, or why it is not valid."""
    if len(data) < PAGE_HEADER.size + META.size:
        return "the file is too short to hold it"
    page_id, flags, _count, _overflow = PAGE_HEADER.unpack_from(data)
    magic, version, page_size, _flags, root, _sequence, freelist, high_water, txid, checksum = META.unpack_from(
        data, PAGE_HEADER.size
    )
    if magic != MAGIC:
        return f"magic number {magic:#010x} is not bbolt's {MAGIC:#010x} (not a bbolt database?)"
    if version != VERSION:
        return f"format version {version}, this reader knows version {VERSION}"
    body = data[PAGE_HEADER.size : PAGE_HEADER.size + META_CHECKSUMMED]
    if fnv1a_64(body) != checksum:
        return "its checksum does not match its contents"
    if page_id != page or not flags & META_PAGE:
        return f"it is marked as page {page_id} with flags {flags:#x}"
    if page_size not in PAGE_SIZES:
        return f"page size {page_size} is not a power of two between 512 B and 1 MiB"
    return BoltMeta(page, page_size, root, freelist, high_water, txid)


class BoltFile:
    """One bbolt file opened read-only. `size` limits reading to the first `size` bytes
    (an etcd snapshot is the database followed by a 32-byte sha256 trailer)."""

    def __init__(self, path: str | os.PathLike[str], *, size: int | None = None, name: str | None = None) -> None:
        self.name = name or os.fspath(path)
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self.size = os.fstat(self._fd).st_size if size is None else size
            self.meta = self._read_meta()
        except BaseException:
            os.close(self._fd)
            raise

    # --- plumbing -------------------------------------------------------------

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def damaged(self, what: str) -> DamagedDatabaseError:
        return DamagedDatabaseError(
            f"{self.name} is damaged: {what}",
            hint="this copy cannot be trusted: take the snapshot from another run (`smokejumper runs list`) "
            "or another copy; `smokejumper verify` tells whether the stored artifact itself is intact",
        )

    def _pread(self, length: int, offset: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise self.damaged(f"wanted {length} bytes at offset {offset}, the file ends at {self.size}")
        return data

    def _read_meta(self) -> BoltMeta:
        if self.size < 2 * PAGE_SIZES[0]:
            raise self.damaged(f"{self.size} bytes is too short for a bbolt database (two meta pages at least)")
        first = _parse_meta(0, self._pread(PAGE_HEADER.size + META.size, 0))
        # Page 1 sits one page in; when page 0 is broken its page size is unknown, so try each.
        sizes = [first.page_size] if isinstance(first, BoltMeta) else list(PAGE_SIZES)
        second: BoltMeta | str = "the file is too short to hold it"
        for page_size in sizes:
            if page_size + PAGE_HEADER.size + META.size <= self.size:
                second = _parse_meta(1, self._pread(PAGE_HEADER.size + META.size, page_size))
                if isinstance(second, BoltMeta):
                    break
        valid = [meta for meta in (first, second) if isinstance(meta, BoltMeta)]
        if not valid:
            raise self.damaged(f"neither meta page is valid: page 0: {first}; page 1: {second}")
        # bbolt uses the meta of the latest transaction, and falls back to the other one.
        for meta in sorted(valid, key=lambda m: m.txid, reverse=True):
            if meta.high_water * meta.page_size <= self.size and 2 <= meta.root < meta.high_water:
                return meta
        meta = max(valid, key=lambda m: m.txid)
        if meta.high_water * meta.page_size > self.size:
            raise self.damaged(
                f"the meta page says {meta.high_water} pages of {meta.page_size} bytes "
                f"({meta.high_water * meta.page_size} bytes), the file has {self.size} (truncated?)"
            )
        raise self.damaged(f"the root bucket's page {meta.root} lies outside the {meta.high_water} pages in use")

    def _page(self, page_id: int, parent: str) -> tuple[int, int, bytes]:
        """(flags, count, bytes of the page and its overflow pages), after checking its bounds."""
        meta = self.meta
        if not 2 <= page_id < meta.high_water:
            raise self.damaged(f"{parent} points to page {page_id}, outside the {meta.high_water} pages in use")
        header = self._pread(PAGE_HEADER.size, page_id * meta.page_size)
        stored_id, flags, count, overflow = PAGE_HEADER.unpack(header)
        if stored_id != page_id:
            raise self.damaged(f"page {page_id} (from {parent}) says it is page {stored_id}")
        if page_id + 1 + overflow > meta.high_water:
            raise self.damaged(f"page {page_id} runs over {overflow} more pages, past the {meta.high_water} in use")
        span = (1 + overflow) * meta.page_size
        if span > MAX_SPAN:
            # Checked before reading: a flipped overflow count must not make us allocate gigabytes.
            raise self.damaged(
                f"page {page_id} claims {overflow} overflow pages ({span >> 20} MiB): no etcd page is that big"
            )
        return flags, count, header + self._pread(span - PAGE_HEADER.size, page_id * meta.page_size + PAGE_HEADER.size)

    # --- trees ------------------------------------------------------------------

    def _leaf_entries(self, data: bytes, count: int, where: str) -> Iterator[tuple[int, bytes, bytes]]:
        """(flags, key, value) of a leaf page's elements."""
        end = len(data)
        if PAGE_HEADER.size + count * LEAF_ELEMENT.size > end:
            raise self.damaged(f"{where} claims {count} elements, more than fit in it")
        unpack = LEAF_ELEMENT.unpack_from
        for index in range(count):
            at = PAGE_HEADER.size + index * LEAF_ELEMENT.size
            flags, pos, ksize, vsize = unpack(data, at)
            if flags & ~BUCKET_LEAF:
                raise self.damaged(f"{where}: element {index} has unknown flags {flags:#x}")
            start = at + pos
            if start + ksize + vsize > end:
                raise self.damaged(f"{where}: element {index} points outside the page")
            yield flags, data[start : start + ksize], data[start + ksize : start + ksize + vsize]

    def _walk(self, root: int, inline: bytes | None, where: str) -> Iterator[tuple[int, bytes, bytes]]:
        """Every leaf element of the tree at page `root` (or of an inline bucket's page), in key order."""
        if inline is not None:
            if len(inline) < PAGE_HEADER.size:
                raise self.damaged(f"{where} is an inline bucket too short for a page header")
            _id, flags, count, _overflow = PAGE_HEADER.unpack_from(inline)
            if flags != LEAF_PAGE:
                raise self.damaged(f"{where} is an inline bucket whose page has flags {flags:#x}, not a leaf")
            yield from self._ordered(self._leaf_entries(inline, count, where), where)
            return
        yield from self._ordered(self._walk_pages(root, where), where)

    def _walk_pages(self, root: int, where: str) -> Iterator[tuple[int, bytes, bytes]]:
        visited: set[int] = set()
        stack: list[tuple[int, str, int]] = [(root, where, 0)]
        while stack:
            page_id, parent, depth = stack.pop()
            if page_id in visited:
                raise self.damaged(f"page {page_id} is reached twice from {where} (the tree has a cycle)")
            if depth > MAX_DEPTH:
                raise self.damaged(f"the tree of {where} is more than {MAX_DEPTH} levels deep (a cycle?)")
            visited.add(page_id)
            flags, count, data = self._page(page_id, parent)
            here = f"page {page_id} of {where}"
            if flags == LEAF_PAGE:
                yield from self._leaf_entries(data, count, here)
            elif flags == BRANCH_PAGE:
                if count == 0 or PAGE_HEADER.size + count * BRANCH_ELEMENT.size > len(data):
                    raise self.damaged(f"{here} is a branch claiming {count} children")
                children = [BRANCH_ELEMENT.unpack_from(data, PAGE_HEADER.size + i * 16)[2] for i in range(count)]
                # The stack is last-in first-out: push the children right to left to visit them in order.
                stack.extend((child, here, depth + 1) for child in reversed(children))
            else:
                raise self.damaged(f"{here} has flags {flags:#x} where a branch or leaf page belongs")

    def _ordered(self, entries: Iterator[tuple[int, bytes, bytes]], where: str) -> Iterator[tuple[int, bytes, bytes]]:
        previous: bytes | None = None
        for entry in entries:
            key = entry[1]
            if previous is not None and key <= previous:
                raise self.damaged(f"keys of {where} are out of order ({previous!r} then {key!r})")
            previous = key
            yield entry

    def _bucket_root(self, name: bytes) -> tuple[int, bytes | None]:
        for flags, key, value in self._walk(self.meta.root, None, "the root bucket"):
            if key == name:
                if not flags & BUCKET_LEAF or len(value) < BUCKET_HEADER.size:
                    raise self.damaged(f"the root bucket's entry {name!r} is not a bucket")
                root, _sequence = BUCKET_HEADER.unpack_from(value)
                return root, (value[BUCKET_HEADER.size :] if root == 0 else None)
        raise KeyError(name)

    # --- the public face ------------------------------------------------------

    def buckets(self) -> list[bytes]:
        """Names of the top-level buckets."""
        entries = self._walk(self.meta.root, None, "the root bucket")
        return [key for flags, key, _value in entries if flags & BUCKET_LEAF]

    def items(self, bucket: bytes, *, nested: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of a top-level bucket, in key order. Raises KeyError when there is no such bucket.

        A nested bucket is damage unless `nested` (then it is skipped): etcd's buckets hold none, so an
        element flagged as one is a flipped bit that would otherwise silently hide an entry."""
        root, inline = self._bucket_root(bucket)
        where = f"bucket {bucket.decode(errors='replace')!r}"
        for flags, key, value in self._walk(root, inline, where):
            if not flags & BUCKET_LEAF:
                yield key, value
            elif not nested:
                raise self.damaged(f"{where}: entry {key[:64]!r} is marked as a nested bucket")

    def check(self) -> int:
        """Read every page of every bucket (raising on damage); returns the number of entries."""
        return sum(1 for bucket in self.buckets() for _entry in self.items(bucket, nested=True))

    def last(self, bucket: bytes) -> tuple[bytes, bytes] | None:
        """The (key, value) with the greatest key in a top-level bucket (None if it is empty),
        read down the rightmost path of its tree without walking the rest."""
        root, inline = self._bucket_root(bucket)
        where = f"bucket {bucket.decode(errors='replace')!r}"
        page_id, parent = root, where
        for _depth in range(MAX_DEPTH + 1):
            if inline is not None:
                if len(inline) < PAGE_HEADER.size:
                    raise self.damaged(f"{where} is an inline bucket too short for a page header")
                _id, flags, count, _overflow = PAGE_HEADER.unpack_from(inline)
                data = inline
            else:
                flags, count, data = self._page(page_id, parent)
            here = f"page {page_id} of {where}"
            if flags == LEAF_PAGE:
                elements = self._leaf_entries(data, count, here)
                entries = [(key, value) for kind, key, value in elements if not kind & BUCKET_LEAF]
                return entries[-1] if entries else None
            if flags != BRANCH_PAGE or inline is not None:
                raise self.damaged(f"{here} has flags {flags:#x} where a branch or leaf page belongs")
            if count == 0 or PAGE_HEADER.size + count * BRANCH_ELEMENT.size > len(data):
                raise self.damaged(f"{here} is a branch claiming {count} children")
            page_id, parent = BRANCH_ELEMENT.unpack_from(data, PAGE_HEADER.size + (count - 1) * 16)[2], here
        raise self.damaged(f"the tree of {where} is more than {MAX_DEPTH} levels deep (a cycle?)")

    def has_bucket(self, bucket: bytes) -> bool:
        try:
            self._bucket_root(bucket)
        except KeyError:
            return False
        return True
