"""A store in a local directory (`file:///dir`).

Objects are written to a temporary name in their final directory, fsynced and
renamed into place, so a reader sees either the whole object or none. Files are
created mode 0600 and directories 0700: backups hold secrets.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, cast

from smokejumper.errors import NotFoundError, StoreError
from smokejumper.store.base import ObjectWriter, Store, check_key, join_key

TEMP_MARKER = ".smokejumper-tmp-"


def _os_error(action: str, path: Path, exc: OSError) -> StoreError:
    hints = {
        errno.EACCES: "check the directory's owner and permissions, or choose another --to/--store path",
        errno.EPERM: "check the directory's owner and permissions, or choose another --to/--store path",
        errno.EROFS: "the filesystem is read-only; choose a writable path",
        errno.ENOSPC: "the disk is full; free space or choose another path",
        errno.ENOTDIR: "a file is in the way where a directory is needed",
    }
    return StoreError(f"cannot {action} {path}: {exc.strerror}", hint=hints.get(exc.errno or 0))


class LocalWriter(ObjectWriter):
    def __init__(self, final_path: Path, key: str) -> None:
        super().__init__(key)
        self._final = final_path
        try:
            final_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _os_error("create directory", final_path.parent, exc) from exc
        self._temp = final_path.with_name(f"{TEMP_MARKER}{secrets.token_hex(4)}-{final_path.name}")
        try:
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _os_error("write to", final_path.parent, exc) from exc
        self._file = os.fdopen(fd, "wb")

    def _write(self, data: memoryview) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise _os_error("write", self._temp, exc) from exc

    def _commit(self) -> str | None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temp, self._final)
            # The rename is durable only once the directory entry is on disk.
            dir_fd = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise _os_error("commit", self._final, exc) from exc
        return None

    def _abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def writer(
        self,
        key: str,
        *,
        expected_size: int | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> LocalWriter:
        # Tags and content types have no meaning on a filesystem.
        return LocalWriter(self._path(key), key)

    def open_read(self, key: str, *, start: int = 0, length: int | None = None) -> BinaryIO:
        path = self._path(key)
        try:
            stream = path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"{path} does not exist") from exc
        except OSError as exc:
            raise _os_error("read", path, exc) from exc
        stream.seek(start)
        if length is None:
            return stream
        return cast(BinaryIO, _Limited(stream, length))

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return path.stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"{path} does not exist") from exc
        except OSError as exc:
            raise _os_error("read", path, exc) from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        found = []
        for dirpath, _dirnames, filenames in os.walk(base):
            for filename in filenames:
                if filename.startswith(TEMP_MARKER):
                    continue
                relative = Path(dirpath, filename).relative_to(self.root)
                found.append(relative.as_posix())
        yield from sorted(found)

    def list_children(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(entry.name for entry in base.iterdir() if entry.is_dir())

    def delete(self, key: str) -> None:
        parts = check_key(key).split("/")
        path = self.root.joinpath(*parts)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            # Already gone, or a file stands where a parent directory would be:
            # either way there is no such object. Still prune below, so a sweep
            # interrupted between unlink and rmdir cleans up when it runs again.
            pass
        except OSError as exc:
            raise _os_error("delete", path, exc) from exc
        # A deleted run must not leave its empty directory behind, or
        # list_children would still show it. Stop at the first directory that
        # still holds something, and never remove the root itself.
        for depth in range(len(parts) - 1, 0, -1):
            directory = self.root.joinpath(*parts[:depth])
            try:
                directory.rmdir()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    break
                raise _os_error("delete directory", directory, exc) from exc

    def child(self, prefix: str) -> LocalStore:
        return LocalStore(self._path(join_key(prefix)))


class _Limited:
    """A read-only view of the next `length` bytes of a file."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _Limited:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
