"""A command started with a standard stream closed (`<&-`, `>&-`, `2>&-`) ends as
docs/cli.md says, never with a crash report or a traceback: a closed stdin is read as
/dev/null (the same usage errors), a closed stdout is a reader that left (`| head`:
one line on stderr, exit 1), and a command whose output nobody needs (`run` without
--json) does its job."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import orjson
import pytest

from dstream.cli.boundary import STDOUT_LOST, stdout_unwritable
from tests.cli import scenarios
from tests.workspace import CliResult, Workspace, environ


def _env(ws: Workspace, unbuffered: bool) -> dict[str, str]:
    """The workspace's environment, with Python's stdout unbuffered or not (a write then
    fails at once, or at a flush): whichever the user's environment says."""
    env = environ(ws.env, without="PYTHONUNBUFFERED")
    return {**env, "PYTHONUNBUFFERED": "1"} if unbuffered else env


def closed(ws: Workspace, redirection: str, *args: str, unbuffered: bool = False) -> CliResult:
    """`dstream ARGS` started by a shell with `redirection` (e.g. `>&-`)."""
    done = subprocess.run(
        ["sh", "-c", f'exec "$@" {redirection}', "sh", *ws.command(*args)],
        cwd=ws.root, env=_env(ws, unbuffered), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return CliResult(list(args), done.returncode, done.stdout, done.stderr)


def no_crash(done: CliResult, tmp_path: Path) -> None:
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "internal error" not in text, text
    assert not list(tmp_path.rglob("crash-*.txt"))


# -- stdin -----------------------------------------------------------------------------


def test_destroy_with_stdin_closed_is_destroy_without_a_terminal(
    ws: Workspace, tmp_path: Path
) -> None:
    scenarios.lifecycle(ws)
    done = closed(ws, "<&-", "destroy", "t")
    no_crash(done, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "there is no terminal to ask on" in done.stderr
    assert done.stderr == closed(ws, "</dev/null", "destroy", "t").stderr


@pytest.mark.parametrize("redirection", ["<&-", "</dev/null"])
def test_state_set_from_an_empty_stdin_says_so_and_changes_nothing(
    ws: Workspace, tmp_path: Path, redirection: str
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("state", "set", "t", '{"seq":7}').returncode == 0
    done = closed(ws, redirection, "state", "set", "t", "-")
    no_crash(done, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: no checkpoint on stdin: it is empty\n  hint: "), (
        done.stderr
    )
    assert ws.run("state", "show", "t").stdout == '{"seq":7}\n'


def test_state_set_reads_a_checkpoint_from_stdin(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("state", "set", "t", "-", input=b'{"seq":9}\n')
    assert done.returncode == 0, done.stderr
    assert ws.run("state", "show", "t").stdout == '{"seq":9}\n'


# -- stdout ----------------------------------------------------------------------------


def test_run_with_stdout_closed_does_its_job(ws: Workspace, tmp_path: Path) -> None:
    """Nothing of a run is needed on stdout (its summary is on stderr): it is not failed."""
    scenarios.counter_file(ws)
    done = closed(ws, ">&-", "run", "t")
    no_crash(done, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '✅ Task "t" executed successfully' in done.stderr
    assert STDOUT_LOST not in done.stderr
    assert len(ws.json_lines("out.jsonl")) == 10
    assert orjson.loads(ws.run("state", "show", "t").stdout) == {"seq": 10}


OUTPUT_COMMANDS = [
    ["version"],
    ["version", "--json"],
    ["list"],
    ["lint"],
    ["show", "t"],
    ["show", "t", "--json"],
    ["state", "list"],
    ["run", "t", "--json"],
    ["list", "--help"],
]


# The one line a command whose output is lost ends with, by how it was lost.
LOST = {
    "closed": STDOUT_LOST,
    "reader left": STDOUT_LOST,
    "full disk": stdout_unwritable(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
}


@pytest.mark.parametrize("argv", OUTPUT_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("how", sorted(LOST))
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_command_whose_output_is_lost_says_so_in_one_line_and_exits_1(
    ws: Workspace, tmp_path: Path, argv: list[str], how: str, unbuffered: bool
) -> None:
    scenarios.counter_file(ws)
    ws.run("state", "set", "t", '{"seq":1}')
    if how == "closed":
        done = closed(ws, ">&-", *argv, unbuffered=unbuffered)
    elif how == "full disk":
        done = closed(ws, ">/dev/full", *argv, unbuffered=unbuffered)
    else:
        done = scenarios.into_a_pipe_nobody_reads(ws, *argv, env=_env(ws, unbuffered))
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(LOST[how]) == 1, done.stderr
    assert done.stderr.endswith(LOST[how] + "\n"), done.stderr


def test_an_error_document_nobody_reads_is_an_error_block_and_no_more(
    ws: Workspace, tmp_path: Path
) -> None:
    """The error is the news: it goes to stderr as a block (docs/cli.md), with its own
    exit code, and no second line about stdout."""
    scenarios.config_error(ws)
    done = closed(ws, ">&-", "list", "--json")
    no_crash(done, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert STDOUT_LOST not in done.stderr


# -- stderr ----------------------------------------------------------------------------


def test_a_closed_stderr_leaves_stdout_one_document(ws: Workspace) -> None:
    """Errors and logs have nowhere to go; stdout still holds the one document only."""
    scenarios.counter_file(ws)
    done = closed(ws, "2>&-", "run", "t", "--json")
    assert done.returncode == 0
    assert orjson.loads(done.stdout)["ok"] is True
    done = closed(ws, "2>&-", "bogus", "--json")
    assert done.returncode == 2
    assert orjson.loads(done.stdout)["error"] == "UsageError"


@pytest.mark.parametrize("argv", [["lint"], ["run", "t"]], ids=" ".join)
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_full_stderr_fails_the_command_with_1_and_is_no_crash(
    ws: Workspace, tmp_path: Path, argv: list[str], unbuffered: bool
) -> None:
    """As a stderr whose reader left (test_broken_pipes.py): lint's error block and run's
    summary cannot be said, so exit 1, and no crash report (a full disk is no bug)."""
    if argv == ["lint"]:
        scenarios.config_error(ws)
    else:
        scenarios.counter_file(ws)
    done = closed(ws, "2>/dev/full", *argv, unbuffered=unbuffered)
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stdout
    if argv == ["run", "t"]:  # the run was done all the same
        assert len(ws.json_lines("out.jsonl")) == 10


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("fails", [False, True], ids=["done", "failed"])
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_run_json_with_a_full_stderr_exits_with_its_documents_code(
    ws: Workspace, tmp_path: Path, log_format: str, fails: bool, unbuffered: bool
) -> None:
    """run --json needs nothing on stderr (its summary is the document on stdout): the
    log lines a full stderr cannot take are lost and change no exit code (docs/cli.md).
    Buffered, they were still in stderr's buffer at the exit, and Python's last flush
    made the code 120 whatever the document said."""
    if fails:
        scenarios.failing_input(ws)
    else:
        scenarios.counter_file(ws)
    args = ["run", "t", "--json", "--log-format", log_format]
    done = closed(ws, "2>/dev/full", *args, unbuffered=unbuffered)
    no_crash(done, tmp_path)
    document = orjson.loads(done.stdout)
    assert (document["ok"], document["exit_code"]) == (not fails, int(fails)), document
    assert done.returncode == document["exit_code"], done.stdout
    if not fails:
        assert len(ws.json_lines("out.jsonl")) == 10


# -- a reader that leaves after the first bytes ------------------------------------------


def _writes(ws: Workspace, *args: str, unbuffered: bool) -> list[bytes]:
    """What `dstream ARGS` wrote on stdout, write by write: a packet-mode pipe
    (O_DIRECT) keeps each write a packet of its own, and each read returns one."""
    read, write = os.pipe2(os.O_DIRECT)
    try:
        done = subprocess.run(
            ws.command(*args), cwd=ws.root, env=_env(ws, unbuffered), stdout=write,
            stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        os.close(write)
        packets = []
        while chunk := os.read(read, 1 << 16):
            packets.append(chunk)
        return packets
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            os.close(write)


@pytest.mark.parametrize("json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_show_writes_its_result_at_once_in_both_modes(
    ws: Workspace, json: bool, unbuffered: bool
) -> None:
    """`show t | head -c1` exited 0 and `show t --json | head -c1` 1: the document's
    newline was a second write, which a reader gone by then refused."""
    scenarios.counter_file(ws)
    packets = _writes(ws, "show", "t", *(["--json"] if json else []), unbuffered=unbuffered)
    assert len(packets) == 1, packets
    assert orjson.loads(packets[0])["name"] == "t"
    assert packets[0].endswith(b"}\n")


@pytest.mark.parametrize("how", ["closed", "reader left"])
def test_a_run_whose_output_prints_into_a_stdout_nobody_reads_says_so(
    ws: Workspace, tmp_path: Path, how: str
) -> None:
    """The console output's lines go to dstream's stdout: when nobody reads it any more
    (`| head`), that is dstream's stream lost, said as every command says it, not the
    provider's failure ("reading from output 'dstream-console' failed: Broken pipe")."""
    ws.counter_task("t", "dstream-console", "", count=5000, checkpoint_every=100, interval=0)
    if how == "closed":
        done = closed(ws, ">&-", "run", "t")
    else:
        done = scenarios.into_a_pipe_nobody_reads(ws, "run", "t")
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(STDOUT_LOST.removeprefix("error: ")) == 1, done.stderr
    assert "reading from output" not in done.stderr and "Broken pipe" not in done.stderr
