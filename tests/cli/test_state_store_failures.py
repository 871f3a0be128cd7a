"""`destroy` and `status` when the state store cannot be read (install review D5, D6):
one error, one exit code, the same in both modes, and with --json one document that
says ok: false. `destroy` finds out before it removes anything; a reader that left
(a closed stdout) is no bug to report.

Two stores that fail: a postgres state on a port where nothing listens, and a file
state whose directory is a file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.cli import scenarios
from tests.lifecycle.test_commands import setup
from tests.services import free_port
from tests.workspace import Workspace, json_document

STATES = {
    "postgres": 'state {\n  backend = "postgres"\n  dsn = "postgresql://u:pw@127.0.0.1:%d/db"\n}\n',
    "file": 'state { path = "blocker" }\n',
}
ERRORS = {"postgres": "could not connect to the state database", "file": "is not a directory"}


@pytest.fixture(params=sorted(STATES))
def broken(request: pytest.FixtureRequest, ws: Workspace) -> str:
    """A task whose providers record each call in calls.jsonl, and a state store that
    fails; the name of its backend."""
    setup(ws)
    config = ws.root / "dstream.hcl"
    state = STATES[request.param]
    config.write_text((state % free_port() if "%d" in state else state) + config.read_text())
    (ws.root / "blocker").write_text("not a directory\n")
    return str(request.param)


def _nothing_asked(ws: Workspace) -> bool:
    return not (ws.root / "calls.jsonl").exists()


@pytest.mark.parametrize("state_flag", ["--keep-state", "--drop-state"])
def test_destroy_json_finds_the_broken_state_before_destroying_anything(
    ws: Workspace, broken: str, state_flag: str
) -> None:
    done = ws.run("destroy", "t", "--auto-approve", state_flag, "--json")
    assert done.returncode == 1, done.stderr
    doc = json_document(done)  # one document, not two
    assert doc["ok"] is False, doc
    assert ERRORS[broken] in doc["message"], doc
    assert doc["hint"], doc
    assert _nothing_asked(ws), "the infrastructure was destroyed before the state was checked"


@pytest.mark.parametrize("state_flag", ["--keep-state", "--drop-state"])
def test_destroy_finds_the_broken_state_before_destroying_anything(
    ws: Workspace, broken: str, state_flag: str
) -> None:
    done = ws.run("destroy", "t", "--auto-approve", state_flag)
    assert done.returncode == 1, done.stderr
    assert "✅" not in done.stdout + done.stderr
    assert "error: " in done.stderr and ERRORS[broken] in done.stderr, done.stderr
    assert "  hint: " in done.stderr
    assert _nothing_asked(ws)


def test_destroy_without_auto_approve_checks_the_state_before_asking(
    ws: Workspace, broken: str
) -> None:
    done = ws.on_a_terminal("destroy", "t", answer=b"yes")
    assert done.returncode == 1, done.screen
    assert ERRORS[broken] in done.screen and "Enter a value" not in done.screen
    assert _nothing_asked(ws)


def test_status_json_says_the_state_could_not_be_read(ws: Workspace, broken: str) -> None:
    done = ws.run("status", "t", "--json")
    assert done.returncode == 1, done.stderr
    doc = json_document(done)
    assert doc["ok"] is False, doc
    assert ERRORS[broken] in doc["message"] and doc["hint"], doc


def test_status_text_fails_like_status_json(ws: Workspace, broken: str) -> None:
    done = ws.run("status", "t")
    assert done.returncode == 1, done.stderr
    assert "✅" not in done.stdout + done.stderr
    assert ERRORS[broken] in done.stderr and "  hint: " in done.stderr, done.stderr


@pytest.mark.parametrize("command", [["destroy", "t", "--auto-approve"], ["status", "t"]])
def test_a_closed_stdout_is_no_crash(
    ws: Workspace, broken: str, command: list[str], tmp_path: Path
) -> None:
    """`dstream destroy --json | head -c0`: the reader left before the error document;
    the error still reaches stderr, and the exit code is the error's."""
    done = scenarios.into_a_pipe_nobody_reads(ws, *command, "--json")
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "crash" not in done.stderr, done.stderr
    assert ERRORS[broken] in done.stderr, done.stderr
    assert not list(tmp_path.rglob("crash-*.txt"))


def test_a_reader_that_leaves_after_a_good_document_is_no_crash(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    done = scenarios.into_a_pipe_nobody_reads(ws, "status", "t", "--json")
    assert done.returncode == 1, done.stderr  # its document was not read: not done
    assert "internal error" not in done.stderr and "Exception" not in done.stderr, done.stderr
    assert not list(tmp_path.rglob("crash-*.txt"))
    assert orjson.loads(ws.run("status", "t", "--json").stdout)["ok"] is True


def _stored_state(ws: Workspace) -> Path:
    """The task with a file state holding a checkpoint; the state directory."""
    setup(ws)
    config = ws.root / "dstream.hcl"
    config.write_text('state { path = "state" }\n' + config.read_text())
    assert ws.run("state", "set", "t", '{"seq": 5}').returncode == 0
    return ws.root / "state"


def test_a_state_step_that_fails_after_the_destroy_is_in_the_one_document(ws: Workspace) -> None:
    """The store read well before, then could not forget the checkpoint (here the lock
    file it takes is a directory): the infrastructure is gone, and the one document says
    so and that the command failed."""
    lock = _stored_state(ws) / ".t.lock"
    lock.unlink()
    lock.mkdir()
    done = ws.run("destroy", "t", "--auto-approve", "--drop-state", "--json")
    assert done.returncode == 1, done.stderr
    doc = json_document(done)
    assert doc["ok"] is False and doc["exit_code"] == 1, doc
    assert [p["outcome"] for p in doc["tasks"][0]["providers"]] == ["done", "done"], doc
    assert "could not open the lock file" in doc["message"] and doc["hint"], doc
    assert doc["errors"] == [doc["message"]], doc

    text = ws.run("destroy", "t", "--auto-approve", "--drop-state")
    assert text.returncode == 1, text.stderr
    assert '✅ Infrastructure for task "t" destroyed successfully' in text.stdout
    assert "error: could not open the lock file" in text.stderr, text.stderr


@pytest.mark.parametrize(("flag", "said"), [("--keep-state", "kept"), ("--drop-state", "dropped")])
def test_an_unreadable_record_is_kept_or_dropped_as_asked(
    ws: Workspace, flag: str, said: str
) -> None:
    state = _stored_state(ws)
    (state / "t.json").write_text("{torn")
    done = ws.run("destroy", "t", "--auto-approve", flag, "--json")
    assert done.returncode == 0, done.stderr
    assert json_document(done)["ok"] is True
    assert f'state of task "t": checkpoint {said}' in done.stderr, done.stderr
    assert (state / "t.json").exists() == (said == "kept")
