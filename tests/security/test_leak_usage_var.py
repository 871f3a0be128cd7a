"""A usage error read before the configuration (which says which variables are
sensitive) never repeats a --var value: an unknown flag's message masks it as the
crash report does (`-var pw=***`, Terraform's spelling that dstream does not take), in
text and in --json. It was quoted as written."""

from __future__ import annotations

import pytest

from tests.security.test_crash_command_line import CONFIG  # a sensitive variable "pw"
from tests.workspace import Workspace

SECRET = "SensVarCli77"
SPELLINGS = {
    "-var NAME=VALUE": ("init", "t", "-var", f"pw={SECRET}"),
    "-var=NAME=VALUE": ("init", "t", f"-var=pw={SECRET}"),
    "-var=VALUE (no name)": ("init", "t", f"-var={SECRET}"),
    "after an unknown flag": ("plan", "t", "--bogus", "-var", f"pw={SECRET}"),
    "before the command": (f"--var=pw={SECRET}", "init", "t"),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("as_json", [False, True])
def test_an_unknown_flag_does_not_repeat_a_var_value(
    ws: Workspace, spelling: str, as_json: bool
) -> None:
    ws.config(CONFIG)
    done = ws.run(*SPELLINGS[spelling], *(("--json",) if as_json else ()))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "unrecognized arguments" in said, said
    assert SECRET not in said, said
    assert "***" in said, said
