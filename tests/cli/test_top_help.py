"""`dstream --help` lists the global flags every command takes before its name, as
`terraform -help` lists its global options (docs/cli.md, "Global flags"): on its usage
line and in a section of their own, each with its help, read from the one definition
of those flags (cli/globalflags.py), so the help cannot drift from what is accepted."""

from __future__ import annotations

import argparse

import pytest

from dstream.cli.globalflags import global_flags
from dstream.cli.parsing import every_flag, flag_action, takes_value
from tests.workspace import Workspace

SECTION = "global options"


def _sections(text: str) -> dict[str, str]:
    """The help's sections by the text of their heading (a line that is not indented)
    up to its colon, each with its lines up to the next heading."""
    found: dict[str, str] = {}
    head = ""
    for line in text.splitlines():
        if line and not line.startswith(" "):
            head = line.partition(":")[0]
        found[head] = found.get(head, "") + line + "\n"
    return found


def _entries(section: str) -> list[str]:
    """A help section's flags, each with its help (wrapped or not) as one line."""
    entries: list[str] = []
    for line in section.splitlines():
        if line.startswith("  -"):
            entries.append("")
        if entries:
            entries[-1] = " ".join([*entries[-1].split(), *line.split()])
    return entries


def _global_actions() -> list[argparse.Action]:
    table = global_flags().table
    actions = [flag_action(table, flag) for flag in every_flag([table])]
    return list(dict.fromkeys(a for a in actions if a is not None))


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"], ["help", "help"]], ids=" ".join)
def test_the_top_help_lists_every_global_flag(ws: Workspace, argv: list[str]) -> None:
    ws.env["COLUMNS"] = "200"  # the usage on one line
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    sections = _sections(done.stdout)
    usage, listed = sections["usage"], sections.get(SECTION, "")
    assert listed, done.stdout
    actions = _global_actions()
    assert {"-c", "-l", "-f", "-t", "--json"} <= {s for a in actions for s in a.option_strings}
    for action in actions:
        first = action.option_strings[0]
        assert f"[{first}" in usage, (first, usage)
        entry = next((e for e in _entries(listed) if e.split()[0].rstrip(",") == first), "")
        for option in action.option_strings:
            assert option in entry, (option, listed)
        assert action.help and action.help in entry, (action.help, listed)
    # the command comes after them
    assert usage.rstrip().endswith("COMMAND ..."), usage


# A value each global flag that takes one may be given.
VALUES = {"config": "other.hcl", "log_level": "warning", "log_format": "json"}


def test_the_flags_the_top_help_lists_are_accepted_before_a_command(ws: Workspace) -> None:
    """Each, before `version` (which reads no configuration: -c is ignored there)."""
    for action in _global_actions():
        for option in action.option_strings:
            words = [option, VALUES[action.dest]] if takes_value(action) else [option]
            done = ws.run(*words, "version")
            assert done.returncode == 0, (words, done.stderr)
