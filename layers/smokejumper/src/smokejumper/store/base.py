"""The artifact store interface: keys and bytes, nothing about engines.

A store is rooted at a URL (`file:///dir` or `s3://bucket/prefix`); keys are
relative, '/'-separated paths under that root. Writing is streaming and
all-or-nothing: an object becomes visible only when its writer commits, and a
writer that fails or is abandoned leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Self

from smokejumper.errors import NotFoundError, StoreError, UsageError

READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What a committed write produced: enough to record and later verify it."""

    key: str
    size: int
    sha256: str
    version_id: str | None = None


_BAD_KEY_PART = re.compile(r"^(\.|\.\.)?$")


def check_key(key: str) -> str:
    """Reject keys that would escape the root or be ambiguous on a filesystem."""
    parts = key.split("/")
    if key.startswith("/") or any(_BAD_KEY_PART.match(part) for part in parts):
        raise UsageError(
            f"invalid store key {key!r}",
            hint="keys are relative paths like 'runs/RUN_ID/manifest.json' without '.', '..' or empty parts",
        )
    return key


def join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


class ObjectWriter(ABC):
    """A streaming, all-or-nothing writer of one object.

    Use as a context manager: leaving the block normally commits, leaving it
    with an exception aborts. `result` holds the StoredObject after commit.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.size = 0
        self._digest = hashlib.sha256()
        self._state = "open"
        self.result: StoredObject | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._state != "open":
            raise StoreError(f"write to {self.key!r} after it was {self._state}")
        view = memoryview(data)
        if not view.nbytes:
            return 0
        try:
            self._write(view)
        except BaseException:
            self.abort()
            raise
        self._digest.update(view)
        self.size += view.nbytes
        return view.nbytes

    def commit(self) -> StoredObject:
        if self._state != "open":
            raise StoreError(f"commit of {self.key!r} after it was {self._state}")
        try:
            version_id = self._commit()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self.result = StoredObject(self.key, self.size, self._digest.hexdigest(), version_id)
        return self.result

    def abort(self) -> None:
        """Discard everything written. Safe to call more than once."""
        if self._state == "open":
            self._state = "aborted"
            self._abort()

    @property
    def sha256(self) -> str:
        """Digest of the bytes written so far."""
        return self._digest.hexdigest()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()

    @abstractmethod
    def _write(self, data: memoryview) -> None: ...

    @abstractmethod
    def _commit(self) -> str | None:
        """Make the object visible; return its version id if the store has one."""

    @abstractmethod
    def _abort(self) -> None: ...


class Store(ABC):
    """Bytes under keys, rooted at a URL."""

    url: str

    @abstractmethod
    def writer(
        self,
        key: str,
        *,
        expected_size: int | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectWriter:
        """Start an all-or-nothing streaming write of `key`.

        `expected_size` (when known) lets the store size its parts so a large
        object fits; it is a hint, not a limit.
        """

    @abstractmethod
    def open_read(self, key: str, *, start: int = 0, length: int | None = None) -> BinaryIO:
        """A stream of the object's bytes from `start`, `length` bytes or to the end."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes; NotFoundError if the key does not exist."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix`, in sorted order."""

    @abstractmethod
    def list_children(self, prefix: str = "") -> list[str]:
        """Names of the immediate 'directories' under `prefix` (like `ls`), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object so that it is no longer listed or readable.

        Deleting a key that does not exist is not an error: a retention sweep
        that was interrupted simply runs again. An object that S3 Object Lock
        still protects (retention not yet expired, or a legal hold) raises
        ObjectLockedError and nothing is deleted.

        On a versioned S3 bucket this hides the object behind a delete marker;
        the bucket's noncurrent-version lifecycle rule removes the old version
        later.
        """

    def check_deletable(self, key: str) -> None:
        """Raise ObjectLockedError if `delete(key)` would be refused by a lock; a deleter checks every
        object of a group first, so that a lock on one keeps the whole group as it is.

        Only S3 has locks; elsewhere every object is deletable.
        """
        del key

    @abstractmethod
    def child(self, prefix: str) -> Store:
        """The same store rooted deeper, at `prefix`."""

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFoundError:
            return False
        return True

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> StoredObject:
        with self.writer(key, expected_size=len(data), content_type=content_type) as out:
            out.write(data)
        assert out.result is not None
        return out.result

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as stream:
            return stream.read()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        with self.open_read(key, start=start, length=length) as stream:
            return stream.read()

    def iter_chunks(self, key: str, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The object's bytes in chunks of at most READ_CHUNK, memory bounded."""
        with self.open_read(key, start=start, length=length) as stream:
            while chunk := stream.read(READ_CHUNK):
                yield chunk

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
