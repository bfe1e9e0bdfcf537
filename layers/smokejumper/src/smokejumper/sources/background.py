"""Frame writes on a worker thread, so that reading a source and compressing what it read overlap."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["BackgroundWriter"]


class BackgroundWriter:
    """Runs the frame's writes (compression, hashing, upload) on a worker thread.

    The COPY reader holds the GIL while it cuts rows out of the socket data;
    zstd, sha256 and socket/file writes release it, so the two overlap on two
    cores. The queue is short, so memory stays bounded (a few MiB).
    """

    def __init__(self, depth: int = 8) -> None:
        self._queue: queue.Queue[tuple[Callable[[bytes], object], bytes] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smokejumper-frame-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            write, data = item
            try:
                if self._error is None:
                    write(data)
            except BaseException as exc:  # handed over to the producer, which raises it
                self._error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def submit(self, write: Callable[[bytes], object], data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((write, data))

    def drain(self) -> None:
        """Wait for every submitted write; raise the first error any of them hit."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        """Wait until no write is in flight, errors or not (before an upload is aborted:
        S3 keeps a part that was still uploading when its upload was aborted)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
