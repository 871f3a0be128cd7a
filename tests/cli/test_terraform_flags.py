"""Terraform's single-dash spellings of the flags dstream shares with it are taken as
the `--` ones: a review found `-detailed-exitcode` and `fmt -check` accepted but
`destroy -auto-approve`, `plan -destroy`, `-var` and `-var-file` refused (exit 2), though
`terraform destroy -auto-approve` and `terraform plan -var x=1` are its most common
command lines. A flag Terraform does not have keeps only its `--` spelling."""

from __future__ import annotations

import subprocess

from dstream.cli.completion import full_parser
from dstream.cli.parsing import action_parsers, every_flag
from dstream.cli.terraform import TERRAFORM_ONLY
from tests.cli import scenarios
from tests.cli.test_docs import DOC
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


def test_switches_take_terraforms_true_and_false(ws: Workspace) -> None:
    # Terraform (Go's flag package) takes `-destroy=true`; argparse refused it, and its
    # single-dash form blamed another flag ("-t/--log-time: ignored explicit argument").
    setup(ws)
    on = ws.run("plan", "t", "-destroy=true", "--json=true")
    assert on.returncode == 0, on.stderr
    assert json_document(on)["ok"] is True
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]
    off = ws.run("plan", "t", "--destroy=false", "-json=false")
    assert off.returncode == 0, off.stderr
    assert not off.stdout.lstrip().startswith("{"), off.stdout  # text, not a document
    assert calls(ws)[2:] == [["input", "plan", False], ["output", "plan", False]]
    gone = ws.run("destroy", "t", "-auto-approve=true", stdin=subprocess.DEVNULL)
    assert gone.returncode == 0, gone.stderr
    assert calls(ws)[4:] == [["output", "destroy", False], ["input", "destroy", False]]
    (ws.root / "sub").mkdir()
    (ws.root / "sub" / "a.hcl").write_text('task "t" {\ninput{ provider_path="x" }\n}\n')
    checked = ws.run("fmt", "-check=true", "-recursive=true", "-diff=true")
    assert checked.returncode == 1, checked.stderr  # not formatted: found below, and shown
    assert "sub/a.hcl" in checked.stdout and "+++" in checked.stdout, checked.stdout


def test_a_switch_given_another_value_is_refused_by_its_name(ws: Workspace) -> None:
    setup(ws)
    for argv, typed in (
        (("plan", "t", "-destroy=yes"), "-destroy"),
        (("plan", "t", "--destroy=2"), "--destroy"),
        (("destroy", "t", "-auto-approve=y"), "-auto-approve"),
        (("fmt", "-check=no"), "-check"),
        (("list", "-json=on"), "-json"),
    ):
        done = ws.run(*argv)
        scenarios.usage_error(done, f"argument {typed}:", "true", "false")
        assert "log-time" not in done.stderr and "log-format" not in done.stderr, done.stderr
    assert not (ws.root / "calls.jsonl").exists()  # nothing was asked


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


# Terraform's flags dstream has no setting for, as a Terraform user types them, and what
# the refusal names. argparse read `-lock=false` as `-l ock=false` ("unknown log level")
# and `-compact-warnings` as `-c ompact-warnings` (a configuration file that is missing).
TYPED = [
    (("run", "t", "-lock=false"), "-lock=false", "lock"),
    (("plan", "t", "-lock=false"), "-lock=false", "lock"),
    (("destroy", "t", "-lock-timeout=10s"), "-lock-timeout=10s", "--standby"),
    (("run", "t", "-input=false"), "-input=false", "asks"),
    (("run", "t", "-parallelism=4"), "-parallelism=4", "side by side"),
    (("plan", "t", "-refresh=false"), "-refresh=false", "ask the providers"),
    (("plan", "t", "-no-color"), "-no-color", "NO_COLOR=1"),
    (("plan", "t", "--no-color"), "--no-color", "NO_COLOR=1"),
    (("plan", "t", "-compact-warnings"), "-compact-warnings", "-l error"),
    (("run", "t", "--lock=false"), "--lock=false", "lock"),
    (("plan", "t", "--refresh"), "--refresh", "ask the providers"),  # init's --refresh is another
    (("-lock=false", "run", "t"), "-lock=false", "lock"),
    (("-no-color", "plan", "t"), "-no-color", "NO_COLOR=1"),
    (("state", "list", "-lock=false"), "-lock=false", "lock"),
    (("plan", "-target=t"), "-target=t", "name the tasks"),
]


def test_terraforms_flags_dstream_has_not_are_said_to_be_so(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    for argv, typed, instead in TYPED:
        done = ws.run(*argv)
        scenarios.usage_error(done, instead)
        assert done.stderr.startswith(f"error: {typed}: "), done.stderr
        scenarios.usage_document(ws.run(*argv, "-json"), f"{typed}: ", instead)
    assert not (ws.root / "out.jsonl").exists()  # no run started


def test_a_secret_looking_value_of_terraforms_flag_is_not_shown(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("init", "t", "-backend-config=password=hunter2")
    scenarios.usage_error(done, "-backend-config=***", "state")
    assert "hunter2" not in done.stderr


def test_terraforms_table_holds_no_dstream_flag_and_docs_cli_lists_it() -> None:
    # A word is refused whatever command reads it: none may be a flag of one.
    parsers = [full_parser()]
    for parser in parsers:
        parsers.extend(action_parsers(parser).values())
    assert set(TERRAFORM_ONLY).isdisjoint(every_flag(parsers))
    listed = DOC.split("Terraform's spellings:", 1)[1].split("\n## ", 1)[0]
    assert [flag for flag in TERRAFORM_ONLY if f"`{flag}`" not in listed] == []
