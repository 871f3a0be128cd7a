"""SIGTERM ends any command the way SIGINT does there, wherever it arrives: before `run`
has its own handlers (loading, checking, opening the state store) and in every other
command. One error block (one JSON document with --json), exit 143 (130 for SIGINT),
and what the command started is stopped. Kubernetes and systemd stop with SIGTERM.

The slow steps are real and wait for the signal: a lifecycle provider that never
answers `plan`, and a "state database" that accepts the connection and never answers."""

from __future__ import annotations

import signal
import socket
import subprocess

import orjson
import pytest

from dstream.errors import ExitCode
from tests.lifecycle.test_commands import setup as lifecycle_setup
from tests.services import wait_until
from tests.workspace import Workspace, alive, with_descendants

SIGNALS = [
    pytest.param(signal.SIGTERM, ExitCode.TERMINATED, "SIGTERM", id="SIGTERM"),
    pytest.param(signal.SIGINT, ExitCode.INTERRUPTED, "SIGINT", id="SIGINT"),
]


def _stop(proc: subprocess.Popen[bytes], sig: int) -> tuple[str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return out.decode(), err.decode()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
@pytest.mark.parametrize("json", [True, False], ids=["json", "text"])
def test_a_signal_during_plan_stops_it_and_its_provider(
    ws: Workspace, sig: int, code: int, name: str, json: bool
) -> None:
    lifecycle_setup(ws, input_config="hang = true")  # ready, then no answer for 120 s
    proc = ws.popen("plan", "t", *(["--json"] if json else []))
    wait_until("the input to be asked", lambda: ws.read_text("calls.jsonl"))
    providers = wait_until("the provider's pid", lambda: with_descendants([proc.pid])[1:])
    out, err = _stop(proc, sig)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err
    if json:
        doc = orjson.loads(out)  # one document
        assert doc["ok"] is False, doc
        assert name in doc["message"], doc
        assert doc["hint"], doc
        assert doc["exit_code"] == code, doc  # the code it exits with
    else:
        assert out == ""
        assert f"error: interrupted by {name}" in err, err
        assert "hint:" in err
    assert [pid for pid in providers if alive(pid)] == [], "the provider outlived plan"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_before_run_takes_its_tasks_ends_it_cleanly(
    ws: Workspace, sig: int, code: int, name: str
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        ws.config(
            f"""
            state {{
              backend   = "postgres"
              dsn       = "postgresql://u@127.0.0.1:{port}/db?sslmode=disable"
              lease_ttl = "300s"
            }}
            task "t" {{
              input {{ provider_path = "dstream-counter" }}
              output {{ provider_path = "dstream-null" }}
            }}
            """
        )
        proc = ws.popen("run", "t", "--json")
        server.settimeout(60)
        conn, _ = server.accept()  # run is opening its state store: no handlers of its own yet
        with conn:
            out, err = _stop(proc, sig)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err
    doc = orjson.loads(out)  # one document, though no task ran
    assert doc["ok"] is False, doc
    assert name in doc["message"], doc
    assert doc["exit_code"] == code, doc
