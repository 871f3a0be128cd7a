"""The stdio host's contract duties, observed on real provider processes: stop signals,
commit notices, lifecycle routing, stdout hygiene, failures."""

from __future__ import annotations

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.sdk.conftest import DEADLINE, Result, command, frames, run, start


def read_json_line(proc: subprocess.Popen[bytes]) -> Any:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the provider closed stdout"
    return orjson.loads(line)


def wait_for_log(proc: subprocess.Popen[bytes], msg: str) -> dict[str, Any]:
    """Read stderr records until one has this `msg` (stderr stays readable afterwards)."""
    assert proc.stderr is not None
    for line in iter(proc.stderr.readline, b""):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("msg") == msg:
            return record
    raise AssertionError(f"the provider exited before logging {msg!r}")


def finish(proc: subprocess.Popen[bytes]) -> Result:
    """The rest of stdout and stderr and the exit code. Reads through the buffered file
    objects (communicate() would skip what readline() already buffered)."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    with ThreadPoolExecutor(2) as pool:
        out = pool.submit(proc.stdout.read)
        err = pool.submit(proc.stderr.read)
        code = proc.wait(timeout=DEADLINE)
        return Result(code, out.result(timeout=DEADLINE), err.result(timeout=DEADLINE))


@pytest.mark.parametrize("interval", [0, 1000])
def test_sigterm_stops_an_input_with_whole_frames_and_exit_0(
    interval: int, processes: list
) -> None:
    """interval 0: stopped while producing flat out; 1000: while waiting in read()."""
    proc = start("counter")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({"interval": interval, "checkpoint_every": 5}))
    proc.stdin.close()
    assert read_json_line(proc)["status"] == "ready"
    first = read_json_line(proc)
    assert first["data"]["value"] == 1
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 0, result.stderr
    rest = result.objects  # every line is a whole frame
    values = [first["data"]["value"]] + [o["data"]["value"] for o in rest if "data" in o]
    assert values == list(range(1, len(values) + 1))
    assert any(r["msg"] == "stop signal received; finishing" for r in result.logs)


def test_sigterm_lets_an_output_finish_its_batch_and_acknowledge(processes: list) -> None:
    proc = start("sample:slow_output")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({"delay": 1.0}))
    proc.stdin.write(frames({"data": 1}, {"data": 2}, {"checkpoint": "c1"}))
    proc.stdin.flush()
    assert read_json_line(proc)["status"] == "ready"
    wait_for_log(proc, "write start")
    proc.send_signal(signal.SIGTERM)  # during write(): it must complete, then the ack
    result = finish(proc)
    assert result.returncode == 0, result.stderr
    assert result.objects == [{"checkpoint": "c1"}]
    msgs = [r["msg"] for r in result.logs]
    assert msgs.index("write done") < msgs.index("flush") < msgs.index("close")


def test_output_writes_then_flushes_then_acknowledges() -> None:
    stream = command({"batch_size": 2}) + frames(
        {"data": 1}, {"data": 2}, {"data": 3}, {"checkpoint": 1}, {"data": 4}
    )
    result = run("sample:slow_output", stream)
    assert result.returncode == 0, result.stderr
    writes = [r["values"] for r in result.logs if r["msg"] == "write done"]
    assert writes == [[1, 2], [3], [4]]  # batch_size bounds a batch; a checkpoint cuts one
    events = [r["msg"] for r in result.logs if r["msg"] in ("write done", "flush", "close")]
    assert events == ["write done", "write done", "flush", "write done", "flush", "close"]
    assert result.after_handshake == [{"checkpoint": 1}]


def test_commit_notices_are_delivered_and_coalesced(tmp_path: Path, processes: list) -> None:
    release = tmp_path / "release"
    proc = start("sample:notices")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({"release": str(release)}))
    proc.stdin.flush()
    hello = read_json_line(proc)
    assert hello == {
        "status": "ready",
        "protocol": 1,
        "features": ["checkpoints", "commit-notices"],
    }
    assert read_json_line(proc) == {"data": {"n": 1}, "metadata": {}}
    assert read_json_line(proc) == {"checkpoint": 1}
    proc.stdin.write(b'{"committed":1}\n')
    proc.stdin.flush()
    assert wait_for_log(proc, "commit start")["value"] == 1
    # on_commit(1) is busy: these three queue up and only the newest must be delivered.
    proc.stdin.write(b'{"committed":2}\n{"committed":3}\n{"committed":4}\n')
    proc.stdin.flush()
    release.touch()
    assert wait_for_log(proc, "commit done")["value"] == 1
    assert wait_for_log(proc, "commit start")["value"] == 4
    assert wait_for_log(proc, "commit done")["value"] == 4
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 0
    assert not [r for r in result.logs if r["msg"] == "commit start"]  # no 2 or 3 later


def test_input_without_on_commit_does_not_declare_notices() -> None:
    result = run("counter", command({"interval": 0, "max_count": 1}))
    assert "commit-notices" not in result.handshake["features"]


@pytest.mark.parametrize(
    ("cmd", "extra", "expected"),
    [
        (
            "init",
            {},
            {
                "changes": [
                    {"action": "create", "type": "queue", "name": "orders", "reason": "missing"}
                ]
            },
        ),
        (
            "plan",
            {},
            {
                "changes": [{"action": "create", "type": "queue", "name": "orders", "reason": ""}],
                "metadata": {"destroy": False},
            },
        ),
        (
            "plan",
            {"destroy": True},
            {
                "changes": [{"action": "delete", "type": "queue", "name": "orders", "reason": ""}],
                "metadata": {"destroy": True},
            },
        ),
        (
            "status",
            {},
            {
                "resources": [
                    {"type": "queue", "name": "orders", "exists": True, "details": {"messages": 3}}
                ]
            },
        ),
        (
            "destroy",
            {},
            {"changes": [{"action": "delete", "type": "queue", "name": "orders", "reason": ""}]},
        ),
    ],
)
def test_lifecycle_commands_answer_one_result_line(cmd: str, extra: dict, expected: dict) -> None:
    result = run("sample:infra", command({}, cmd=cmd, role="output", **extra))
    assert result.returncode == 0, result.stderr
    assert result.handshake == {"status": "ready", "protocol": 1, "features": ["lifecycle"]}
    assert len(result.after_handshake) == 1
    answer = result.after_handshake[0]
    assert answer["status"] == "Success"
    for key, value in expected.items():
        assert answer[key] == value


@pytest.mark.parametrize(
    ("outcome", "error"),
    [("failed", "quota exceeded"), ("raise", "RuntimeError: broker unreachable")],
)
def test_lifecycle_failures_exit_non_zero_with_the_reason(outcome: str, error: str) -> None:
    result = run("sample:infra", command({"outcome": outcome}, cmd="init"))
    assert result.returncode == 1
    answer = result.after_handshake
    assert len(answer) == 1 and answer[0]["status"] == "Failed" and answer[0]["error"] == error


def test_a_lifecycle_result_converts_values_as_read_does() -> None:
    """details hold what a source's catalogue returns: datetimes, Decimals, UUIDs, bytes,
    written as read() writes them in envelopes."""
    result = run("sample:infra", command({"outcome": "typed"}, cmd="status"))
    assert result.returncode == 0, result.stderr
    (answer,) = result.after_handshake
    assert answer["status"] == "Success"
    assert answer["resources"][0]["details"] == {
        "created": "2024-01-02T03:04:05+00:00",
        "size": "1.10",
        "id": "00000000-0000-0000-0000-000000000001",
        "key": "AP8=",
    }


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("unwritable", "cannot encode a datetime.timedelta as JSON; convert it"),
        ("not_a_list", "resources must be a list of Resource objects or dicts, got Resource"),
        ("surrogate", "cannot encode the str 'queue \\udcff' at ['message'] as JSON"),
    ],
)
def test_a_result_that_cannot_be_written_is_a_failed_result(outcome: str, reason: str) -> None:
    """docs/providers.md section 8: a lifecycle command always answers one result line."""
    result = run("sample:infra", command({"outcome": outcome}, cmd="status"))
    assert result.returncode == 1
    (answer,) = result.after_handshake
    assert answer["status"] == "Failed", answer
    assert answer["error"].startswith("status() returned a result that cannot be written: ")
    assert reason in answer["error"]
    assert b"Traceback" not in result.stdout


def test_provider_without_lifecycle_reports_no_infrastructure() -> None:
    result = run("null", command({}, cmd="status"))
    assert result.returncode == 0, result.stderr
    assert "lifecycle" not in result.handshake.get("features", [])
    assert result.after_handshake == [
        {"status": "Success", "resources": [], "changes": [], "metadata": {},
         "message": "null manages no infrastructure", "error": None}
    ]  # fmt: skip


def test_stray_prints_go_to_stderr_and_a_failing_read_exits_1_after_its_frames() -> None:
    result = run("sample:misbehaving", command({}))
    assert result.returncode == 1
    assert b"a stray print" not in result.stdout and b"a stray print" in result.stderr
    assert result.after_handshake == [
        {"data": {"price": "12.30", "blob": "AAE="}, "metadata": {}},
        {"data": 2, "metadata": {"kind": "dict"}},
        {"data": 3, "metadata": {}},
        {"data": 4, "metadata": {"k": "v"}},
    ]
    failure = next(r for r in result.logs if r["level"] == "error")
    assert failure["msg"] == "read() failed" and "source went away" in failure["error"]


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        (b"", "got no command line on stdin"),
        (b"[1,2]\n", "the command line on stdin is not valid"),
        (b'{"command":"apply","config":{}}\n', "unknown command 'apply'; known: run, init"),
        (
            command({}, role="input"),
            "null is an output provider but was started as the task's input",
        ),
    ],
)
def test_bad_command_lines_are_refused_in_the_handshake(stdin: bytes, needle: str) -> None:
    result = run("null", stdin)
    assert result.returncode == 2
    assert result.handshake["status"] == "error" and needle in result.handshake["message"]


def test_open_failure_is_reported_in_the_handshake(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    result = run("file", command({"path": "blocker/out.jsonl"}), cwd=tmp_path)
    assert result.returncode == 1
    assert result.objects[0]["status"] == "error"
    assert result.objects[0]["message"].startswith("file could not start:")


def test_batch_linger_waits_for_more_input_before_a_partial_write(processes: list) -> None:
    proc = start("sample:slow_output")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({"linger": 60.0}) + frames({"data": 1}))
    proc.stdin.flush()
    assert read_json_line(proc)["status"] == "ready"
    proc.stdin.write(frames({"data": 2}))  # arrives while the host lingers
    result = finish(proc)  # EOF ends the linger
    assert result.returncode == 0, result.stderr
    assert [r["values"] for r in result.logs if r["msg"] == "write done"] == [[1, 2]]


def test_sigterm_stops_an_idle_output_after_acknowledging_what_it_read(processes: list) -> None:
    proc = start("sample:slow_output")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({}) + frames({"data": 1}, {"checkpoint": "c1"}))
    proc.stdin.flush()  # stdin stays open: the output waits for more
    assert read_json_line(proc)["status"] == "ready"
    assert read_json_line(proc) == {"checkpoint": "c1"}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE) == 0
    result = finish(proc)
    assert [r["msg"] for r in result.logs][-2:] == ["flush", "close"]


def test_a_second_signal_exits_at_once_with_130(processes: list) -> None:
    proc = start("sample:slow_output")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({"delay": 3600}) + frames({"data": 1}, {"checkpoint": "c1"}))
    proc.stdin.flush()
    assert read_json_line(proc)["status"] == "ready"
    wait_for_log(proc, "write start")
    proc.send_signal(signal.SIGTERM)
    wait_for_log(proc, "stop signal received; finishing")
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 130
    assert result.stdout == b""  # never acknowledged: the write did not finish


@pytest.mark.parametrize("interval", [0, 5])
def test_an_input_whose_stdout_closes_exits_1(interval: int, processes: list) -> None:
    proc = start("counter")
    processes.append(proc)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command({"interval": interval}))
    proc.stdin.close()
    assert read_json_line(proc)["status"] == "ready"
    proc.stdout.close()  # the reader is gone: the next write fails with EPIPE
    assert proc.wait(timeout=DEADLINE) == 1
    assert proc.stderr is not None
    # a warning: under dstream the reader stops reading after a failure it reports
    warnings = [orjson.loads(x) for x in proc.stderr.read().splitlines() if b'"warning"' in x]
    assert warnings and "stdout was closed" in warnings[0]["msg"]


@pytest.mark.parametrize("fails_in", ["write", "flush"])
def test_a_failing_write_or_flush_is_a_json_record_and_exit_1(fails_in: str) -> None:
    """As a failing read(): the failure logged as one JSON record (with its traceback in
    it), never a bare traceback on stderr, and nothing acknowledged past it."""
    stdin = command({"fails_in": fails_in}, role="output") + frames({"data": 1}, {"checkpoint": 1})
    result = run("sample:failing_output", stdin)
    assert result.returncode == 1
    plain = [line for line in result.stderr.splitlines() if not line.startswith(b"{")]
    assert plain == [], b"\n".join(plain).decode()
    failure = next(r for r in result.logs if r["level"] == "error")
    assert failure["msg"] == f"{fails_in}() failed" and "sink refused" in failure["error"]
    assert {"checkpoint": 1} not in result.after_handshake


def test_a_sigterm_after_the_stream_completed_still_exits_0(processes: list) -> None:
    """Once the stream completed, nothing is left to stop: a SIGTERM while the process
    exits (here an atexit hook) must not kill it, which would read as a failure."""
    proc = start("sample:slow_exit")
    processes.append(proc)
    assert proc.stdin is not None
    proc.stdin.write(command({}))
    proc.stdin.close()
    wait_for_log(proc, "exiting")
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 0, result.stderr
    assert [o["data"]["n"] for o in result.objects if "data" in o] == [0, 1, 2]


def test_a_sigterm_racing_the_end_of_a_short_stream_exits_0(processes: list) -> None:
    """`dstream provider test`'s sigterm check on a counter that ends by itself: the
    signal lands anywhere from the last frame to the interpreter's exit."""
    for _ in range(20):
        proc = start("counter")
        processes.append(proc)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(command({"interval": 0, "max_count": 3}))
        proc.stdin.close()
        assert read_json_line(proc)["status"] == "ready"
        while read_json_line(proc).get("data", {}).get("value") != 3:
            pass  # the last frame: the stream is completing, the process on its way out
        proc.send_signal(signal.SIGTERM)
        result = finish(proc)
        assert result.returncode == 0, result.stderr
