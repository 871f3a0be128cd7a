"""A TCP relay to PostgreSQL that can be frozen: while frozen it forwards nothing, either
way, and keeps every socket open. The peers' kernels still acknowledge what is sent, so
TCP keepalives and tcp_user_timeout see nothing wrong: a blackhole like a frozen VM, a
stuck middlebox or a hung pooler, which only a bound of dstream's own can end. Thawed,
it forwards what it held (a statement sent during the freeze arrives late), then the
ends of the connections closed meanwhile."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Optional


class FreezableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._thawed = threading.Event()
        self._thawed.set()
        self._trigger: Optional[bytes] = None
        self._closed = False
        self._lock = threading.Lock()
        self._held = 0  # pipes holding data until the thaw
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def freeze(self, *, on: Optional[bytes] = None) -> None:
        """Freeze now; or, `on`: when a client next sends bytes holding `on` (e.g. a
        statement's text), those bytes included."""
        if on is None:
            self._thawed.clear()
        else:
            self._trigger = on

    def thaw(self) -> None:
        self._trigger = None
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def holding(self) -> bool:
        """Whether something sent (by a client or the server) waits for the thaw."""
        with self._lock:
            return self._held > 0

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                if self._closed:
                    return
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst, from_client in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pipe, args=(src, dst, from_client), daemon=True
                ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while not self._closed:
                data = src.recv(65536)
                trigger = self._trigger
                if from_client and trigger is not None and trigger in data:
                    self._trigger = None
                    self._thawed.clear()
                if data and not self._thawed.is_set():
                    with self._lock:
                        self._held += 1
                    self._thawed.wait()  # what a frozen network would still deliver later
                    with self._lock:
                        self._held -= 1
                self._thawed.wait()  # an end too (FIN) passes no sooner than the rest
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._thawed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a pipe blocked in recv
                with contextlib.suppress(OSError):
                    sock.close()


@contextlib.contextmanager
def freezable_proxy(target_port: int) -> Iterator[FreezableProxy]:
    proxy = FreezableProxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
