"""An unknown flag is reported as one wherever it is written (docs/cli.md, "Flags are
written in full"): before the command, where only global flags go, and before argparse's
own complaints ("the following arguments are required", "invalid choice"), which it
makes before it looks at what it did not recognise; a value the unknown flag was given
is then no action."""

from __future__ import annotations

import pytest

from tests.cli import scenarios
from tests.workspace import Workspace

# A command line, the unknown flag, and what its hint says: before the command, where
# only global flags go, and where argparse finds a mistake of its own besides it.
UNKNOWN = [
    (["--state-d", "/tmp", "runs"], "--state-d", "did you mean `--state-dir`? flags are written"),
    (["--js", "runs"], "--js", "did you mean `--json`? flags are written in full"),
    (["-c", "dstream.hcl", "--js", "runs"], "--js", "did you mean `--json`?"),
    (["--conf", "dstream.hcl", "runs"], "--conf", "did you mean `--config`?"),
    (["--log-l", "debug", "runs"], "--log-l", "did you mean `--log-level`?"),
    (["--cache-d", "x", "providers", "list"], "--cache-d", "did you mean `--cache-dir`?"),
    (["deploy", "kubernetes", "--ima", "x"], "--ima", "did you mean `--image`?"),
    (["state", "show", "--js"], "--js", "did you mean `--json`?"),
    (["state", "--js", "show"], "--js", "did you mean `--json`?"),
    (["state", "--log-l", "debug", "list"], "--log-l", "did you mean `--log-level`?"),
    (["providers", "--cache-d", "x", "list"], "--cache-d", "did you mean `--cache-dir`?"),
    (["runs", "--la", "-n", "0"], "--la", "did you mean `--last`?"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "word", "hint"), UNKNOWN, ids=[" ".join(c[0]) for c in UNKNOWN])
def test_an_unknown_flag_is_said_first_wherever_it_stands(
    ws: Workspace, argv: list[str], word: str, hint: str
) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    scenarios.usage_error(done, f"unrecognized arguments: {word}", hint)
    for other in ("unknown command", "`dstream state`", "required", "invalid choice"):
        assert other not in done.stderr, done.stderr
    scenarios.usage_document(ws.run(*argv, "--json"), word)


def test_a_flag_of_the_command_written_before_it_is_said_to_go_after_it(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("--state-dir", "/tmp", "runs")
    scenarios.usage_error(done, "unrecognized arguments: --state-dir", "after the command")
    assert "did you mean" not in done.stderr, done.stderr


def test_an_action_s_flag_before_the_action_is_said_to_go_after_it(ws: Workspace) -> None:
    done = ws.run("providers", "--cache-dir", "x", "list")
    scenarios.usage_error(done, "unrecognized arguments: --cache-dir", "after the action")
    assert "invalid choice" not in done.stderr, done.stderr


def test_a_wrong_action_after_an_action_s_flag_is_still_a_wrong_action(ws: Workspace) -> None:
    """The flags after the action are the action's: a mistaken action is what is said."""
    done = ws.run("providers", "lst", "--cache-dir", "x")
    scenarios.usage_error(done, "invalid choice: 'lst'")


# A flag of other commands given to one without it: the hint suggests none of that
# command's flags, which only share the leading dashes with it (`--all` was "did you
# mean `--var`?"). A misspelling of one of its own flags is still named.
NOT_HERE = [["state", "list", "--all"], ["list", "--all"], ["lint", "--all"], ["show", "--force"]]


@pytest.mark.parametrize("argv", NOT_HERE, ids=[" ".join(argv) for argv in NOT_HERE])
def test_a_flag_the_command_lacks_is_no_did_you_mean_of_an_unrelated_one(
    ws: Workspace, argv: list[str]
) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    prog = " ".join(argv[:-1])
    scenarios.usage_error(done, f"unrecognized arguments: {argv[-1]}", f"`dstream {prog} --help`")
    assert "did you mean" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("argv", "meant"),
    [(["list", "--vra", "x=1"], "--var"), (["show", "-show-secrets"], "--show-secrets")],
)
def test_a_misspelt_flag_of_the_command_is_still_named(
    ws: Workspace, argv: list[str], meant: str
) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    scenarios.usage_error(done, f"did you mean `{meant}`?")
