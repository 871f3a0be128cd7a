"""Both state backends for tests in any area: the PostgreSQL server of the session and
a workspace whose `state { path = "state" }` becomes the backend under test.

    from tests.state.backends import backend_ws, pg_server  # noqa: F401 (fixtures)
    def test_x(backend_ws: Workspace) -> None: ...  # runs once per backend
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from tests.services import PostgresServer, postgres
from tests.workspace import NO_COLOR, Workspace

FILE_STATE = 'state { path = "state" }'


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres() as server:
        yield server


def table_for(request: pytest.FixtureRequest) -> str:
    """One table per test, so tests sharing the server never see each other's rows."""
    return "state_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


class BackendWorkspace(Workspace):
    """A Workspace whose configurations keep their state in `state_block` instead."""

    def __init__(self, root: Path, state_block: str) -> None:
        super().__init__(root, env={**NO_COLOR, "XDG_STATE_HOME": str(root / "xdg-state")})
        self.state_block = state_block

    def config(self, text: str) -> Path:
        path = super().config(text)
        body = path.read_text()
        assert FILE_STATE in body, "the configuration has no state block to replace"
        path.write_text(body.replace(FILE_STATE, self.state_block))
        return path


@pytest.fixture(params=["file", "postgres"])
def backend_ws(request: pytest.FixtureRequest, tmp_path: Path) -> BackendWorkspace:
    block: Optional[str] = None
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        block = (
            f'state {{\n  backend = "postgres"\n  dsn = "{server.dsn}"\n'
            f'  table = "{table_for(request)}"\n}}'
        )
    return BackendWorkspace(tmp_path, block or FILE_STATE)
