"""Terraform's single-dash spellings of the flags dstream shares with it are taken as
the `--` ones: a review found `-detailed-exitcode` and `fmt -check` accepted but
`destroy -auto-approve`, `plan -destroy`, `-var` and `-var-file` refused (exit 2), though
`terraform destroy -auto-approve` and `terraform plan -var x=1` are its most common
command lines. A flag Terraform does not have keeps only its `--` spelling."""

from __future__ import annotations

import subprocess

from tests.cli import scenarios
from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace, json_document


def _with_variables(ws: Workspace) -> None:
    setup(ws)
    config = ws.root / "dstream.hcl"
    text = config.read_text().replace(
        'provider_path = "./p.py"',
        'provider_path = "./p.py"\n            env = { TAG = "${var.tag}-${var.other}" }',
        1,
    )
    config.write_text('variable "tag" {}\nvariable "other" {}\n' + text)
    (ws.root / "v.tfvars").write_text('other = "b"\n')


def test_plan_and_destroy_take_terraforms_spellings(ws: Workspace) -> None:
    _with_variables(ws)
    done = ws.run("plan", "t", "-destroy", "-var", "tag=a", "-var-file", "v.tfvars", "-json")
    assert done.returncode == 0, done.stderr
    assert json_document(done)["ok"] is True
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]
    gone = ws.run(
        "destroy",
        "t",
        "-auto-approve",
        "-var=tag=a",
        "-var-file=v.tfvars",
        stdin=subprocess.DEVNULL,
    )
    assert gone.returncode == 0, gone.stderr
    assert calls(ws)[2:] == [["output", "destroy", False], ["input", "destroy", False]]


def test_json_in_terraforms_spelling_wherever_json_goes(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    for argv in (
        ("list", "-json"),
        ("-json", "list"),
        ("state", "list", "-json"),
        ("-json", "state", "list"),
        ("providers", "list", "-json"),
    ):
        done = ws.run(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        json_document(done)
    refused = ws.run("list", "-jsn", "-json")  # a usage error is one document too
    assert refused.returncode == 2
    assert json_document(refused)["ok"] is False


def test_a_flag_terraform_does_not_have_keeps_only_its_long_spelling(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "-reset-state")
    scenarios.usage_error(done, "-reset-state", "--reset-state")
