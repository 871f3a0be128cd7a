"""A var file that is rejected as a whole (a name set twice, a syntax error) gives no
variable its value: a variable it sets is then not "without a value, set it": lint says
that the var file setting it was rejected (a review found the untrue hint)."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

CONFIG = """\
variable "ports" { type = list(number) }
variable "name" { type = string }
variable "other" { type = string }
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "/bin/cat"
    config = { p = var.ports, n = var.name, o = var.other }
  }
}
"""


@pytest.mark.parametrize(
    ("name", "text", "error", "says"),
    [
        (
            "dup.tfvars",
            'name = "a"\nports = [1]\nname = "b"\nother = "o"\n',
            "error: dup.tfvars:3:1: attribute 'name' is set twice",
            "dup.tfvars, which sets it, was rejected",
        ),
        (
            "dup.json",
            '{"name": "a", "ports": [1], "name": "b", "other": "o"}',
            "variable 'name' is set twice in this JSON var file",
            "dup.json, which sets it, was rejected",
        ),
        (
            "broken.tfvars",
            'ports = [1\nname = "b"\nother = "o"\n',
            "error: broken.tfvars:",
            "broken.tfvars, which may set it, was rejected",
        ),
    ],
)
def test_a_variable_a_rejected_var_file_sets_is_not_said_to_have_no_value(
    ws: Workspace, name: str, text: str, error: str, says: str
) -> None:
    (ws.root / "dstream.hcl").write_text(CONFIG)
    (ws.root / name).write_text(text)
    done = ws.run("lint", "--var-file", name)
    assert done.returncode == 2, done.stderr
    assert error in done.stderr, done.stderr
    assert "has no value\n" not in done.stderr, done.stderr
    assert f"has no value: {says}" in done.stderr, done.stderr
    assert f"hint: fix {name}" in done.stderr, done.stderr


def test_a_variable_the_rejected_file_does_not_set_still_has_no_value(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(CONFIG)
    (ws.root / "dup.tfvars").write_text('name = "a"\nname = "b"\n')
    done = ws.run("lint", "--var-file", "dup.tfvars", "--var", "other=o")
    assert done.returncode == 2, done.stderr
    assert 'variable "ports" has no value\n' in done.stderr, done.stderr
    assert "set it with --var ports=VALUE" in done.stderr, done.stderr
