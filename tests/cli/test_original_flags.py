"""The original DStream's command line as its users' scripts wrote it (ORIGINAL.md
section 1): `-f/--log-format` and `-t/--log-time` (declared by cobra, before or after
the command) and cobra's `help COMMAND`."""

from __future__ import annotations

import pytest

from tests.cli import scenarios
from tests.workspace import Workspace

LOG_TIME_WARNING = (
    "dstream: [warning] -t/--log-time has no effect: dstream's text log carries no time; "
    "--log-format json gives every record a time"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "t", "-t"],
        ["run", "t", "--log-time"],
        ["-t", "run", "t"],
        ["--log-time", "-l", "info", "run", "t"],
        ["run", "t", "--log-time=true"],  # cobra's spellings of a boolean's value
        ["-t=1", "run", "t"],
    ],
)
def test_log_time_is_accepted_and_said_to_have_no_effect(ws: Workspace, argv: list[str]) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(LOG_TIME_WARNING) == 1, done.stderr


@pytest.mark.parametrize("argv", [["run", "t", "-f", "json"], ["-f", "json", "run", "t"]])
def test_f_is_log_format(ws: Workspace, argv: list[str]) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv, "-l", "debug")
    assert done.returncode == 0, done.stderr
    records = [line for line in done.stderr.splitlines() if line.startswith('{"time":')]
    assert records, done.stderr


def test_f_text_is_the_default_format(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "-f", "text", "-t")
    assert done.returncode == 0, done.stderr
    assert LOG_TIME_WARNING in done.stderr
    assert '{"time":' not in done.stderr


def test_f_takes_only_a_format_dstream_has(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "-f", "yaml")
    assert done.returncode == 2
    assert "argument -f/--log-format: invalid choice: 'yaml'" in done.stderr


def test_help_command_shows_that_commands_help(ws: Workspace) -> None:
    done = ws.run("help", "run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dstream run"), done.stdout
    assert "--reset-state" in done.stdout
    assert ws.run("run", "--help").stdout == done.stdout


def test_help_of_an_action_shows_its_help(ws: Workspace) -> None:
    done = ws.run("help", "state", "show")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dstream state show"), done.stdout


def test_help_alone_is_the_overview(ws: Workspace) -> None:
    done = ws.run("help")
    assert done.returncode == 0, done.stderr
    assert "dstream help COMMAND" in done.stdout and "commands:" in done.stdout


def test_help_of_an_unknown_command_is_a_usage_error(ws: Workspace) -> None:
    done = ws.run("help", "rnu")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: unknown command 'rnu'\n  hint: did you mean `dstream help run`?\n"
    )
    done = ws.run("help", "nosuch")
    assert done.returncode == 2
    assert "error: unknown command 'nosuch'\n  hint: run `dstream --help`" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [["help", "--json", "list"], ["help", "-l", "debug", "list"], ["help", "-c", "x.hcl", "list"]],
    ids=" ".join,
)
def test_help_finds_its_command_after_global_flags(ws: Workspace, argv: list[str]) -> None:
    """`help --json list` is list's help (it was the top help: a word starting with "-"
    after help made help the overview)."""
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ws.run("list", "--help").stdout


@pytest.mark.parametrize(
    "argv", [["help", "-l", "debug", "bogus"], ["help", "--json", "bogus"]], ids=" ".join
)
def test_help_of_an_unknown_command_after_global_flags_is_refused(
    ws: Workspace, argv: list[str]
) -> None:
    done = ws.run(*argv)
    if "--json" in argv:
        scenarios.usage_document(done, "unknown command 'bogus'")
    else:
        scenarios.usage_error(done, "unknown command 'bogus'")
        assert done.stdout == ""


def test_help_with_an_unknown_flag_is_refused(ws: Workspace) -> None:
    done = ws.run("help", "--bogus")
    scenarios.usage_error(done, "--bogus")
    assert done.stdout == ""


@pytest.mark.parametrize("flags", [["-l", "debug"], ["-f", "json"], ["-t"]])
def test_log_flags_after_an_action_as_after_a_command(ws: Workspace, flags: list[str]) -> None:
    """docs/cli.md: global flags go before or after the command, so after an action of
    `providers` or `state` too (`providers list -l debug` was "unrecognized")."""
    done = ws.run("providers", "list", *flags)
    assert done.returncode == 0, done.stderr
    done = ws.run("-l", "error", "providers", "list", *flags)
    assert done.returncode == 0, done.stderr


def test_a_terraform_command_names_dstreams_twin(ws: Workspace) -> None:
    done = ws.run("validate")
    assert done.returncode == 2
    assert (
        done.stderr == "error: unknown command 'validate'\n  hint: did you mean `dstream lint`?\n"
    )


@pytest.mark.parametrize("argv", [["run", "t", "-t=false"], ["--log-time=false", "run", "t"]])
def test_log_time_false_as_cobra_took_it_is_no_switch(ws: Workspace, argv: list[str]) -> None:
    """`-t=false` was read as -t and `-f alse` ("invalid choice: 'alse'"), and
    `--log-time=false` refused ("ignored explicit argument")."""
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert LOG_TIME_WARNING not in done.stderr, done.stderr
