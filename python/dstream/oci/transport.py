"""HTTP for the registry client: one request per connection, through http.client.

Redirects of GET and HEAD are followed here, and the Authorization header is dropped
as soon as one leaves the origin (scheme, host and port) it was meant for: pre-signed
storage URLs reject it, and no other host may see it. Bodies are read with two bounds:
whatever a server sends, no more is read than the caller allows, and no slower than
MIN_RATE for longer than the client's timeout (curl's --speed-limit and --speed-time).
The socket's timeout alone bounds one read: a server sending a byte just within it
would keep a pull going for ever.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from typing import IO, Optional, Union

from dstream.oci.errors import CUT_HINT, RegistryError, RegistryUnreachable
from dstream.oci.reference import loopback_addresses
from dstream.records import record

CHUNK = 1 << 16
MIN_RATE = 1024  # bytes/s a body must keep up, averaged over the client's timeout
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# What to do when a registry does not answer (pull.py adds why the cache did not serve).
REACH_HINT = "check the registry address and that it is up"

Body = Union[bytes, IO[bytes], None]


def origin(url: str) -> tuple[str, str]:
    """(scheme, host:port) of a URL: what credentials are bound to."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


@record
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    raw: http.client.HTTPResponse
    conn: http.client.HTTPConnection
    url: str  # where the answer came from, after redirects
    timeout: float  # the socket's, and the window of the MIN_RATE bound

    def read(self, limit: int) -> bytes:
        """The body, but no more than `limit` + 1 bytes: one more than allowed tells
        the caller it was too large. Closes the connection."""
        try:
            return b"".join(self._blocks(limit + 1))
        finally:
            self.close()

    def chunks(self, limit: int) -> Iterator[bytes]:
        """The body in blocks, stopping after `limit` bytes whatever the server sends."""
        try:
            yield from self._blocks(limit)
        finally:
            self.close()

    def _blocks(self, limit: int) -> Iterator[bytes]:
        left = limit
        window_start, window_bytes = time.monotonic(), 0
        while left > 0:
            block = self._read(min(CHUNK, left), limit - left)
            if not block:
                # http.client's length: what the Content-Length announced and is still
                # to come (None without one); a clean close before it is a cut, not an end
                if self.raw.length:
                    raise self._ended_early(limit - left, limit - left + self.raw.length)
                return
            left -= len(block)
            window_bytes += len(block)
            elapsed = time.monotonic() - window_start
            if elapsed >= self.timeout:
                if window_bytes < MIN_RATE * elapsed:
                    raise self._too_slow(window_bytes, elapsed)
                window_start, window_bytes = time.monotonic(), 0
            yield block

    def _read(self, size: int, received: int) -> bytes:
        """What one read of the socket gives, up to `size`: a read that waited for all
        of `size` could take any time at a byte per socket timeout. `received`: how
        much of the body came before, for the error."""
        try:
            return self.raw.read1(size)
        except (TimeoutError, socket.timeout):  # socket.timeout: TimeoutError from 3.10
            raise self._stalled(received) from None
        except (OSError, http.client.HTTPException) as exc:
            parts = urllib.parse.urlsplit(self.url)  # not its query: it may hold a signature
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RegistryUnreachable(
                f"the connection to {parts.netloc} broke while reading {parts.path}: {why}",
                hint=CUT_HINT,
            ) from None

    def _stalled(self, received: int) -> RegistryUnreachable:
        """No byte for the socket's timeout: RegistryClient's, 60 s, which no setting
        changes (the hint says so rather than leave one to be looked for)."""
        parts = urllib.parse.urlsplit(self.url)  # not its query: it may hold a signature
        # http.client's length: what the Content-Length announced and is still to come
        total = f" of {received + self.raw.length}" if self.raw.length is not None else ""
        return RegistryUnreachable(
            f"registry {parts.netloc} sent nothing for {self.timeout:g} s while sending "
            f"{parts.path} ({received}{total} bytes read)",
            hint=f"{CUT_HINT} (dstream waits {self.timeout:g} s for each read from a "
            "registry; the limit is not configurable)",
        )

    def _ended_early(self, received: int, announced: int) -> RegistryUnreachable:
        parts = urllib.parse.urlsplit(self.url)  # not its query: it may hold a signature
        return RegistryUnreachable(
            f"the connection to {parts.netloc} ended after {received} of {announced} bytes "
            f"of {parts.path}",
            hint=CUT_HINT,
        )

    def _too_slow(self, received: int, seconds: float) -> RegistryUnreachable:
        parts = urllib.parse.urlsplit(self.url)  # not its query: it may hold a signature
        return RegistryUnreachable(
            f"{parts.netloc} sent {received} bytes of {parts.path} in {seconds:.1f} s, "
            f"slower than {MIN_RATE // 1024} KiB/s: giving up",
            hint="retry; a registry this slow is overloaded, broken or hostile: check the "
            "network and the registry's logs",
        )

    def close(self) -> None:
        self.conn.close()


