"""A TCP relay between a provider and the real broker that can cut every connection
after a number of bytes: the way to kill the broker connection at a chosen point of a
run without stopping the broker the other tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Optional


class CuttingProxy:
    def __init__(self, target_port: int, *, cut_after: Optional[int], reconnect: bool) -> None:
        """Relay 127.0.0.1:<port> -> 127.0.0.1:target_port. After `cut_after` bytes sent
        towards the broker, every connection is closed; afterwards new connections are
        relayed again (`reconnect`) or closed at once."""
        self.target_port = target_port
        self.cut_after = cut_after
        self.reconnect = reconnect
        self.sent = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cuts and not self.reconnect:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, towards_broker: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if towards_broker:
                    with self._lock:
                        self.sent += len(data)
                        due = self.cut_after is not None and self.sent >= self.cut_after
                    if due:
                        self.cut()
                        return
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every relayed connection now (both directions, abruptly)."""
        with self._lock:
            self.cuts += 1
            self.cut_after = None  # one cut per proxy
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._drop_all()
