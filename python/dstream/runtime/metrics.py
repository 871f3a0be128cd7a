"""Prometheus metrics and /healthz for running tasks (`--metrics-addr` or `metrics {}`).

Values are read from the pumps' live counters at scrape time, so a scrape costs
nothing on the hot path and always agrees with the run summary.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Optional

from dstream.config.model import Location, parse_addr, url_host
from dstream.errors import ConfigError, DstreamError, UsageError
from dstream.runtime.monitor import Monitor

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

KINDS = {"data_frames": "data", "checkpoint_frames": "checkpoint"}
POLICIES = {"skipped": "skip", "dead_lettered": "dead_letter"}
# Seconds a connection has, from its accept, to send its whole request (the request
# line and headers), and then for each write of the answer: each connection holds a
# thread, and a client trickling its request a byte at a time would hold it for ever.
CONNECTION_TIMEOUT = 10.0
# Connections served at once, so that no number of clients can pile up the process's
# threads. One more takes the slot of the one that has waited longest for its request
# (closed unanswered), so slow or idle clients cannot keep a probe of /healthz out.
MAX_CONNECTIONS = 64
# Seconds the accept loop waits for the thread of the connection it closed to give
# its slot back (it wakes at once: this only bounds a thread busy writing an answer).
SLOT_WAIT = 5.0


class _Collector:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:  # Any: prometheus_client's metric families (an extra)
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        frames = CounterMetricFamily(
            "dstream_frames", "Frames forwarded to the output", labels=["task", "kind"]
        )
        nbytes = CounterMetricFamily("dstream_bytes", "Bytes forwarded", labels=["task"])
        tables = CounterMetricFamily(
            "dstream_table_frames", "Data frames per metadata.TableName", labels=["task", "table"]
        )
        invalid = CounterMetricFamily(
            "dstream_invalid_frames", "Invalid frames routed aside", labels=["task", "policy"]
        )
        restarts = CounterMetricFamily(
            "dstream_provider_restarts", "Restarts after a provider failure", labels=["task"]
        )
        acks = CounterMetricFamily(
            "dstream_checkpoints_acknowledged",
            "Checkpoints the output acknowledged (the newest is stored, at most once per "
            "commit_interval)",
            labels=["task"],
        )
        lag = GaugeMetricFamily(
            "dstream_checkpoint_lag_seconds",
            "Seconds since the last acknowledged checkpoint (since the task started before the "
            "first); once the task ended, what it was then (it grows no more); none while a "
            "--standby run waits for its lease",
            labels=["task"],
        )
        stalled = GaugeMetricFamily(
            "dstream_output_stall_seconds",
            "Seconds the pump has been waiting, now, for the output provider to read its "
            "stdin (its pipe full); 0 while the output reads what it is given, or the task "
            "does not stream",
            labels=["task"],
        )
        up = GaugeMetricFamily(
            "dstream_up",
            "1 while the task runs, starts, or waits to restart after a provider failure; 0 "
            "once it ended (on an agent: until it runs the task again), and while a "
            "--standby run waits for its lease",
            labels=["task"],
        )
        now = time.time()
        for name, task in self.monitor.tasks.items():
            counters = task.counters()
            for key, kind in KINDS.items():
                frames.add_metric([name, kind], counters.get(key, 0))
            nbytes.add_metric([name], counters.get("bytes", 0))
            for table, count in sorted(_masked_tables(counters.get("tables") or {}).items()):
                tables.add_metric([name, table], count)
            for key, policy in POLICIES.items():
                invalid.add_metric([name, policy], counters.get(key, 0))
            restarts.add_metric([name], task.restarts)
            acks.add_metric([name], task.checkpoints_acknowledged)
            lagging = task.lag(now)
            if lagging is not None:  # a standby has no series: it lags nothing
                lag.add_metric([name], lagging)
            stalled.add_metric([name], task.output_stalled_for())
            up.add_metric([name], 1 if task.running else 0)
        yield from (frames, nbytes, tables, invalid, restarts, acks, lag, stalled, up)


def _masked_tables(counts: dict[str, int]) -> dict[str, int]:
    """Frames per table name, each name as every output shows it (a secret in it is
    `***`, as in the run summary): the names are a provider's data. Names that mask
    alike add up, one series each."""
    from dstream.config.redact import redact_text

    masked: dict[str, int] = {}
    for table, count in counts.items():
        shown = redact_text(table)
        masked[shown] = masked.get(shown, 0) + count
    return masked


class _Connection:
    """An accepted connection: until when its request may arrive, and whether it still
    is arriving."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = time.monotonic() + CONNECTION_TIMEOUT
        self.reading = True
        self.evicted = False

    def evict(self) -> None:
        """Closes it for a newer connection's slot: its thread's read wakes at once."""
        self.evicted = True
        with contextlib.suppress(OSError):  # the client is gone: its thread is ending anyway
            self.sock.shutdown(socket.SHUT_RDWR)


