"""`dstream state list|show|set|reset` as a user runs it: a real process, a real
dstream.hcl (or none), the store it names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import orjson
import psycopg
import pytest

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.services import PostgresServer

CONFIG = """\
{state}
task "orders" {{
  input {{
    provider_path = "dstream-counter"
    config {{ max_count = 1 }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
task "payments" {{
  input {{
    provider_path = "dstream-counter"
    config {{ max_count = 1 }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


def dstream(
    cwd: Path, *args: str, stdin: Optional[bytes] = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DSTREAM_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "dstream.cli.app", "state", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def json_of(done: subprocess.CompletedProcess[bytes]) -> Any:
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


def test_without_configuration_the_default_store_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert dstream(tmp_path, "set", "t", '{"seq": 5}').returncode == 0
    from dstream.state import xdg_state_dir

    assert (Path(xdg_state_dir(str(tmp_path))) / "t.json").is_file()
    shown = json_of(dstream(tmp_path, "show", "t", "--json"))
    assert shown["checkpoint"] == {"seq": 5} and shown["stored"] is True
    assert shown["sequence"] == 1 and shown["updated"].endswith("Z")
    human = dstream(tmp_path, "show", "t")
    assert orjson.loads(human.stdout) == {"seq": 5}  # stdout is the checkpoint alone


def test_set_show_list_reset_round_trip_through_the_configured_store(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(CONFIG.format(state='state { path = "ckpt" }'))
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    config = str(tmp_path / "dstream.hcl")
    set_ = json_of(dstream(sub, "set", "orders", '{"seq": 42}', "-c", config, "--json"))
    assert set_["checkpoint"] == {"seq": 42} and set_["had_previous"] is False
    # the path in the state block is relative to the configuration, not the cwd
    record = open_store(StateSpec(path=str(tmp_path / "ckpt")), ".").get("orders")
    assert record is not None and record.checkpoint == {"seq": 42}

    listed = json_of(dstream(tmp_path, "--json", "list"))  # --json before the action too
    assert [t["task"] for t in listed["tasks"]] == ["orders"]
    assert listed["without_checkpoint"] == ["payments"]
    human = dstream(tmp_path, "list").stdout.decode()
    assert "orders" in human and '{"seq": 42}' in human and "payments" in human  # as typed

    again = json_of(dstream(tmp_path, "set", "orders", "[1, 2]", "--json"))
    assert again["previous"] == {"seq": 42} and again["sequence"] == 2

    reset = json_of(dstream(tmp_path, "reset", "orders", "--json"))
    assert reset == {"task": "orders", "reset": True, "previous": [1, 2]}
    shown = json_of(dstream(tmp_path, "show", "orders", "--json"))
    assert shown == {"task": "orders", "stored": False, "checkpoint": None}
    assert json_of(dstream(tmp_path, "reset", "orders", "--json"))["reset"] is False


def test_set_reads_the_checkpoint_from_stdin(tmp_path: Path) -> None:
    assert dstream(tmp_path, "set", "t", "-", stdin=b'{"lsn": "0/16B3748"}\n').returncode == 0
    assert json_of(dstream(tmp_path, "show", "t", "--json"))["checkpoint"] == {"lsn": "0/16B3748"}


def test_invalid_json_is_a_usage_error_with_a_quoting_hint(tmp_path: Path) -> None:
    done = dstream(tmp_path, "set", "t", "{seq: 1}")
    assert done.returncode == 2
    assert b"not valid JSON" in done.stderr and b"quote it" in done.stderr
    assert not (tmp_path / ".dstream" / "state" / "t.json").exists()


def test_a_task_the_configuration_does_not_define_is_refused_unless_forced(
    tmp_path: Path,
) -> None:
    (tmp_path / "dstream.hcl").write_text(CONFIG.format(state=""))
    done = dstream(tmp_path, "set", "order", "1")
    assert done.returncode == 2
    assert b"no task named 'order'" in done.stderr and b"did you mean 'orders'" in done.stderr
    error = orjson.loads(dstream(tmp_path, "show", "order", "--json").stdout)
    # `show` has no --force to offer: its hint names the tasks only
    assert error["ok"] is False and "--force" not in error["hint"], error
    assert "tasks defined: orders, payments" in error["hint"], error
    assert dstream(tmp_path, "set", "order", "1", "--force").returncode == 0
    assert json_of(dstream(tmp_path, "show", "order", "--json"))["checkpoint"] == 1


def test_a_damaged_state_file_is_reported_not_ignored(tmp_path: Path) -> None:
    state = tmp_path / ".dstream" / "state"
    state.mkdir(parents=True)
    (state / "t.json").write_text("{torn")
    done = dstream(tmp_path, "show", "t")
    assert done.returncode == 1
    assert b"t.json is not a dstream state record" in done.stderr and b"hint:" in done.stderr


def test_the_postgres_backend_named_in_the_configuration(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    block = (
        f'state {{\n  backend = "postgres"\n  dsn = "{pg_server.dsn}"\n  table = "cli_state"\n}}'
    )
    (tmp_path / "dstream.hcl").write_text(CONFIG.format(state=block))
    assert dstream(tmp_path, "set", "payments", '{"id": 7}').returncode == 0
    with psycopg.connect(pg_server.dsn) as conn:
        row = conn.execute("SELECT checkpoint::text FROM cli_state WHERE task = 'payments'")
        assert orjson.loads(row.fetchone()[0]) == {"id": 7}  # type: ignore[index]
    listed = json_of(dstream(tmp_path, "list", "--json"))
    assert listed["store"].startswith("postgres 127.0.0.1:")
    assert [t["task"] for t in listed["tasks"]] == ["payments"]


@pytest.mark.parametrize("action", [["list"], ["show", "t"], ["reset", "t"]])
def test_every_action_accepts_json_after_its_arguments(tmp_path: Path, action: list[str]) -> None:
    assert isinstance(json_of(dstream(tmp_path, *action, "--json")), dict)


def _configured(tmp_path: Path) -> Path:
    """CONFIG with its state in tmp_path/st: the directory the tests below edit by hand."""
    (tmp_path / "dstream.hcl").write_text(CONFIG.format(state='state { path = "st" }'))
    assert dstream(tmp_path, "set", "orders", '{"seq": 1}').returncode == 0
    return tmp_path / "st"


def test_list_shows_a_corrupt_record_as_unreadable_once(tmp_path: Path) -> None:
    """Not as a task without a checkpoint that `starts from the beginning`: run fails
    on that record."""
    state = _configured(tmp_path)
    assert dstream(tmp_path, "set", "payments", '{"seq": 2}').returncode == 0
    path = state / "payments.json"
    path.write_bytes(path.read_bytes()[:20])
    done = dstream(tmp_path, "list", "--json")
    assert done.returncode == 1
    listed = orjson.loads(done.stdout)
    assert [t["task"] for t in listed["tasks"]] == ["orders"]
    assert listed["without_checkpoint"] == []
    (unreadable,) = listed["unreadable"]
    assert unreadable["task"] == "payments" and unreadable["where"] == str(path)
    assert "is not a dstream state record" in unreadable["reason"]
    human = dstream(tmp_path, "list")
    assert human.returncode == 1
    row = next(r for r in human.stdout.decode().splitlines() if r.startswith("payments"))
    assert "unreadable" in row and "starts from the beginning" not in row
    assert b"error: state file " in human.stderr


@pytest.mark.parametrize("action", [["set", "orders", "7"], ["reset", "orders"]])
def test_set_and_reset_replace_an_unreadable_record_as_its_hint_says(
    tmp_path: Path, action: list[str]
) -> None:
    state = _configured(tmp_path)
    (state / "orders.json").write_text("{torn")
    done = dstream(tmp_path, *action)
    assert done.returncode == 0, done.stderr
    assert b"an unreadable record: state file " in done.stderr
    listed = json_of(dstream(tmp_path, "list", "--json"))
    assert listed["unreadable"] == []
    assert [t["checkpoint"] for t in listed["tasks"]] == ([7] if action[0] == "set" else [])


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ('"task":"payments"', "it holds the state of task 'payments'"),
        ('"format":"9","task":"orders"', 'its format is "9", not a version number'),
        ('"format":true,"task":"orders"', "its format is true, not a version number"),
        ('"format":0,"task":"orders"', "its format is 0, not a version number"),
    ],
)
def test_a_record_of_another_task_or_format_is_refused_everywhere(
    tmp_path: Path, record: str, why: str
) -> None:
    """A file whose `task` is not its own, or whose format is not a version number, is
    not used silently: list, show and run refuse it alike."""
    state = _configured(tmp_path)
    (state / "orders.json").write_text(
        "{" + record + ',"sequence":3,"updated_at":1.5,"checkpoint":{"seq":5}}\n'
    )
    message = f"state file {state / 'orders.json'} is not a dstream state record ({why})"
    listed = dstream(tmp_path, "list", "--json")
    assert listed.returncode == 1
    document = orjson.loads(listed.stdout)
    assert document["tasks"] == [] and document["without_checkpoint"] == ["payments"]
    assert [u["reason"] for u in document["unreadable"]] == [message]
    for args in (["state", "show", "orders"], ["run", "orders"]):
        done = subprocess.run(
            [sys.executable, "-m", "dstream.cli.app", *args],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert message.encode() in done.stderr, (args, done.stderr)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e999", "number 1e999 is out of range"),
        ('{"seq": [1, -1e400]}', "number -1e400 is out of range"),
        ('{"seq": 1, "seq": 2}', "the key 'seq' appears twice in one object"),
        ('[{"a": {"b": 1, "b": 1}}]', "the key 'b' appears twice in one object"),
    ],
)
def test_set_refuses_what_no_reader_agrees_on(tmp_path: Path, value: str, why: str) -> None:
    """A number beyond a double (refused in every value dstream reads) and a key twice
    (which value wins depends on the reader)."""
    done = dstream(tmp_path, "set", "t", value)
    assert done.returncode == 2, done.stderr
    assert f"error: the checkpoint is not valid here: {why}".encode() in done.stderr
    assert b"hint: " in done.stderr
    assert json_of(dstream(tmp_path, "show", "t", "--json"))["stored"] is False


def test_a_task_name_no_store_can_keep_is_a_usage_error(tmp_path: Path) -> None:
    for name, why in [("a" * 300, b"is 300 bytes long, more than 64"), ("", b"cannot be empty")]:
        done = dstream(tmp_path, "show", name)
        assert done.returncode == 2, done.stderr
        assert why in done.stderr and b"hint: a task name is 1 to 64 bytes" in done.stderr
        assert b"Errno" not in done.stderr and b"permissions" not in done.stderr


@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_a_directory_or_fifo_in_place_of_a_state_file_is_named_as_such(
    tmp_path: Path, kind: str
) -> None:
    """Not `is not a regular file, not to user root: dstream uses only files of its
    user's own` with a chown hint: it is no question of ownership. `state list` does not
    offer `state set`, which cannot replace it."""
    state = _configured(tmp_path)
    path = state / "payments.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    shown = dstream(tmp_path, "show", "payments")
    assert shown.returncode == 1
    said = shown.stderr.decode()
    assert f"error: {path} is a {kind}, not a state file: remove it" in said, said
    assert "chown" not in said and "user's own" not in said, said
    assert "rm " in said, said
    listed = dstream(tmp_path, "list")
    assert listed.returncode == 1
    assert f"{path} is a {kind}, not a state file" in listed.stderr.decode()
    assert "state set" not in listed.stderr.decode(), listed.stderr.decode()


def test_set_help_says_a_changed_input_still_needs_resume_changed(tmp_path: Path) -> None:
    """`set` keeps the stored input digest (it cannot know which source the value is a
    position in): after the input's configuration changed, the next run refuses (exit 2)
    without --resume-changed, which the help said nothing of ("the next run resumes
    from it")."""
    done = dstream(tmp_path, "set", "--help")
    assert done.returncode == 0
    said = " ".join(done.stdout.decode().split())
    assert "--resume-changed" in said, said
    assert "(the next run resumes from it)" not in said, said


@pytest.mark.parametrize("backend", ["file", "postgres"])
def test_a_null_checkpoint_stored_outside_dstream_is_refused_not_a_fresh_start(
    tmp_path: Path, pg_server: PostgresServer, backend: str
) -> None:
    """dstream never stores null (`state set` refuses it: an input reads a null state as
    none). One written by hand or another program is an unreadable record, as a torn
    file is: `show` and `run` fail naming it, rather than show it and start the input
    from the beginning."""
    if backend == "file":
        state = _configured(tmp_path)
        path = state / "orders.json"
        path.write_bytes(
            path.read_bytes().replace(b'"checkpoint": {"seq": 1}', b'"checkpoint": null')
        )
        assert b'"checkpoint": null' in path.read_bytes()
    else:
        table = f"null_{os.getpid()}"
        block = (
            f'state {{\n  backend = "postgres"\n  dsn = "{pg_server.dsn}"\n  table = "{table}"\n}}'
        )
        (tmp_path / "dstream.hcl").write_text(CONFIG.format(state=block))
        assert dstream(tmp_path, "set", "orders", '{"seq": 1}').returncode == 0
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            conn.execute(f"UPDATE {table} SET checkpoint = 'null' WHERE task = 'orders'")
    shown = dstream(tmp_path, "show", "orders")
    assert shown.returncode == 1, shown.stdout
    assert b"checkpoint is null, which dstream never stores" in shown.stderr, shown.stderr
    assert b"dstream state reset" in shown.stderr, shown.stderr
    listed = dstream(tmp_path, "list", "--json")
    assert listed.returncode == 1
    (unreadable,) = orjson.loads(listed.stdout)["unreadable"]
    assert unreadable["task"] == "orders", unreadable
    run = subprocess.run(
        [sys.executable, "-m", "dstream.cli.app", "run", "orders"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert b"checkpoint is null, which dstream never stores" in run.stderr, run.stderr
    assert b"counter starting" not in run.stderr, run.stderr  # the input never started
