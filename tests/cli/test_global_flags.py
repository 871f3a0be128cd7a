"""Global flags before the command (docs/cli.md, "Global flags"), as Terraform's go
before its command: every command takes them there. A command that reads no
configuration ignores a -c given there (as Terraform's commands do -chdir); `fmt`,
which formats the files it is given, and `completion`, whose output is no document,
refuse the flag they cannot honour, naming it and the command. A command line that is
only global flags, or names no command dstream has, is a usage error like any other:
one block, or one JSON document with --json."""

from __future__ import annotations

import orjson
import pytest

from tests.cli import scenarios
from tests.workspace import Workspace, json_document


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "other.hcl", "version"],
        ["--config=other.hcl", "version", "--json"],
        ["-c", "other.hcl", "completion", "bash"],
        ["-c", "other.hcl", "-l", "debug", "providers", "list"],
        ["-c", "other.hcl", "provider", "test", "dstream-null", "--check", "handshake"],
    ],
    ids=" ".join,
)
def test_a_command_that_reads_no_configuration_ignores_a_config_before_it(
    ws: Workspace, argv: list[str]
) -> None:
    """`provider test` has a --config of its own (the provider's): a -c before the
    command is never read as that one."""
    ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout


def test_a_config_before_a_command_that_reads_one_is_its_config(ws: Workspace) -> None:
    (ws.root / "etl").mkdir()
    scenarios.counter_file(ws)
    (ws.root / "dstream.hcl").rename(ws.root / "etl" / "dstream.hcl")
    for argv in (["-c", "etl", "list", "--json"], ["-c", "etl", "state", "list", "--json"]):
        done = ws.run(*argv)
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout), done.stdout


def test_fmt_refuses_a_config_before_it(ws: Workspace) -> None:
    """Ignored, it would format the current directory's files instead of the ones named."""
    (ws.root / "a.hcl").write_text('task "t" {\ninput{provider_path="x"}\n}\n')
    before = (ws.root / "a.hcl").read_text()
    done = ws.run("-c", "etl/dstream.hcl", "fmt")
    scenarios.usage_error(done, "`dstream fmt` does not take -c", "leave -c out")
    assert (ws.root / "a.hcl").read_text() == before
    scenarios.usage_document(ws.run("--json", "--config", "x.hcl", "fmt"), "does not take --config")


def test_completion_refuses_json_before_it(ws: Workspace) -> None:
    done = ws.run("--json", "completion", "bash")
    scenarios.usage_error(done, "`dstream completion` does not take --json")
    assert done.stdout == ""


def test_an_ignored_config_is_still_checked(ws: Workspace) -> None:
    scenarios.usage_error(ws.run("-c", "", "version"), "argument -c", "an empty path")


@pytest.mark.parametrize("argv", [["-c", "x.hcl"], ["-l", "debug", "-t"]], ids=" ".join)
def test_only_global_flags_is_no_command(ws: Workspace, argv: list[str]) -> None:
    scenarios.usage_error(ws.run(*argv), "no command given")
    scenarios.usage_document(ws.run(*argv, "--json"), "no command given")
    scenarios.usage_document(ws.run("--json", *argv), "no command given")


def test_a_global_flag_without_its_value_says_so(ws: Workspace) -> None:
    scenarios.usage_error(ws.run("-c"), "argument -c: expected one argument")


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "bogus"],
        ["bogus", "--json"],
        ["help", "bogus", "--json"],
        ["-c", "x", "bogus", "--json"],
    ],
    ids=" ".join,
)
def test_an_unknown_command_with_json_is_a_usage_document(ws: Workspace, argv: list[str]) -> None:
    done = ws.run(*argv)
    scenarios.usage_document(done, "unknown command 'bogus'")
    assert "error: unknown command" not in done.stderr  # the document says it: no block too


def test_an_unknown_command_names_the_one_meant(ws: Workspace) -> None:
    done = ws.run("rnu", "--json")
    assert json_document(done)["hint"] == "did you mean `dstream run`?"


@pytest.mark.parametrize(
    "argv",
    [["providers", "list", "--cache-dir", ""], ["providers", "pull", "x:1", "--cache-dir="]],
    ids=" ".join,
)
def test_an_empty_cache_dir_is_refused_as_every_empty_path(ws: Workspace, argv: list[str]) -> None:
    scenarios.usage_error(ws.run(*argv), "argument --cache-dir", "an empty path")


def test_a_command_without_its_action_says_so_whatever_came_before(ws: Workspace) -> None:
    """The flag's value was read as the action: `invalid choice: 'x.hcl'`."""
    scenarios.usage_error(
        ws.run("-c", "x.hcl", "state"), "the following arguments are required: ACTION"
    )
    done = ws.run("--json", "providers")
    scenarios.usage_document(done, "the following arguments are required: ACTION")
