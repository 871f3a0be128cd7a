"""Every flag is checked before anything is changed or started: a number out of its
range, a metrics address that is not HOST:PORT (or whose port is taken), an empty path,
a flag the command does not take is a usage error (exit 2, one error block with a hint,
one JSON document with --json) and the stored checkpoint is still there afterwards. A
configuration path that is a FIFO or a symlink loop is refused, never waited on."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

import orjson
import pytest

from dstream.cli.completion import full_parser
from dstream.cli.parsing import subcommands
from tests.cli import scenarios
from tests.workspace import Workspace

# -- numbers -------------------------------------------------------------------------


NUMERIC = [
    (["runs", "-n", "0"], "-n/--last"),
    (["runs", "--last", "-1"], "-n/--last"),
    (["runs", "-n", "two"], "-n/--last"),
    (["plan", "t", "--timeout", "-5"], "--timeout"),
    (["status", "t", "--timeout", "0"], "--timeout"),
    (["init", "t", "--timeout", "nan"], "--timeout"),
    (["destroy", "t", "--auto-approve", "--timeout", "inf"], "--timeout"),
    (["plan", "t", "--timeout", "1e400"], "--timeout"),
    (["run", "t", "--progress-interval", "-1"], "--progress-interval"),
    (["provider", "test", "dstream-counter", "--timeout", "-1"], "--timeout"),
    (["provider", "test", "dstream-counter", "--grace", "0"], "--grace"),
    (["provider", "test", "dstream-counter", "--frames", "1"], "--frames"),
]


@pytest.mark.parametrize(("argv", "flag"), NUMERIC, ids=[" ".join(a) for a, _ in NUMERIC])
def test_a_number_out_of_range_is_refused_when_parsed(
    ws: Workspace, argv: list[str], flag: str
) -> None:
    scenarios.counter_file(ws)
    done = ws.run(*argv)
    scenarios.usage_error(done, f"argument {flag}: {argv[-1]!r}")
    assert not (ws.root / "out.jsonl").exists()  # nothing ran


def test_a_numeric_flag_names_its_range(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    scenarios.usage_error(ws.run("plan", "--timeout", "-5"), "more than 0", "at most 31536000")
    scenarios.usage_error(ws.run("runs", "-n", "0"), "at least 1")


def _flags(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if action.option_strings:  # by its long name (Terraform's -json is a spelling of it)
            long = [o for o in action.option_strings if o.startswith("--")]
            yield f"{prefix} {(long or action.option_strings)[-1]}", action
    actions = subcommands(parser)
    for name, sub in actions.choices.items() if actions is not None else ():
        yield from _flags(sub, f"{prefix} {name}".strip())


def test_no_flag_takes_a_bare_int_or_float() -> None:
    """int and float accept -1, nan and inf: every numeric flag has a converter with its
    range (dstream.cli.flags.number) instead."""
    bare = {name for name, action in _flags(full_parser(), "") if action.type in (int, float)}
    assert bare == set(), bare


def test_a_usage_error_with_json_is_one_json_document(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    scenarios.usage_document(ws.run("runs", "-n", "0", "--json"), "-n/--last")


# -- nothing is changed before every flag is checked ----------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        ["--metrics-addr", "notanaddr"],
        ["--metrics-addr", "127.0.0.1:99999"],
        ["--metrics-addr", "127.0.0.1:{taken}"],
        ["--progress-interval", "-1"],
    ],
    ids=["not-host-port", "port-out-of-range", "port-taken", "negative-interval"],
)
def test_a_bad_flag_leaves_the_stored_checkpoint(
    ws: Workspace, bad: list[str], taken_port: int
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("state", "set", "t", '{"seq": 100}').returncode == 0
    done = ws.run("run", "t", "--reset-state", *(b.format(taken=taken_port) for b in bad))
    scenarios.usage_error(done)
    assert "forgotten" not in done.stderr
    shown = ws.run("state", "show", "t")
    assert orjson.loads(shown.stdout) == {"seq": 100}, shown.stderr
    assert not (ws.root / "out.jsonl").exists()  # no provider started


def test_a_metrics_port_out_of_range_names_the_flag_the_port_and_the_range(
    ws: Workspace,
) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "--metrics-addr", "127.0.0.1:99999")
    scenarios.usage_error(done, "--metrics-addr", "99999", "0-65535")
    agent = ws.run("agent", "--metrics-addr", "127.0.0.1:99999")
    scenarios.usage_error(agent, "--metrics-addr", "99999", "0-65535")


# -- completion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["completion", "bash", "--json"], ["--json", "completion", "zsh"]]
)
def test_completion_takes_no_json(ws: Workspace, argv: list[str]) -> None:
    done = ws.run(*argv)
    scenarios.usage_error(done, "--json")
    assert done.stdout == ""


def test_completion_does_not_offer_json() -> None:
    flags = dict(_flags(full_parser(), ""))
    assert "completion --json" not in flags
    assert "run --json" in flags


# -- configuration paths ----------------------------------------------------------------


def test_an_empty_config_path_is_a_usage_error(ws: Workspace) -> None:
    scenarios.counter_file(ws)  # a default the empty -c must not fall back on
    for argv in (["lint", "-c", ""], ["-c", "", "list"], ["run", "--state-dir", ""]):
        done = ws.run(*argv)
        scenarios.usage_error(done, "an empty path")
        assert "the default" not in done.stderr


def test_a_symlink_loop_is_called_one(ws: Workspace) -> None:
    os.symlink("b.hcl", ws.root / "a.hcl")
    os.symlink("a.hcl", ws.root / "b.hcl")
    done = ws.run("lint", "-c", "a.hcl")
    scenarios.usage_error(done, "a.hcl", "symlink loop")
    assert "does not exist" not in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["lint", "-c", "fifo.hcl"],
        ["run", "-c", "fifo.hcl"],
        ["list", "-c", "fifo.hcl"],
        ["lint", "-c", "etl"],  # a directory holding a FIFO named *.hcl
        ["lint", "--var-file", "fifo.hcl"],
    ],
)
def test_a_fifo_is_refused_not_waited_on(ws: Workspace, argv: list[str]) -> None:
    """No writer ever opens the FIFO: reading it would wait forever (the CLI run is
    killed after the workspace's timeout, which fails the test)."""
    scenarios.counter_file(ws)
    os.mkfifo(ws.root / "fifo.hcl")
    (ws.root / "etl").mkdir()
    os.mkfifo(ws.root / "etl" / "fifo.hcl")
    done = ws.run(*argv, timeout=60)
    scenarios.usage_error(done, "fifo.hcl", "not a regular file")
