"""Flags are written in full (docs/cli.md): an abbreviation is an unknown flag, a usage
error whose hint names the flag it may have meant, as Terraform's CLI refuses one.
argparse took any prefix of exactly one flag for that flag: `run --reset` was the
destructive `--reset-state`, `fmt -c x.hcl` was `fmt -check x.hcl` (a single-dash
prefix: see the comment on cli/parsing.py's `Parser._get_option_tuples`). Single-letter
flags still group (`-qt`) and take their value attached (`-lerror`)."""

from __future__ import annotations

import argparse
import subprocess

import orjson
import pytest

from dstream.cli.app import COMMANDS, build_parser
from dstream.cli.completion import full_parser
from dstream.cli.parsing import Parser, subcommands
from tests.cli import scenarios
from tests.workspace import Workspace, json_document

UNFORMATTED = 'task "t" {\ninput{provider_path="x"}\n}\n'


# A command line with an abbreviated flag, the flag, and what the hint names.
ABBREVIATED = [
    (["run", "t", "--reset"], "--reset", "`--reset-state`"),
    (["run", "t", "--full"], "--full", "`--full-refresh`"),
    (["plan", "t", "-detailed"], "-detailed", "`-detailed-exitcode`"),
    (["fmt", "--che", "a.hcl"], "--che", "`--check`"),
    (["fmt", "-rec", "a.hcl"], "-rec", "`-recursive`"),
    (["list", "--log", "debug"], "--log", "`--log-level`, `--log-format` or `--log-time`"),
    (["state", "show", "t", "--js"], "--js", "`--json`"),
]


@pytest.mark.parametrize(
    ("argv", "word", "meant"), ABBREVIATED, ids=[" ".join(case[0]) for case in ABBREVIATED]
)
def test_an_abbreviated_flag_is_unknown_and_the_hint_names_it_in_full(
    ws: Workspace, argv: list[str], word: str, meant: str
) -> None:
    scenarios.counter_file(ws)
    (ws.root / "a.hcl").write_text(UNFORMATTED)
    done = ws.run(*argv)
    scenarios.usage_error(done, f"unrecognized arguments: {word}", f"did you mean {meant}?")
    assert (ws.root / "a.hcl").read_text() == UNFORMATTED


def test_run_reset_resets_nothing(ws: Workspace) -> None:
    """`--reset` is not `--reset-state`: the checkpoint is where it was."""
    scenarios.counter_file(ws)
    assert ws.run("state", "set", "t", '{"seq":7}').returncode == 0
    scenarios.usage_error(ws.run("run", "t", "--reset"), "--reset", "--reset-state")
    assert ws.run("state", "show", "t").stdout == '{"seq":7}\n'
    assert not (ws.root / "out.jsonl").exists()


def test_fmt_c_is_no_check(ws: Workspace) -> None:
    """`-c` (the config flag fmt does not take) was `-check`: a check of a.hcl, exit 1."""
    (ws.root / "a.hcl").write_text(UNFORMATTED)
    done = ws.run("fmt", "-c", "a.hcl")
    scenarios.usage_error(done, "unrecognized arguments: -c")
    assert "-check" not in done.stderr, done.stderr
    assert (ws.root / "a.hcl").read_text() == UNFORMATTED


def test_an_abbreviated_flag_with_json_is_one_usage_document(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "--reset", "--json")
    scenarios.usage_document(done, "unrecognized arguments: --reset")
    assert "`--reset-state`" in json_document(done)["hint"]


def test_a_misspelt_flag_gets_the_nearest_one(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "--rest-state")
    scenarios.usage_error(done, "unrecognized arguments: --rest-state", "`--reset-state`")


def test_single_letter_flags_group_and_take_their_value_attached(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "-qt")  # -q -t
    assert done.returncode == 0, done.stderr
    assert "-t/--log-time has no effect" in done.stderr, done.stderr
    assert "executed successfully" not in done.stderr, done.stderr  # quiet
    done = ws.run("list", "-lerror", "-t")  # the warning -t gives is below `error`
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every flag of `parser` and of its actions' parsers (`providers list -l`)."""
    found = {flag for action in parser._actions for flag in action.option_strings}
    actions = subcommands(parser)
    for name, sub in actions.choices.items() if actions is not None else ():
        found.update(f"{name} {flag}" for flag in _flags(sub))
    return found


def test_completion_completes_what_the_commands_parse(ws: Workspace) -> None:
    """The completion script is made from the commands' own parsers, as they parse:
    an action's parser takes the log flags (`providers list -l debug`) there too."""
    commands = subcommands(full_parser())
    assert commands is not None
    for name in COMMANDS:
        assert _flags(commands.choices[name]) == _flags(build_parser(name)[0]), name
    script = ws.run("completion", "bash")
    assert script.returncode == 0, script.stderr
    (ws.root / "dstream.bash").write_text(script.stdout)
    probe = (
        "source ./dstream.bash; COMP_WORDS=(dstream providers list --log-l); COMP_CWORD=3; "
        '_shtab_dstream; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], cwd=ws.root, capture_output=True, text=True)
    assert done.stdout.split() == ["--log-level"], done.stderr


def test_every_parser_refuses_abbreviations(ws: Workspace) -> None:
    """Each command's parser, its actions' and completion's is a Parser, which takes no
    prefix; and a prefix given to an action's parser is refused by it."""

    def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        found = [parser]
        actions = subcommands(parser)
        for sub in actions.choices.values() if actions is not None else ():
            found.extend(parsers(sub))
        return found

    every = parsers(full_parser())
    for name in COMMANDS:
        every.extend(parsers(build_parser(name)[0]))
    assert [p.prog for p in every if not isinstance(p, Parser)] == []
    ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
    done = ws.run("providers", "list", "--js")
    scenarios.usage_error(done, "unrecognized arguments: --js", "`--json`")
    assert orjson.loads(ws.run("providers", "list", "--json").stdout) is not None
