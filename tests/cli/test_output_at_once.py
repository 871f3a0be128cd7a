"""A command's output on stdout is written at once (docs/cli.md): its text as its JSON
document, so a reader that leaves after one byte (`| head -c1`) ends every command
alike, every time: exit 0, its output (far less than a pipe holds) all written before
the reader could leave. Written a line per write, a table's command exited 0 or 1 as
the reader happened to leave before or after its last line."""

from __future__ import annotations

import os
import subprocess

import pytest

from dstream.state.file import FileStore
from tests.cli import scenarios
from tests.workspace import Workspace, environ

TASKS = 40
TIMES = 5  # each command, each time the same exit code


def _tasks(ws: Workspace) -> None:
    """TASKS tasks with a state directory, each with a run in its history."""
    blocks = [
        f'task "t{i:02}" {{\n  input {{ provider_path = "dstream-counter" }}\n'
        f'  output {{ provider_path = "dstream-null" }}\n}}'
        for i in range(TASKS)
    ]
    ws.config('state { path = "state" }\n' + "\n".join(blocks) + "\n")
    store = FileStore(str(ws.root / "state"))
    for i in range(TASKS):
        run = {"started_at": 1.0e9, "ended_at": 1.0e9 + i, "envelopes": i,
               "result": "completed", "exit_code": 0, "attempts": 1}  # fmt: skip
        store.add_run(f"t{i:02}", run)


def _head_c1(ws: Workspace, *args: str) -> int:
    """`dstream ARGS | head -c1`: the exit code of dstream, whose stdout's reader reads
    one byte and leaves."""
    proc = subprocess.Popen(
        ws.command(*args), cwd=ws.root, env=environ(ws.env),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert os.read(proc.stdout.fileno(), 1)
    finally:
        proc.stdout.close()
    return proc.wait(timeout=60)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "argv", [["runs"], ["list"], ["state", "list"], ["show", "t00"]], ids=" ".join
)
def test_a_reader_that_leaves_after_one_byte_ends_the_command_alike_every_time(
    ws: Workspace, argv: list[str]
) -> None:
    _tasks(ws)
    full = ws.run(*argv)
    assert full.returncode == 0 and full.stdout.count("\n") > 1, full.stderr
    assert [_head_c1(ws, *argv) for _ in range(TIMES)] == [0] * TIMES
    assert [_head_c1(ws, *argv, "--json") for _ in range(TIMES)] == [0] * TIMES


def test_held_output_comes_before_what_the_command_then_writes_to_stderr(ws: Workspace) -> None:
    """Held, stdout's text is written before the command's next stderr message: on one
    stream (`2>&1`), a failed plan's report comes before the errors it says are below."""
    scenarios.lifecycle(ws)
    done = subprocess.run(
        ws.command("plan", "t"), cwd=ws.root, env=environ({**ws.env, "FAIL": "1"}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False,
    )  # fmt: skip
    text = done.stdout.decode()
    assert done.returncode == 1, text
    report, errors = text.index('Task "t": plan'), text.index('error: task "t"')
    assert report < text.index("see the error below") < errors, text
    assert text.index("Plan failed") < errors, text


def test_a_log_line_comes_after_the_text_held_before_it() -> None:
    """dstream's log (provider stderr lines, warnings) writes to stderr itself: the CLI
    hooks it (cli/app.py `_execute`) so that stdout's held text goes first, as it does
    before the view's own stderr writes."""
    import io

    from dstream import logs
    from dstream.cli.view import View

    one_stream = io.StringIO()  # `2>&1`
    view = View(out=one_stream, err=one_stream)
    before, stream = logs.log.before, logs.log.stream
    logs.log.before, logs.log.stream = view.before_stderr, one_stream
    try:
        view.line('Task "a": init')
        logs.log.warning("task b: its provider says something")
    finally:
        logs.log.before, logs.log.stream = before, stream
    text = one_stream.getvalue()
    assert text.index('Task "a"') < text.index("task b:"), text


def test_a_stdout_lost_before_an_error_keeps_the_error_and_its_code(ws: Workspace) -> None:
    """`fmt . >&-` with one file to format and one broken: the file's name, released
    before the error block, fails on the closed stdout; the error block and its exit
    code (2) still come, then the one line that says stdout was lost."""
    from tests.cli.test_closed_streams import closed

    (ws.root / "a.hcl").write_text('task "t" {\ninput { provider_path = "x" }\n}\n')
    (ws.root / "b.hcl").write_text('task "t" {\n')
    done = closed(ws, ">&-", "fmt", ".")
    assert done.returncode == 2, done.stderr
    assert "b.hcl" in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith(
        "error: stdout is closed or its reader left: the output was not all written"
    ), done.stderr
