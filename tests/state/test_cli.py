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
  input  {{ provider_path = "dstream-counter"  config {{ max_count = 1 }} }}
  output {{ provider_path = "dstream-null" }}
}}
task "payments" {{
  input  {{ provider_path = "dstream-counter"  config {{ max_count = 1 }} }}
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
    assert error["ok"] is False and "--force" in error["hint"]
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
