"""docs/cli.md documents every command and every flag of the real parsers, and every
exit code of dstream.errors.ExitCode (issue 19: each command and flag documented)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dstream.cli.app import COMMANDS
from dstream.cli.completion import full_parser
from dstream.cli.parsing import subcommands
from dstream.errors import ExitCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
# Sub-command families documented on their own pages (docs/oci.md, docs/providers*.md).
ELSEWHERE = {"providers", "provider"}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        found |= {o for o in action.option_strings if o not in ("-h", "--help")}
    actions = subcommands(parser)
    for sub in actions.choices.values() if actions is not None else ():
        found |= _options(sub)
    return found


def test_every_command_and_flag_is_in_docs_cli() -> None:
    commands = subcommands(full_parser())
    assert commands is not None
    missing = []
    for name, sub in commands.choices.items():
        if f"dstream {name}" not in DOC and f"`{name}`" not in DOC and f"|{name}|" not in DOC:
            missing.append(name)
        if name in ELSEWHERE:
            continue
        missing += [f"{name} {o}" for o in sorted(_options(sub)) if f"`{o}" not in DOC
                    and f"{o}`" not in DOC and f"{o} " not in DOC]  # fmt: skip
    # `help COMMAND` (no command module of its own) is completed as one.
    assert set(COMMANDS) | {"help"} == set(commands.choices)
    assert missing == []


def test_every_exit_code_is_in_docs_cli() -> None:
    for code in ExitCode:
        assert f"| {int(code):<4} |" in DOC, code