class _AtAddresses(http.client.HTTPConnection):
    """Plain HTTP to a host name, connected at addresses checked beforehand, each in
    turn as a lookup's would be: the name is not looked up again (a second answer could
    point elsewhere)."""

    def __init__(self, host: str, port: Optional[int], addresses: list[str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        error: Optional[OSError] = None
        for address in self.addresses:
            try:
                self.sock = socket.create_connection((address, self.port), self.timeout)
            except OSError as exc:
                error = exc
                continue
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return
        raise error or OSError(f"no address for {self.host}")


def _connect(url: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    host = url.hostname or ""
    if url.scheme == "https":
        return http.client.HTTPSConnection(
            host, url.port, timeout=timeout, context=ssl.create_default_context()
        )
    if host.endswith(".localhost"):
        # Plain HTTP to a name RFC 6761 reserves for loopback goes to loopback only,
        # also with --insecure: whoever wrote it meant this machine.
        addresses = loopback_addresses(host)
        if not addresses:
            raise RegistryError(
                f"{host} resolves to {_addresses(host)}, not only to loopback: dstream "
                "speaks plain HTTP to a name under .localhost only at a loopback address",
                hint=f"point {host} at 127.0.0.1 or ::1 (/etc/hosts), or name the registry "
                "by its address",
            )
        return _AtAddresses(host, url.port, addresses, timeout)
    return http.client.HTTPConnection(host, url.port, timeout=timeout)


def _addresses(host: str) -> str:
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"nothing ({getattr(exc, 'strerror', None) or exc})"
    return ", ".join(sorted({str(info[4][0]) for info in found}))


def send(
    method: str, url: str, headers: dict[str, str], body: Body, *, registry: str, timeout: float
) -> Response:
    """One request to `registry` (named in errors), following redirects of GET/HEAD;
    Authorization never follows one that leaves its origin."""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        conn = _connect(parts, timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
        except ssl.SSLError as exc:
            conn.close()
            raise RegistryError(
                f"TLS failed with registry {registry} ({url}): {exc.reason or exc}",
                hint="if this registry serves plain HTTP, opt in with --insecure or list "
                f"{registry} in DSTREAM_INSECURE_REGISTRIES",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise RegistryUnreachable(
                f"cannot reach registry {registry} at {parts.scheme}://{parts.netloc}: "
                f"{getattr(exc, 'strerror', None) or exc}",
                hint=f"{REACH_HINT}; a provider pulled before runs from the cache without "
                "the registry",
            ) from None
        received = {k.lower(): v for k, v in raw.getheaders()}
        response = Response(raw.status, received, raw, conn, url, timeout)
        if raw.status not in REDIRECTS or method not in ("GET", "HEAD"):
            return response
        response.close()
        new_url = urllib.parse.urljoin(url, received.get("location", ""))
        if urllib.parse.urlsplit(new_url).scheme not in ("http", "https"):
            raise RegistryError(
                f"registry {registry} redirected {url} to {new_url!r}, not an HTTP(S) URL",
                hint="the registry or a proxy in between is misconfigured",
            )
        if origin(new_url) != origin(url):
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        url = new_url
    raise RegistryError(
        f"too many redirects from {url}",
        hint="the registry redirects in a loop: check its URL and its proxy settings",
    )
