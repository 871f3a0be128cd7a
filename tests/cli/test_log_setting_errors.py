"""A log level or format dstream does not know names where it came from: the flag, in
argparse's words as every other flag error (`argument -l/--log-level: ...`), or the
environment variable, so a user whose profile exports a bad one can tell why every
command fails; with a hint listing what is valid, and exit 2 (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import NO_COLOR, Workspace

LEVELS = "trace, debug, info, notice, warn, warning, error, fatal, critical"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env=NO_COLOR)
    workspace.counter_task("orders", "dstream-null", count=1, checkpoint_every=1)
    return workspace


# (command line, environment, the error line, words of its hint)
CASES = {
    "flag after the command": (
        ["list", "-l", "verbose"],
        {},
        "error: argument -l/--log-level: unknown log level 'verbose'",
        f"use one of {LEVELS}",
    ),
    "flag before the command": (
        ["--log-level", "verbose", "list"],
        {},
        "error: argument -l/--log-level: unknown log level 'verbose'",
        f"use one of {LEVELS}",
    ),
    "empty flag": (
        ["list", "-l", ""],
        {},
        "error: argument -l/--log-level: unknown log level ''",
        f"use one of {LEVELS}",
    ),
    "level variable": (
        ["list"],
        {"DSTREAM_LOG_LEVEL": "verbose"},
        "error: DSTREAM_LOG_LEVEL: unknown log level 'verbose'",
        f"fix or unset DSTREAM_LOG_LEVEL (-l/--log-level wins over it): use one of {LEVELS}",
    ),
    "format variable": (
        ["list"],
        {"DSTREAM_LOG_FORMAT": "xml"},
        "error: DSTREAM_LOG_FORMAT: unknown log format 'xml'",
        "fix or unset DSTREAM_LOG_FORMAT (-f/--log-format wins over it): use one of text, json",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_log_setting_names_its_source(ws: Workspace, case: str) -> None:
    args, env, said, hint = CASES[case]
    done = ws.run(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [said, f"  hint: {hint}"], done.stderr

    code, doc, err = Workspace(ws.root, env={**ws.env, **env}).run_json(*args)
    assert code == 2, err
    assert (f"error: {doc['message']}", doc["hint"]) == (said, hint), doc


@pytest.mark.parametrize("flag", [["-l", "debug"], ["-f", "json"]])
def test_a_flag_wins_over_a_bad_variable(ws: Workspace, flag: list[str]) -> None:
    """The variable is a default only: a flag given replaces it, bad or not."""
    variable = {"-l": "DSTREAM_LOG_LEVEL", "-f": "DSTREAM_LOG_FORMAT"}[flag[0]]
    done = ws.run("list", *flag, env={variable: "verbose"})
    assert done.returncode == 0, done.stderr
    assert "orders" in done.stdout, done.stdout
