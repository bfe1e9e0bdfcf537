"""A time limit that backups watch, so a Lambda never dies silently at 15 minutes.

A source writes its artifact through a store; `TimeLimitedStore` wraps that
store so every write first checks the time left. When less than the margin
remains, the write raises `WouldExceedTimeLimit`: the writer aborts (no
object, no open multipart upload), the source's own clean-up runs, nothing
is committed, and the message names the bytes written, the throughput
measured and the total expected, so the operator knows how much more time
(or which other way) the item needs.

Outside Lambda there is no limit (`Deadline.none()`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from smokejumper.failures import WouldExceedTimeLimit
from smokejumper.store import ObjectWriter, Store, StoredObject

MIB = 1024 * 1024
# Enough to abort the upload, close connections and return a clean error to Step Functions.
DEFAULT_MARGIN_SECONDS = 20.0
SMALL_WRITE = 1024 * 1024  # bytes: records this small are not stopped
RECORD_TYPE = "application/json"  # artifact.json and manifest.json; data files are octet streams


@dataclass(frozen=True)
class Deadline:
    """Seconds left, as a function (a Lambda context's get_remaining_time_in_millis, or none)."""

    remaining: Callable[[], float] | None
    margin: float = DEFAULT_MARGIN_SECONDS

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    @classmethod
    def from_lambda_context(cls, context: object, *, margin: float = DEFAULT_MARGIN_SECONDS) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if remaining_ms is None:
            return cls.none()
        return cls(lambda: remaining_ms() / 1000, margin)

    def seconds_left(self) -> float | None:
        return None if self.remaining is None else self.remaining()

    def expired(self) -> bool:
        left = self.seconds_left()
        return left is not None and left < self.margin


class _Progress:
    """Bytes written through one store since the item started, for the message."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.written = 0
        self.expected = 0


class TimeLimitedStore(Store):
    """`store`, whose writers stop with WouldExceedTimeLimit once `deadline` is near."""

    def __init__(self, store: Store, deadline: Deadline, *, what: str, _progress: _Progress | None = None) -> None:
        self._store = store
        self._deadline = deadline
        self._what = what
        self._progress = _progress or _Progress()
        self.url = store.url

    def check(self) -> None:
        """Raise WouldExceedTimeLimit if the margin is reached."""
        if not self._deadline.expired():
            return
        progress = self._progress
        seconds = max(time.monotonic() - progress.started, 1e-3)
        rate = progress.written / seconds
        left = self._deadline.seconds_left() or 0.0
        message = (
            f"{self._what} stopped with {left:.0f} s of the time limit left, so as not to be cut off: "
            f"{progress.written / MIB:.1f} MiB written in {seconds:.0f} s ({rate / MIB:.1f} MiB/s)"
        )
        if progress.expected and rate > 0:
            more = max(progress.expected - progress.written, 0) / rate
            message += f" of about {progress.expected / MIB:.0f} MiB expected (about {more:.0f} s more)"
        raise WouldExceedTimeLimit(
            message + "; nothing was kept",
            hint="give the function more memory (more CPU) or a longer timeout (15 minutes at most), "
            "or back this item up from a machine without that limit: `smokejumper backup run --item NAME`",
        )

    def writer(
        self,
        key: str,
        *,
        expected_size: int | None = None,
        tags: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectWriter:
        if content_type == RECORD_TYPE and expected_size is not None and expected_size <= SMALL_WRITE:
            # A record written once the data is in (artifact.json): stopping there would throw a
            # finished backup away for the sake of a few kilobytes. Data files are always watched,
            # however small their estimate: an estimate can be wrong by orders of magnitude.
            return self._store.writer(key, expected_size=expected_size, tags=tags, content_type=content_type)
        self.check()
        inner = self._store.writer(key, expected_size=expected_size, tags=tags, content_type=content_type)
        self._progress.expected += expected_size or 0
        return _TimeLimitedWriter(inner, self)

    def open_read(self, key: str, *, start: int = 0, length: int | None = None) -> BinaryIO:
        return self._store.open_read(key, start=start, length=length)

    def size(self, key: str) -> int:
        return self._store.size(key)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return self._store.list_keys(prefix)

    def list_children(self, prefix: str = "") -> list[str]:
        return self._store.list_children(prefix)

    def child(self, prefix: str) -> Store:
        return TimeLimitedStore(self._store.child(prefix), self._deadline, what=self._what, _progress=self._progress)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def check_deletable(self, key: str) -> None:
        self._store.check_deletable(key)


class _TimeLimitedWriter(ObjectWriter):
    """Checks the time before each write, then hands the bytes to the real writer.

    The public methods are overridden (not the _write hooks) so that the bytes
    are hashed once, by the real writer: a second sha256 pass would cost a
    backup CPU it needs.
    """

    def __init__(self, inner: ObjectWriter, owner: TimeLimitedStore) -> None:
        super().__init__(inner.key)
        self._inner = inner
        self._owner = owner

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            self._owner.check()
        except BaseException:
            self.abort()
            raise
        written = self._inner.write(data)
        self.size += written
        self._owner._progress.written += written
        return written

    def commit(self) -> StoredObject:
        self.result = self._inner.commit()
        self._state = "committed"
        return self.result

    def abort(self) -> None:
        self._state = "aborted" if self._state == "open" else self._state
        self._inner.abort()

    @property
    def sha256(self) -> str:
        return self._inner.sha256

    def _write(self, data: memoryview) -> None:  # pragma: no cover - write() is overridden
        raise AssertionError("unused")

    def _commit(self) -> str | None:  # pragma: no cover - commit() is overridden
        raise AssertionError("unused")

    def _abort(self) -> None:  # pragma: no cover - abort() is overridden
        raise AssertionError("unused")
