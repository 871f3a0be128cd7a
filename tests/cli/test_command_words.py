"""Which word of a command line is the command, and which is a flag's value (docs/cli.md,
"Global flags"): a global flag before the command takes its value whatever that value is
named (a configuration directory called `list` is no command), with `--flag=value` as
with `--flag value`; and global flags before `run` and `help` are theirs as after them.
Reading them builds no parser but the command's own (start-up cost, issue 22)."""

from __future__ import annotations

import orjson
import pytest

from tests.cli import scenarios
from tests.workspace import Workspace

# A line dstream-counter logs at info as it starts: hidden by `-l error`.
COUNTER_INFO = "input: counter starting"


def _config_in(ws: Workspace, directory: str) -> None:
    """The counter task's file moved into a directory of the workspace."""
    scenarios.counter_file(ws)
    (ws.root / directory).mkdir()
    (ws.root / "dstream.hcl").rename(ws.root / directory / "dstream.hcl")


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "list", "list", "--json"],
        ["--config", "list", "list", "--json"],
        ["--config=list", "list", "--json"],
        ["--json", "-c", "list", "list"],
        ["-l", "error", "-c", "list", "list", "--json"],
    ],
    ids=" ".join,
)
def test_a_global_flag_s_value_named_like_a_command_is_its_value(
    ws: Workspace, argv: list[str]
) -> None:
    _config_in(ws, "list")
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert [task["name"] for task in orjson.loads(done.stdout)["tasks"]] == ["t"]


def test_an_unknown_flag_before_the_command_is_hinted_by_that_command(ws: Workspace) -> None:
    """`-c run`'s value is no command: the hint is list's (it was run's `--reset-state`)."""
    done = ws.run("--reset", "-c", "run", "list")
    scenarios.usage_error(done, "unrecognized arguments: --reset", "`dstream list --help`")
    assert "--reset-state" not in done.stderr, done.stderr


def test_run_s_config_in_a_directory_named_run(ws: Workspace) -> None:
    _config_in(ws, "run")
    done = ws.run("-c", "run", "run", "t")
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("run/out.jsonl")) == 10


@pytest.mark.parametrize(
    "argv",
    [
        ["-l", "error", "run", "t"],
        ["--log-level=error", "run", "t"],
        ["-l", "error", "--json", "run", "t"],
        ["run", "t", "-l", "error"],
    ],
    ids=" ".join,
)
def test_the_log_level_before_run_is_run_s(ws: Workspace, argv: list[str]) -> None:
    scenarios.counter_file(ws)
    assert COUNTER_INFO in ws.run("run", "t").stderr  # shown at the default level
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert COUNTER_INFO not in done.stderr, done.stderr


@pytest.mark.parametrize("argv", [["--json", "run", "t"], ["-l", "debug", "--json", "run", "t"]])
def test_json_before_run_is_one_document(ws: Workspace, argv: list[str]) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["ok"] is True and doc["tasks"][0]["outcome"] == "completed", doc


def test_global_flags_before_help_leave_it_run_s_help(ws: Workspace) -> None:
    done = ws.run("-l", "error", "--config=x.hcl", "help", "run")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ws.run("run", "--help").stdout


# A fresh interpreter counts the parsers argparse makes, and the tables of flags
# dstream makes (the global flags'), while dstream reads the command line and runs it
# (to the unknown task's usage error: nothing streams).
COUNT_PARSERS = """
import argparse, json, sys
from dstream.cli import parsing
made = []
tables = []
init = argparse.ArgumentParser.__init__
def counted(self, *args, **kwargs):
    made.append(kwargs.get("prog"))
    init(self, *args, **kwargs)
argparse.ArgumentParser.__init__ = counted
init_table = parsing.FlagTable.__init__
def counted_table(self):
    tables.append(1)
    init_table(self)
parsing.FlagTable.__init__ = counted_table
from dstream.cli import app
code = app._main(sys.argv[1:])
with open("made.json", "w") as out:
    json.dump({"code": code, "made": made, "tables": len(tables)}, out)
"""


@pytest.mark.parametrize(
    ("argv", "tables"),
    [
        (["run", "nosuch"], 0),
        (["run", "nosuch", "-l", "error", "--json"], 0),
        (["--json", "run", "nosuch"], 1),
        (["-l", "error", "-c", "dstream.hcl", "--json", "run", "nosuch"], 1),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else f"{value} tables",
)
def test_reading_the_command_line_builds_only_the_command_s_parser(
    ws: Workspace, argv: list[str], tables: int
) -> None:
    """The global flags' table only when a flag comes before the command, once."""
    scenarios.counter_file(ws)
    ws.python(COUNT_PARSERS.replace("sys.argv[1:]", repr(argv)))
    result = orjson.loads((ws.root / "made.json").read_bytes())
    assert result == {"code": 2, "made": ["dstream run"], "tables": tables}, result
