"""The fixtures every test area shares, made from tests/services.py, tests/containers.py,
tests/relay.py and tests/workspace.py. An area's own conftest.py only says how it
differs (e.g. the environment its workspace gets, by overriding `workspace_env`)."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests import containers
from tests.containers import Podman, Registry
from tests.relay import RecordingProxy
from tests.services import PostgresServer, postgres
from tests.workspace import NO_COLOR, Workspace


def pytest_configure(config: pytest.Config) -> None:
    """The suite stops the commands it starts with SIGINT, as a user's Ctrl-C does. Run
    as a shell's background job (`pytest ... &`, `nohup`), the suite was started with
    SIGINT ignored, and every command it starts would inherit that and ignore it too
    (as dstream means to: docs/delivery.md); a handler of its own here gives them the
    default instead, so the tests check dstream and not how the suite was launched."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # The commands the suite starts buffer their standard streams as under systemd or in
    # a container, where PYTHONUNBUFFERED is not set (a shell or a sandbox that sets it
    # hid lines a kill -9 lost from dstream's stdout buffer). Tests that need it set it.
    os.environ.pop("PYTHONUNBUFFERED", None)


@pytest.fixture(autouse=True)
def fresh_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with a redactor that remembers no secret: the process's one
    (config/redact.py) keeps every value a test in the same process told it, and under
    pytest-xdist which tests share a process changes from run to run (a test that
    remembered "write" had "a write still in flight" print as "a *** still in flight"
    in another)."""
    from dstream.config import redact

    monkeypatch.setattr(redact, "_REDACTOR", redact.Redactor())


@pytest.fixture
def workspace_env() -> Mapping[str, str]:
    """What every command the `ws` fixture starts gets on top of os.environ: plain text
    whatever the environment asks, so assertions can read the CLI's output."""
    return NO_COLOR


@pytest.fixture
def ws(tmp_path: Path, workspace_env: Mapping[str, str]) -> Workspace:
    return Workspace(tmp_path, env=workspace_env)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A 127.0.0.1 port another socket listens on for the whole test (one dstream
    cannot have)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (it takes seconds to start); tests keep apart
    by a database or a table of their own (tests.services.table_for)."""
    with postgres() as server:
        yield server


@pytest.fixture
def proxy(pg_server: PostgresServer) -> Iterator[RecordingProxy]:
    """A proxy to the session's PostgreSQL that freezes and records (tests/relay.py);
    closed (thawed) at teardown, so nothing is left waiting on it."""
    made = RecordingProxy(pg_server.port)
    yield made
    made.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A real CNCF distribution registry on loopback, empty, for this test."""
    yield from containers.registry(tmp_path / "registry")


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants basic auth: user alice, password s3cret-pass."""
    yield from containers.registry(tmp_path / "registry", ("alice", "s3cret-pass"))


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman's Docker-compatible API for the session (images are imported, not pulled)."""
    with containers.podman(tmp_path_factory.mktemp("podman")) as engine:
        yield engine
