"""Both state backends for tests in any area: a workspace whose
`state { path = "state" }` becomes the backend under test (the PostgreSQL one on the
session's server, `pg_server` of tests/conftest.py).

    from tests.state.backends import backend_ws  # noqa: F401 (a fixture)
    def test_x(backend_ws: Workspace) -> None: ...  # runs once per backend
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from tests.services import PostgresServer, table_for
from tests.workspace import NO_COLOR, Workspace

FILE_STATE = 'state { path = "state" }'


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
            f'  table = "{table_for(request, "state_")}"\n}}'
        )
    return BackendWorkspace(tmp_path, block or FILE_STATE)
