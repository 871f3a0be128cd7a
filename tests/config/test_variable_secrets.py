"""A sensitive variable's value never shows in an error about it: not the parser's
words, not a token of it, not a hint quoting it, whichever way it came in
(DSTREAM_VAR_*, --var, an HCL or a JSON var file, its default). The error says where
and what kind of mistake. Real `dstream` processes, their whole output read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from tests.workspace import CliResult
from tests.workspace import dstream as run_cli

SECRET = "Tr0ub4dor"
DECLARATIONS = """variable "db" {
  type      = object({ user = string, password = string })
  sensitive = true
}
variable "pin" {
  type      = number
  sensitive = true
}
variable "tokens" {
  type      = map(number)
  sensitive = true
}
"""
TASK = """task "t" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 1 }
  }
  output {
    provider_path = "dstream-null"
    env = { PGPASSWORD = var.db.password, PIN = var.pin, T = jsonencode(var.tokens) }
  }
}
"""
GOOD = {
    "DSTREAM_VAR_db": '{user = "u-ok-1", password = "pw-ok-1"}',
    "DSTREAM_VAR_pin": "1234",
    "DSTREAM_VAR_tokens": "{a = 1}",
}
BARE = '{user = "app", password = ' + SECRET + "}"
UNCLOSED = '{user = "app", password = "' + SECRET + "}"


def dstream(*args: str, cwd: Path, env: Optional[dict[str, str]] = None) -> CliResult:
    return run_cli(*args, cwd=cwd, env={**GOOD, **(env or {})}, without="DSTREAM_")


def assert_not_shown(done: CliResult) -> None:
    """No 4 characters of the secret in a row, anywhere in the output."""
    output = done.stdout + done.stderr
    for start in range(len(SECRET) - 3):
        assert SECRET[start : start + 4] not in output, output


CASES = {
    # name: (extra arguments, environment, var files, where, the kind of mistake)
    "env-bare-word": ((), {"DSTREAM_VAR_db": BARE}, {}, "DSTREAM_VAR_db", "a name where"),
    "env-syntax": ((), {"DSTREAM_VAR_db": UNCLOSED}, {}, "DSTREAM_VAR_db", "does not parse"),
    "var-bare-word": (("--var", "db=" + BARE), {}, {}, "--var db", "a name where"),
    "var-syntax": (("--var", "db=" + UNCLOSED), {}, {}, "--var db", "does not parse"),
    "var-file-bare-word": (
        ("--var-file", "prod.vars"),
        {},
        {"prod.vars": f'db = {{\n  user     = "app"\n  password = {SECRET}\n}}\n'},
        "prod.vars:3:14",
        "a name where",
    ),
    "var-file-syntax": (
        ("--var-file", "prod.vars"),
        {},
        {"prod.vars": f'db = {{\n  user     = "app"\n  password = "{SECRET}\n}}\n'},
        "prod.vars:3:",
        "the var file does not parse here",
    ),
    "var-file-function": (
        ("--var-file", "prod.vars"),
        {},
        {"prod.vars": f'pin = tonumber("{SECRET}")\n'},
        "prod.vars:1:7",
        "calls a function that fails",
    ),
    "json-duplicate-key": (
        ("--var-file", "prod.json"),
        {},
        {"prod.json": json.dumps({"tokens": {SECRET: 1}})[:-2] + f', "{SECRET}": 2}}}}'},
        "prod.json:1:",
        'a key appears twice in an object of sensitive variable "tokens"',
    ),
    "json-type": (
        ("--var-file", "prod.json"),
        {},
        {"prod.json": json.dumps({"tokens": {SECRET: SECRET}})},
        "prod.json:1:",
        "var.tokens[...] is a string that is not a number",
    ),
    "number-text": ((), {"DSTREAM_VAR_pin": SECRET}, {}, "DSTREAM_VAR_pin", "not a number"),
    "number-in-var-file": (
        ("--var-file", "prod.vars"),
        {},
        {"prod.vars": f'pin = "{SECRET}"\n'},
        "prod.vars:1:7",
        "not a number",
    ),
    "map-key": (
        ("--var", f'tokens={{{SECRET} = "x"}}'),
        {},
        {},
        "--var tokens",
        "var.tokens[...] is a string that is not a number",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_an_error_about_a_sensitive_value_never_shows_it(tmp_path: Path, case: str) -> None:
    args, env, files, where, mistake = CASES[case]
    (tmp_path / "dstream.hcl").write_text(DECLARATIONS + TASK)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = dstream("lint", "--json", *args, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert_not_shown(done)
    errors = [d for d in json.loads(done.stdout)["diagnostics"] if d["severity"] == "error"]
    assert errors[0]["location"].startswith(where), errors
    assert mistake in errors[0]["message"], errors
    assert errors[0]["hint"], errors


def test_a_sensitive_default_that_does_not_evaluate_is_not_shown(tmp_path: Path) -> None:
    declaration = DECLARATIONS.replace(
        '  sensitive = true\n}\nvariable "pin"',
        f'  sensitive = true\n  default   = {{ user = "app", password = {SECRET} }}\n}}\n'
        'variable "pin"',
    )
    (tmp_path / "dstream.hcl").write_text(declaration + TASK)
    done = dstream("plan", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert_not_shown(done)
    assert "dstream.hcl:4:42: " in done.stderr, done.stderr
    assert 'sensitive variable "db" holds a name where a value belongs' in done.stderr


def test_plain_text_errors_name_the_place_and_not_the_value(tmp_path: Path) -> None:
    """As the tester saw it: `plan` with a var file, `lint` with the environment."""
    (tmp_path / "dstream.hcl").write_text(DECLARATIONS + TASK)
    (tmp_path / "prod.vars").write_text(f'db = {{\n  user = "app"\n  password = {SECRET}\n}}\n')
    done = dstream("plan", "--var-file", "prod.vars", cwd=tmp_path)
    assert done.returncode == 2
    assert_not_shown(done)
    assert done.stderr.startswith(
        'error: prod.vars:3:14: the value of sensitive variable "db" holds a name where a '
        "value belongs (not shown: it is secret)\n"
    ), done.stderr
    done = dstream("lint", cwd=tmp_path, env={"DSTREAM_VAR_db": BARE})
    assert done.returncode == 2
    assert_not_shown(done)
    assert (
        'error: DSTREAM_VAR_db: the value of sensitive variable "db" holds a name where a '
        "value belongs, at character 27 (not shown: it is secret)"
    ) in done.stderr, done.stderr
