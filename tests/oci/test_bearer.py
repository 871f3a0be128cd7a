"""The bearer-token challenge (what GHCR and Docker Hub do).

Test double: a tiny HTTP server stands in for a token-auth registry, because running
distribution with token auth needs a token service and signing certificates that are
not available here. It answers exactly as those registries do: 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`, a token endpoint checking
basic credentials, then 200 for the bearer token."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dstream.oci.client import RegistryClient, RegistryError

MANIFEST = json.dumps({"schemaVersion": 2, "layers": []}).encode()
GOOD = "Basic " + base64.b64encode(b"bob:hunter2").decode()


class Handler(BaseHTTPRequestHandler):
    token_requests: list[dict[str, str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            query = dict(urllib.parse.parse_qsl(url.query))
            Handler.token_requests.append(query)
            auth = self.headers.get("Authorization")
            if auth is not None and auth != GOOD:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": "tok-" + ("user" if auth else "anon")}).encode()
        elif self.headers.get("Authorization") in ("Bearer tok-user", "Bearer tok-anon"):
            if self.headers["Authorization"] == "Bearer tok-anon" and "private" in url.path:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="x"')
                self.end_headers()
                return
            body = MANIFEST
        else:
            host = self.headers["Host"]
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="http://{host}/token",service="test-registry",'
                'scope="repository:ignored:pull"',
            )
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def token_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.token_requests.clear()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_anonymous_bearer_token(token_registry: str) -> None:
    client = RegistryClient(token_registry)
    body, _, _ = client.get_manifest("acme/public", "1")
    assert body == MANIFEST
    assert Handler.token_requests == [
        {"scope": "repository:acme/public:pull", "service": "test-registry"}
    ]
    client.get_manifest("acme/public", "2")  # the token is reused for the same scope
    assert len(Handler.token_requests) == 1


def test_bearer_token_with_credentials(
    token_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTREAM_REGISTRY_USERNAME", "bob")
    monkeypatch.setenv("DSTREAM_REGISTRY_PASSWORD", "hunter2")
    body, _, _ = RegistryClient(token_registry).get_manifest("acme/private", "1")
    assert body == MANIFEST


def test_token_service_refusing_credentials(
    token_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTREAM_REGISTRY_USERNAME", "bob")
    monkeypatch.setenv("DSTREAM_REGISTRY_PASSWORD", "wrong")
    with pytest.raises(RegistryError) as info:
        RegistryClient(token_registry).get_manifest("acme/private", "1")
    assert "refused the credentials of user 'bob'" in info.value.reason
    assert "wrong" not in str(info.value) + str(info.value.hint)


def test_anonymous_token_not_enough(token_registry: str) -> None:
    with pytest.raises(RegistryError, match="requires authentication for acme/private"):
        RegistryClient(token_registry).get_manifest("acme/private", "1")
