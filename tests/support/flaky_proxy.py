"""A loopback TCP proxy that can drop the next connections, then forwards again: a server that is restarting."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@dataclass
class FlakyProxy:
    port: int
    to_drop: int = 0  # the next connections to close at once
    dropped: int = 0  # closed so far

    def drop_next(self, connections: int) -> None:
        self.to_drop += connections


@contextmanager
def flaky_proxy(host: str, port: int) -> Iterator[FlakyProxy]:
    """A proxy to host:port on a loopback port; `drop_next(n)` makes it close the next n connections at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = FlakyProxy(listener.getsockname()[1])
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if proxy.to_drop > 0:
                proxy.to_drop -= 1
                proxy.dropped += 1
                client.close()
                continue
            upstream = socket.create_connection((host, port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stopping.set()
        listener.close()
