"""Prometheus metrics and /healthz for running tasks (`--metrics-addr` or `metrics {}`).

Values are read from the pumps' live counters at scrape time, so a scrape costs
nothing on the hot path and always agrees with the run summary.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from dstream.config.model import Location, parse_addr
from dstream.errors import ConfigError, DstreamError, UsageError
from dstream.runtime.monitor import Monitor

KINDS = {"data_frames": "data", "checkpoint_frames": "checkpoint"}
POLICIES = {"skipped": "skip", "dead_lettered": "dead_letter"}
# Seconds a connection may stay silent (a request not finished, no next one): each
# holds a thread, and a client that never finishes its request would hold it for ever.
CONNECTION_TIMEOUT = 10.0
# Connections served at once; one more is closed unanswered (a scraper retries), so
# that no number of idle clients can pile up the process's threads.
MAX_CONNECTIONS = 64


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
            "Seconds since the last acknowledged checkpoint (since start before the first)",
            labels=["task"],
        )
        up = GaugeMetricFamily("dstream_up", "1 while the task runs", labels=["task"])
        now = time.time()
        for name, task in self.monitor.tasks.items():
            counters = task.counters()
            for key, kind in KINDS.items():
                frames.add_metric([name, kind], counters.get(key, 0))
            nbytes.add_metric([name], counters.get("bytes", 0))
            for table, count in sorted((counters.get("tables") or {}).items()):
                tables.add_metric([name, table], count)
            for key, policy in POLICIES.items():
                invalid.add_metric([name, policy], counters.get(key, 0))
            restarts.add_metric([name], task.restarts)
            acks.add_metric([name], task.checkpoints_acknowledged)
            lag.add_metric([name], now - (task.last_ack_at or task.started_at))
            up.add_metric([name], 1 if task.running else 0)
        yield from (frames, nbytes, tables, invalid, restarts, acks, lag, up)


class _Server(ThreadingHTTPServer):
    """A thread per connection, MAX_CONNECTIONS at most."""

    request_queue_size = MAX_CONNECTIONS  # the listen backlog: a burst waits, not 1 s for SYNs

    def __init__(self, *args: Any) -> None:  # Any: ThreadingHTTPServer's arguments
        super().__init__(*args)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:  # Any: the base's
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # all busy: closed now, not queued for a thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: its slot is free again
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serves /metrics (Prometheus text format) and /healthz (200 running, 503 not).
    `location`: where the metrics block wrote `addr`; None when it came from the flag."""

    def __init__(self, monitor: Monitor, addr: str, location: Optional[Location] = None) -> None:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(monitor))

        class Handler(BaseHTTPRequestHandler):
            timeout = CONNECTION_TIMEOUT  # each read of the request: then it is closed

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
        shown = f"[{host}]" if ":" in host else host  # as a URL writes it
        self.address = f"{shown}:{self.server.server_address[1]}"
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
