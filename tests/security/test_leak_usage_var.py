"""A usage error read before the configuration (which says which variables are
sensitive) never repeats a --var value: an unknown flag's message masks it as the
crash report does (`--var=pw=***`), in text and in --json, and one that is not
NAME=VALUE is shown masked. It was quoted as written. (Terraform's `-var` is a
spelling of --var since the single-dash flags were taken: it is one case here.)"""

from __future__ import annotations

import pytest

from tests.security.test_crash_command_line import CONFIG  # a sensitive variable "pw"
from tests.workspace import Workspace

SECRET = "SensVarCli77"
# Each command line, and what its error says (never the value).
SPELLINGS = {
    "-var=VALUE (no name)": (("init", "t", f"-var={SECRET}"), "--var '***' is not NAME=VALUE"),
    "--var=VALUE (no name)": (("init", "t", f"--var={SECRET}"), "--var '***' is not NAME=VALUE"),
    "-var before an unknown flag": (
        ("init", "t", "-var", f"pw={SECRET}", "--bogus"),
        "unrecognized arguments: --bogus",
    ),
    "after an unknown flag": (
        ("plan", "t", "--bogus", "-var", f"pw={SECRET}"),
        "unrecognized arguments",
    ),
    "before the command": ((f"--var=pw={SECRET}", "init", "t"), "--var=pw=***"),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("as_json", [False, True])
def test_an_unknown_flag_does_not_repeat_a_var_value(
    ws: Workspace, spelling: str, as_json: bool
) -> None:
    ws.config(CONFIG)
    command, error = SPELLINGS[spelling]
    done = ws.run(*command, *(("--json",) if as_json else ()))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert error in said, said
    assert SECRET not in said, said
