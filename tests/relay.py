"""TCP relays between a client under test and a real server (127.0.0.1 both), to break
the network between them at a point the test chooses without stopping the server the
other tests share:

- CuttingProxy cuts every connection after a number of bytes (a broker connection
  killed at a chosen point of a run);
- FreezableProxy freezes: it forwards nothing, either way, and keeps every socket
  open. The peers' kernels still acknowledge what is sent, so TCP keepalives and
  tcp_user_timeout see nothing wrong: a blackhole like a frozen VM, a stuck
  middlebox or a hung pooler, which only a bound of dstream's own can end. Thawed, it
  forwards what it held (a statement sent during the freeze arrives late), then the
  ends of the connections closed meanwhile;
- RecordingProxy, a FreezableProxy that also keeps what the clients sent and counts the
  connections they opened, held by a freeze or not: what a client asked, and whether it
  opened a new session to ask it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Optional


class Relay:
    """Relays 127.0.0.1:<port> -> 127.0.0.1:target_port, each direction of each
    connection on a thread of its own; subclasses decide what passes (`_admit`,
    `_passing`, `_passed`)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _admit(self) -> bool:
        """Whether a new connection is relayed (else closed at once)."""
        return True

    def _passing(self, data: bytes, from_client: bool) -> None:
        """Before `data` (b"": the source's end) is forwarded; may hold it back."""

    def _passed(self, size: int, from_client: bool) -> bool:
        """After `size` bytes were forwarded; False ends this direction."""
        return True

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._admit():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()  # the server is gone: so is this connection
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst, from_client in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pipe, args=(src, dst, from_client), daemon=True
                ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                self._passing(data, from_client)
                if not data:
                    break
                dst.sendall(data)
                if not self._passed(len(data), from_client):
                    return
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        """Close every relayed connection now (both directions, abruptly)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a pipe blocked in recv
            sock.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self._drop_all()


class CuttingProxy(Relay):
    def __init__(self, target_port: int, *, cut_after: Optional[int], reconnect: bool) -> None:
        """After `cut_after` bytes sent towards the server, every connection is closed;
        afterwards new connections are relayed again (`reconnect`) or closed at once."""
        self.cut_after = cut_after
        self.reconnect = reconnect
        self.sent = 0
        self.cuts = 0
        super().__init__(target_port)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _admit(self) -> bool:
        return self.reconnect or not self.cuts

    def _passed(self, size: int, from_client: bool) -> bool:
        if not from_client:
            return True
        with self._lock:
            self.sent += size
            due = self.cut_after is not None and self.sent >= self.cut_after
        if due:
            self.cut()
        return not due

    def cut(self) -> None:
        """Close every relayed connection now (both directions, abruptly)."""
        with self._lock:
            self.cuts += 1
            self.cut_after = None  # one cut per proxy
        self._drop_all()


class FreezableProxy(Relay):
    def __init__(self, target_port: int) -> None:
        self._thawed = threading.Event()
        self._thawed.set()
        self._trigger: Optional[bytes] = None
        self._reply = False  # freeze after the trigger's bytes, not on them
        self._held = 0  # pipes holding data until the thaw
        super().__init__(target_port)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def freeze(self, *, on: Optional[bytes] = None, reply: bool = False) -> None:
        """Freeze now; or, `on`: when a client next sends bytes holding `on` (e.g. a
        statement's text), those bytes included; with `reply`, those bytes pass and
        the freeze holds what follows (the statement runs, its answer waits)."""
        if on is None:
            self._thawed.clear()
        else:
            self._trigger, self._reply = on, reply

    def thaw(self, *, reset: bool = False) -> None:
        """Forward what was held; or, `reset`, close every connection instead (a
        middlebox that restarted: what it held is lost; new connections pass)."""
        self._trigger = None
        if reset:
            self._drop_all()
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def holding(self) -> bool:
        """Whether something sent (by a client or the server) waits for the thaw."""
        with self._lock:
            return self._held > 0

    def _passing(self, data: bytes, from_client: bool) -> None:
        trigger = self._trigger
        if from_client and trigger is not None and trigger in data:
            self._trigger = None
            self._thawed.clear()
            if self._reply:
                return
        if data and not self._thawed.is_set():
            with self._lock:
                self._held += 1
            self._thawed.wait()  # what a frozen network would still deliver later
            with self._lock:
                self._held -= 1
        self._thawed.wait()  # an end too (FIN) passes no sooner than the rest

    def close(self) -> None:
        super().close()
        self._thawed.set()  # a pipe still holding data finds its sockets closed


# The text of the lease read dstream's PostgreSQL store makes (state/lease.py,
# LeaseTable.rows): a standby's poll, `held_elsewhere`.
LEASE_READ = b"extract(epoch FROM acquired_at)"


class RecordingProxy(FreezableProxy):
    """A FreezableProxy that records what reached it from the clients (before a freeze
    holds it) and the connections they opened."""

    def __init__(self, target_port: int) -> None:
        self._record_lock = threading.Lock()
        self._sent = bytearray()
        self._opened = 0
        super().__init__(target_port)

    def sent(self) -> bytes:
        """Everything the clients sent, on every connection, in the order it came."""
        with self._record_lock:
            return bytes(self._sent)

    def opened(self) -> int:
        """How many connections the clients opened."""
        with self._record_lock:
            return self._opened

    def _admit(self) -> bool:
        with self._record_lock:
            self._opened += 1
        return super()._admit()

    def _passing(self, data: bytes, from_client: bool) -> None:
        if from_client:
            with self._record_lock:
                self._sent += data
        super()._passing(data, from_client)
