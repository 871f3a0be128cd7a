"""A usage error read before the configuration never repeats a value the parser did
not take: a second `--var` value (`--var a=1 b=2`: argparse takes one), a value given
without `=` (`--var pw VALUE`), a second `--env` pair of `provider test`. Flags are
named, their values masked; a bare word is counted, not shown (it was quoted)."""

from __future__ import annotations

import pytest

from tests.security.test_crash_command_line import CONFIG  # a sensitive variable "pw"
from tests.workspace import Workspace

SECRET = "UsgSecret77"
CASES = {
    "a second --var value": (("run", "t", "--var", "pw=x", f"pw2={SECRET}"), "pw2=***"),
    "a value after --var NAME": (("run", "t", "--var", "pw", SECRET), "1 word, not shown"),
    "a second --env pair": (
        ("provider", "test", "dstream-null", "--env", "A=1", f"DB_TOKEN={SECRET}"),
        "DB_TOKEN=***",
    ),
    "an unknown flag's value": (("list", f"--bogus={SECRET}"), "--bogus=***"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("as_json", [False, True])
def test_a_value_the_parser_did_not_take_is_not_repeated(
    ws: Workspace, case: str, as_json: bool
) -> None:
    ws.config(CONFIG)
    argv, shown = CASES[case]
    done = ws.run(*argv, *(("--json",) if as_json else ()))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert SECRET not in said, said
    assert f"unrecognized arguments: {shown}" in said, said


def test_a_flag_typed_wrong_is_still_named(ws: Workspace) -> None:
    ws.config(CONFIG)
    done = ws.run("list", "--jsn")
    assert "unrecognized arguments: --jsn" in done.stderr and "`--json`" in done.stderr
