"""A hostile registry: a real HTTP server on loopback, started by the test, that answers
what the test tells it to, including what no honest registry sends.

Test double: it stands in for a registry controlled by an attacker (or broken),
because a real distribution registry validates what is pushed and so can never serve a
manifest whose descriptor has no size, a blob that streams forever, a redirect to
another host, or an error body that echoes the request's Authorization header. It
speaks the distribution API's read side: GET/HEAD /v2/, manifests and blobs, and keeps
every request (method, path, headers) for the test to assert on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
TITLE = "org.opencontainers.image.title"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names


# A behaviour answers one request in place of the stored content.
Behaviour = Callable[["Handler"], None]


@dataclass
class State:
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> body, type
    blobs: dict[str, bytes] = field(default_factory=dict)  # path -> content
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # path -> behaviour
    seen: list[Seen] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        state.seen.append(Seen(self.command, self.path, headers))
        if path in state.behaviours:
            state.behaviours[path](self)
        elif path in ("/v2/", "/v2"):
            self.reply(200, b"{}")
        else:
            stored(self)

    def reply(self, status: int, body: bytes, headers: Optional[dict[str, str]] = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a behaviour that breaks the connection on purpose is no error here


class HostileRegistry:
    """One server; `host` is its 127.0.0.1:port."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.state = server.state
        self.host = f"127.0.0.1:{server.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        return self.state.seen

    def paths(self) -> list[str]:
        return [s.path for s in self.state.seen]

    def blob(self, repo: str, data: bytes) -> dict[str, Any]:
        """Stored under its digest; returns the descriptor's digest and size."""
        digest = digest_of(data)
        self.state.blobs[f"/v2/{repo}/blobs/{digest}"] = data
        return {"digest": digest, "size": len(data)}

    def manifest(
        self, repo: str, tag: str, doc: Union[dict[str, Any], bytes], media_type: str = ""
    ) -> str:
        """Stored under `tag` and under its digest; returns the digest."""
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        kind = media_type or (doc.get("mediaType") if isinstance(doc, dict) else "") or OCI_MANIFEST
        digest = digest_of(body)
        for target in (tag, digest):
            self.state.manifests[f"/v2/{repo}/manifests/{target}"] = (body, kind)
        return digest

    def image(self, repo: str, tag: str, layers: Any, **extra: Any) -> str:
        """An image manifest with an empty config and these `layers` (as given)."""
        config = self.blob(repo, b"{}")
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**config, "mediaType": EMPTY_CONFIG},
            "layers": layers,
            **extra,
        }
        return self.manifest(repo, tag, doc)

    def behave(self, path: str, behaviour: Behaviour) -> None:
        self.state.behaviours[path] = behaviour


@contextmanager
def running() -> Iterator[HostileRegistry]:
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State()
    # A short poll: shutdown() waits for one, at the end of every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield HostileRegistry(server)
    finally:
        server.shutdown()
        server.server_close()


# -- behaviours -------------------------------------------------------------------------


def endless(handler: Handler) -> None:
    """200 and zeros until the client hangs up: no Content-Length, no end."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Connection", "close")
    handler.end_headers()
    block = bytes(1 << 16)
    try:
        while True:
            handler.wfile.write(block)
    except OSError:
        return


def reset(handler: Handler) -> None:
    """200 announcing 100000 bytes, 1000 of them, then a TCP reset (SO_LINGER 0)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(bytes(1000))
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.rfile.close()
    handler.wfile.close()
    handler.connection.close()


def status(code: int, body: bytes = b"{}") -> Behaviour:
    """`code` with `body`, whatever was asked: 429 TOOMANYREQUESTS, a proxy's 502, ..."""

    def answer(handler: Handler) -> None:
        handler.reply(code, body)

    return answer


def truncated(data: bytes, sent: int) -> Behaviour:
    """200 announcing `data`'s true length, its first `sent` bytes, then a clean close:
    a connection cut mid-body, not a body that was altered."""

    def answer(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:sent])
        handler.wfile.flush()
        handler.close_connection = True

    return answer


def stall(data: bytes, sent: int) -> Behaviour:
    """200 announcing `data`'s true length, its first `sent` bytes, then nothing, the
    connection held open until the client hangs up: a registry stalled mid-body."""

    def answer(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:sent])
        handler.wfile.flush()
        with contextlib.suppress(OSError):
            handler.rfile.read(1)  # returns when the client closes the connection
        handler.close_connection = True

    return answer


def trickle(data: bytes, pause: float) -> Behaviour:
    """200 with `data`'s true length, then its bytes one at a time, `pause` seconds
    apart: each read gets a byte before any timeout, and the whole never ends soon."""

    def answer(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            for byte in data:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(pause)
        except OSError:
            return

    return answer


def redirect(location: str) -> Behaviour:
    def answer(handler: Handler) -> None:
        handler.reply(302, b"", {"Location": location})

    return answer


def stored(handler: Handler) -> None:
    """What is stored at the request's path (a manifest or a blob), else 404."""
    state = handler.server.state
    path = handler.path.split("?", 1)[0]
    if path in state.manifests:
        body, kind = state.manifests[path]
        handler.reply(200, body, {"Content-Type": kind, "Docker-Content-Digest": digest_of(body)})
    elif path in state.blobs:
        handler.reply(200, state.blobs[path], {"Content-Type": "application/octet-stream"})
    else:
        handler.reply(404, b'{"errors":[{"code":"NOT_FOUND","message":"not here"}]}')


def requiring(header: str, accept: Optional[str] = None, then: Behaviour = stored) -> Behaviour:
    """401 with WWW-Authenticate `header` unless the request carries Authorization
    (exactly `accept`, when given); then `then`."""

    def answer(handler: Handler) -> None:
        auth = handler.headers.get("Authorization")
        if auth is None or (accept is not None and auth != accept):
            handler.reply(401, b"{}", {"WWW-Authenticate": header})
            return
        then(handler)

    return answer


def echo_authorization(status: int) -> Behaviour:
    """`status` with a body quoting the request's Authorization header, raw and, for
    basic auth, base64-decoded (as a careless proxy does)."""
    import base64

    def answer(handler: Handler) -> None:
        auth = handler.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        decoded = base64.b64decode(value).decode() if scheme == "Basic" else value
        body = f"proxy error: request had Authorization: {auth} ({decoded})".encode()
        handler.reply(status, body)

    return answer


def token_service(token: str) -> Behaviour:
    """A token endpoint: any request gets `token`."""

    def answer(handler: Handler) -> None:
        handler.reply(200, json.dumps({"token": token}).encode())

    return answer
