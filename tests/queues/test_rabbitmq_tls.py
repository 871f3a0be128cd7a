"""dstream-rabbitmq over amqps:// to a broker whose certificate a private CA signed, as
docs/queues.md ("TLS") says to set it up: the CA trusted through SSL_CERT_FILE in the
output's env block, a client certificate through pika's ssl_options in the URL, and
an untrusted certificate refused at once with what to do.

The suite's broker listens without TLS, so a TLS relay terminates TLS in front of it
(asyncio, one thread), with a CA, a server certificate for 127.0.0.1 and a client
certificate made by openssl for the module."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from tests.queues.rabbit import NO_LEFTOVERS, RabbitServer, configure
from tests.services import require_service
from tests.workspace import Workspace

_names = itertools.count()
DEADLINE = 300


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem, server.pem/.key (for IP 127.0.0.1) and client.pem/.key, signed by the CA."""
    if shutil.which("openssl") is None:
        require_service("openssl is not installed (apt-get install openssl)")
    where = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=dstream test CA",
    )  # fmt: skip
    for name, san in (("server", "IP:127.0.0.1"), ("client", "DNS:dstream-client")):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}",
        )  # fmt: skip
        (where / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
            "-extfile", f"{name}.ext",
        )  # fmt: skip
    return where


class TlsRelay:
    """127.0.0.1:<port> with TLS -> the broker's plain port; `client_ca`: client
    certificates it signed are required."""

    def __init__(self, target_port: int, certs: Path, client_ca: Optional[Path] = None) -> None:
        self.target_port = target_port
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        start = asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=context)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(timeout=30)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        broker_in, broker_out = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(client_in, broker_out), pipe(broker_in, client_out))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


@contextlib.contextmanager
def relay(broker: RabbitServer, certs: Path, client_ca: Optional[Path] = None) -> Iterator[int]:
    proxy = TlsRelay(broker.port, certs, client_ca)
    try:
        yield proxy.port
    finally:
        proxy.close()


def tls_task(ws: Workspace, url: str, queue: str, *, env: Optional[dict[str, str]] = None) -> None:
    """Task "cdc": 30 changes of dbo.Orders into `queue` at `url`, the output given `env`."""
    configure(
        ws, url, count=30, tables=["dbo.Orders"], pattern=queue, extra=NO_LEFTOVERS, output_env=env
    )


@pytest.mark.timeout(DEADLINE)
def test_a_private_ca_is_trusted_through_ssl_cert_file(
    ws: Workspace, broker: RabbitServer, certs: Path
) -> None:
    queue = f"tls{next(_names)}_orders"
    with relay(broker, certs) as port:
        url = f"amqps://guest:guest@127.0.0.1:{port}/%2F"
        tls_task(ws, url, queue, env={"SSL_CERT_FILE": str(certs / "ca.pem")})
        for command in ("init", "run", "status"):
            done = ws.run(command, "cdc")
            assert done.returncode == 0, done.stderr
    assert broker.queue_count(queue) == 30
    broker.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_an_untrusted_certificate_is_said_at_once_with_what_to_do(
    ws: Workspace, broker: RabbitServer, certs: Path
) -> None:
    with relay(broker, certs) as port:
        tls_task(ws, f"amqps://guest:guest@127.0.0.1:{port}/%2F", f"tls{next(_names)}")
        done = ws.run("init", "cdc")
    assert done.returncode == 1, done.stderr
    assert (
        f"RabbitMQ at 127.0.0.1:{port} presented a TLS certificate that is not trusted: "
        "[SSL: CERTIFICATE_VERIFY_FAILED]" in done.stderr
    ), done.stderr
    assert "SSL_CERT_FILE" in done.stderr  # the hint
    assert "retrying" not in done.stderr  # the same certificate would be refused again


@pytest.mark.timeout(DEADLINE)
def test_a_client_certificate_through_ssl_options(
    ws: Workspace, broker: RabbitServer, certs: Path
) -> None:
    queue = f"tls{next(_names)}_orders"
    options = {
        "ca_certs": str(certs / "ca.pem"),
        "certfile": str(certs / "client.pem"),
        "keyfile": str(certs / "client.key"),
    }
    query = urllib.parse.quote(repr(options), safe="")
    with relay(broker, certs, client_ca=certs / "ca.pem") as port:
        tls_task(ws, f"amqps://guest:guest@127.0.0.1:{port}/%2F?ssl_options={query}", queue)
        for command in ("init", "run"):
            done = ws.run(command, "cdc")
            assert done.returncode == 0, done.stderr
    assert broker.queue_count(queue) == 30
    broker.delete_queues(queue)
