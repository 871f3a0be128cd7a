"""A malformed `--var` or `provider test --env` (no `=`, or no name) does not repeat
the value it was given: the error masks it as a usage error and the crash report mask
a --var value (`***`, the name kept when there is one). It was quoted as written
(`--var 's:X' is not NAME=VALUE`)."""

from __future__ import annotations

import pytest

from tests.security.test_leak_usage_var import CONFIG
from tests.workspace import Workspace

SECRET = "FollowupVar81"
PROVIDER = "import sys\nsys.exit(0)\n"
MALFORMED = {
    "no equals sign": f"s:{SECRET}",
    "no name": f"={SECRET}",
}
BAD_ENV = {
    "no equals sign": f"PGPASSWORD:{SECRET}",
    "no name": f"={SECRET}",
    "a name that is no name": f"PG-PASSWORD={SECRET}",
}


@pytest.mark.parametrize("spelling", sorted(MALFORMED))
@pytest.mark.parametrize("as_json", [False, True])
def test_a_malformed_var_is_not_repeated(ws: Workspace, spelling: str, as_json: bool) -> None:
    ws.config(CONFIG)
    done = ws.run("plan", "t", "--var", MALFORMED[spelling], *(("--json",) if as_json else ()))
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert "is not NAME=VALUE" in said, said
    assert SECRET not in said, said
    assert "***" in said, said


@pytest.mark.parametrize("spelling", sorted(BAD_ENV))
@pytest.mark.parametrize("as_json", [False, True])
def test_a_malformed_env_is_not_repeated(ws: Workspace, spelling: str, as_json: bool) -> None:
    ws.python_script("p.py", PROVIDER)
    done = ws.run(
        "provider", "test", "./p.py", "--role", "input", "--env", BAD_ENV[spelling],
        *(("--json",) if as_json else ()),
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "is not NAME=VALUE" in said, said
    assert SECRET not in said, said
    assert "***" in said, said
