"""The command line's three facts, each asked in one place (cli/parsing.py) of the
commands' real parsers: a parser's flags (`every_flag`, `flag_action`), whether a flag
takes a value (`takes_value`), and which word names the action or the command
(`Reading`). The global flags (cli/globalflags.py) are read from the functions that give every
command its flags, so they are the commands' flags, for the same settings."""

from __future__ import annotations

import pytest

from dstream.cli.app import COMMANDS, build_parser
from dstream.cli.globalflags import global_flags
from dstream.cli.parsing import Reading, every_flag, flag_action, takes_value


def _words_action(words: list[str], reading: Reading) -> str:
    assert reading.action is not None, [flag.words for flag in reading.flags]
    return words[reading.action]


@pytest.mark.parametrize(
    ("words", "command"),
    [
        (["-c", "list", "list"], "list"),  # -c's value is no command
        (["--config=run", "run"], "run"),
        (["--json", "list"], "list"),  # --json takes no value
        (["--state-d", "/tmp", "runs"], "runs"),  # an unknown flag's value, perhaps
        (["--js", "runs"], "runs"),  # a command is no unknown flag's value
        (["-l", "debug", "help", "run"], "help"),  # the first word that is no flag's
    ],
    ids=lambda case: " ".join(case) if isinstance(case, list) else case,
)
def test_the_command_is_the_first_word_no_flag_takes(words: list[str], command: str) -> None:
    assert _words_action(words, Reading(global_flags().table, words, COMMANDS)) == command


def test_an_action_is_the_first_word_no_flag_takes() -> None:
    """-l's value is named like another action: the action is the word after it."""
    state, _ = build_parser("state")
    words = ["-l", "show", "list", "-c", "show"]
    assert _words_action(words, Reading(state, words)) == "list"


def test_unknown_flags_are_those_before_the_action() -> None:
    providers, _ = build_parser("providers")
    assert Reading(providers, ["--cache-d", "x", "list"]).unknown() == ["--cache-d"]
    # the first word that is no flag's is the action, a wrong one too: argparse says so
    assert Reading(providers, ["lst", "--cache-d", "x"]).unknown() == []
    runs, _ = build_parser("runs")  # no actions: read to the end
    assert Reading(runs, ["--la", "-n", "0", "--bogus=1"]).unknown() == ["--la", "--bogus=1"]


def test_single_letter_flags_written_together_are_known() -> None:
    run, _ = build_parser("run")
    assert Reading(run, ["t", "-qt", "-lerror"]).unknown() == []
    assert Reading(run, ["--", "--bogus"]).unknown() == []  # `--` ends the flags


def test_a_flag_written_last_without_its_value_says_so() -> None:
    (flag,) = Reading(global_flags().table, ["-c"], COMMANDS).flags
    assert flag.value_missing and flag.name == "-c"
    (flag,) = Reading(global_flags().table, ["--json"], COMMANDS).flags
    assert not flag.value_missing


def test_a_flag_s_value_is_as_written() -> None:
    words = ["-c", "run", "--config=a=b", "--config=", "--json", "list"]
    flags = Reading(global_flags().table, words, COMMANDS).flags
    assert [(flag.name, flag.value) for flag in flags] == [
        ("-c", "run"), ("--config", "a=b"), ("--config", ""), ("--json", ""),
    ]  # fmt: skip


def test_the_global_flags_are_the_commands_own() -> None:
    """A command that reads a configuration takes every global flag after its name,
    for the same setting and with a value as before it."""
    table = global_flags().table
    for name in ("list", "run", "lint"):
        parser, _ = build_parser(name)
        for flag in every_flag([table]):
            global_, own = flag_action(table, flag), flag_action(parser, flag)
            assert global_ is not None and own is not None, (name, flag)
            assert (own.dest, takes_value(own)) == (global_.dest, takes_value(global_)), flag


def test_takes_value_is_argparse_s() -> None:
    run, _ = build_parser("run")
    taking = {
        flag: takes_value(action)
        for flag in ("--json", "-q", "-c", "--var", "--progress-interval", "-h")
        if (action := flag_action(run, flag)) is not None
    }
    assert taking == {
        "--json": False, "-q": False, "-c": True, "--var": True,
        "--progress-interval": True, "-h": False,
    }  # fmt: skip
