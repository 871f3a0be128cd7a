"""What the lifecycle says when RabbitMQ's management API refuses: a 401 is a wrong
password as often as a missing tag (it named only the tag), and a 404 is a vhost the
broker does not have (it said to fix management_url, which was right). A real HTTP
server on loopback answers as the plugin does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pika = pytest.importorskip("pika")

from dstream.providers.queues.leftovers import CannotList  # noqa: E402
from dstream.providers.queues.management import ManagementApi  # noqa: E402

REDIRECT_TO: list[str] = []  # where a 302 of `answering` points, one per 302


@pytest.fixture
def answering() -> Iterator[tuple[int, list[int]]]:
    """A server answering each request with the next status of the list it yields."""
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error":"Object Not Found","reason":"Not Found"}'
            status = statuses.pop(0)
            self.send_response(status)
            if status == 302:
                self.send_header("Location", REDIRECT_TO.pop(0))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()


def refusal(port: int, vhost: str = "%2F") -> str:
    params = pika.URLParameters(f"amqp://app:s3cret@127.0.0.1:5672/{vhost}")
    api = ManagementApi(f"http://127.0.0.1:{port}", params)
    with pytest.raises(CannotList) as caught:
        api.marked("cdc")
    said = f"{caught.value.reason} / {caught.value.hint}"
    assert "s3cret" not in said
    return said


def test_a_401_says_password_or_tag(answering: tuple[int, list[int]]) -> None:
    port, statuses = answering
    statuses.append(401)
    said = refusal(port)
    assert "refused user 'app'" in said and "password" in said and "tag" in said, said


def test_a_404_says_the_vhost(answering: tuple[int, list[int]]) -> None:
    port, statuses = answering
    statuses.append(404)
    said = refusal(port, "nosuch")
    assert "has no vhost 'nosuch'" in said and "url's path" in said, said


def test_a_redirect_is_not_followed_with_the_password(answering: tuple[int, list[int]]) -> None:
    """urllib followed a redirect with the Authorization header, so the broker's
    password went to whatever host the redirect named."""
    port, statuses = answering
    elsewhere: list[str] = []

    class Collector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            elsewhere.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *_: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=other.serve_forever, args=(0.05,), daemon=True).start()
    try:
        statuses.append(302)
        REDIRECT_TO.append(f"http://127.0.0.1:{other.server_address[1]}/api/queues/%2F")
        said = refusal(port)
    finally:
        other.shutdown()
        other.server_close()
    assert "redirected to http://127.0.0.1:" in said and "does not follow" in said, said
    assert elsewhere == []