class _Slots:
    """The connections being served, MAX_CONNECTIONS at most, oldest first."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: dict[socket.socket, _Connection] = {}  # in the order accepted

    def take(self, sock: socket.socket) -> bool:
        """A slot for `sock`; when none is free, the oldest connection still sending its
        request (else the oldest) is closed for it. False only if that one's thread did
        not give its slot back within SLOT_WAIT."""
        with self._changed:
            if len(self._held) >= MAX_CONNECTIONS:
                victim = self._oldest()
                if victim is not None:
                    victim.evict()
                if not self._changed.wait_for(self._free, SLOT_WAIT):
                    return False
            self._held[sock] = _Connection(sock)
            return True

    def of(self, sock: socket.socket) -> _Connection:
        with self._changed:
            return self._held[sock]

    def give_back(self, sock: socket.socket) -> None:
        with self._changed:
            self._held.pop(sock, None)
            self._changed.notify_all()

    def _free(self) -> bool:
        return len(self._held) < MAX_CONNECTIONS

    def _oldest(self) -> Optional[_Connection]:
        live = [conn for conn in self._held.values() if not conn.evicted]
        waiting = [conn for conn in live if conn.reading]
        candidates = waiting or live
        return candidates[0] if candidates else None


class _RequestReader(io.RawIOBase):
    """A connection's request, which must be whole by its deadline: each read waits only
    for the time left, so a trickle of bytes cannot stretch it. A connection closed for
    its slot reads as timed out, which the handler closes without an answer."""

    def __init__(self, conn: _Connection) -> None:
        super().__init__()
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        left = self._conn.deadline - time.monotonic()
        if left <= 0 or self._conn.evicted:
            raise TimeoutError("the request did not arrive in time")
        self._conn.sock.settimeout(left)
        count = self._conn.sock.recv_into(buffer)
        if self._conn.evicted:
            raise TimeoutError("closed for a newer connection")
        return count


class _Server(ThreadingHTTPServer):
    """A thread per connection, MAX_CONNECTIONS at most."""

    request_queue_size = MAX_CONNECTIONS  # the listen backlog: a burst waits, not 1 s for SYNs

    def __init__(self, *args: Any) -> None:  # Any: ThreadingHTTPServer's arguments
        super().__init__(*args)
        self.slots = _Slots()

    def process_request(self, request: Any, client_address: Any) -> None:  # Any: the base's
        if not self.slots.take(request):
            self.shutdown_request(request)  # no slot came free: closed, not queued
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: its slot is free again
            self.slots.give_back(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.give_back(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client gone, or one closed for its slot, is not news (the base prints a
        # traceback on stderr, the run's output).
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # `[::]` serves IPv4 too (as mapped addresses), whatever the host's default
        # (net.ipv6.bindv6only=1 on some): probes may come on either family.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class MetricsServer:
    """Serves /metrics (Prometheus text format) and /healthz (200 running, 503 not).
    `location`: where the metrics block wrote `addr`; None when it came from the flag."""

    def __init__(self, monitor: Monitor, addr: str, location: Optional[Location] = None) -> None:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(monitor))

        class Handler(BaseHTTPRequestHandler):
            timeout = CONNECTION_TIMEOUT  # each write of the answer

            def setup(self) -> None:
                super().setup()
                assert isinstance(self.server, _Server)
                self._conn = self.server.slots.of(self.request)
                self.rfile.close()  # the base's reader, which would keep the socket open
                self.rfile = io.BufferedReader(_RequestReader(self._conn))

            def parse_request(self) -> bool:
                parsed = super().parse_request()  # reads the headers
                self._conn.reading = False
                self.connection.settimeout(CONNECTION_TIMEOUT)
                return parsed

            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, code, ctype = generate_latest(registry), 200, "text/plain; version=0.0.4"
                elif self.path.startswith("/healthz"):
                    ok = monitor.healthy
                    body = b"ok\n" if ok else b"not running\n"
                    code, ctype = (200 if ok else 503), "text/plain"
                else:
                    body, code, ctype = b"see /metrics and /healthz\n", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # Any: the base's signature
                pass  # scrapes are not news

        try:
            host, port = parse_addr(addr)
        except ValueError as exc:
            raise _error(
                f"metrics address: {exc}",
                ("an address is HOST:PORT", "one like 127.0.0.1:9464"),
                location,
            ) from None
        # An address with a colon is IPv6 (parse_addr took off its brackets); anything
        # else, an IPv4 address or a name, is served on IPv4 as it always was.
        server_class = _IPv6Server if ":" in host else _Server
        try:
            self.server = server_class((host, port), Handler)
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise _error(
                f"cannot serve metrics on {addr}: {why}", _bind_hint(exc, port), location
            ) from None
        self.address = f"{url_host(host)}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _bind_hint(exc: OSError, port: int) -> tuple[str, str]:
    """Why the address could not be served on, and what to choose instead."""
    here = "an address of this machine, e.g. 127.0.0.1, 0.0.0.0, [::1] or [::]"
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use", "a free port (0 takes one, which the log names)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"port {port} needs privileges this process lacks", "a port from 1024"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve", here
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return "the host is not an address of this machine", here
    return "it could not be bound", "another address"


def _error(reason: str, hint: tuple[str, str], location: Optional[Location]) -> DstreamError:
    """The metrics address's error, naming where it came from: the metrics block's
    file:line:col (a ConfigError) or --metrics-addr (a UsageError). Both are exit 2."""
    problem, choice = hint
    if location is not None:
        hint_text = f"{problem}: give the metrics block's addr {choice}"
        return ConfigError(reason, location=location, hint=hint_text)
    return UsageError(reason, hint=f"{problem}: give --metrics-addr {choice}")
