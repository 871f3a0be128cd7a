"""dstream._core driven end to end: real processes (printf, cat, sleep, true) on both
sides of the pump, real OS pipes, real files for dead letters."""

from __future__ import annotations

import _thread
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream._core import (
    BUILD_INFO,
    DEFAULT_MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    Counters,
    Pump,
    PumpOptions,
    PumpResult,
    __version__,
    checkpoint_value,
)
from dstream.protocol import frames

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses printf/cat/sleep")

DATA_A = b'{"data":{"id":1},"metadata":{"TableName":"users","OperationType":"Insert"}}'
DATA_B = b'{"data":{"id":2},"metadata":{"TableName":"orders"}}'
CKPT = b'{"checkpoint":{"lsn":"0/16B3748"}}'
CKPT_VALUE = b'{"lsn":"0/16B3748"}'  # take_checkpoints hands out the value's exact bytes


class Cat:
    """A `cat` output provider: what the pump writes to its stdin comes back on stdout."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd = self.proc.stdin.fileno()
        self._out: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self._out.append(self.proc.stdout.read())

    def close(self) -> bytes:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self._reader.join(10)
        self.proc.wait(10)
        return b"".join(self._out)


def printf(data: bytes) -> subprocess.Popen[bytes]:
    """An input provider writing `data` and exiting: `printf` for small text, `cat` of a
    temporary file for binary or large data (argv cannot carry NUL or megabytes)."""
    if len(data) < 4096 and b"\0" not in data and data.isascii():
        return subprocess.Popen(["printf", "%s", data.decode()], stdout=subprocess.PIPE)
    with tempfile.TemporaryFile(prefix="dstream-core-test-") as f:
        f.write(data)
        f.seek(0)
        return subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)


@pytest.fixture
def cat() -> Iterator[Cat]:
    c = Cat()
    yield c
    if c.proc.poll() is None:
        c.proc.kill()
        c.proc.wait()


def pump_through(data: bytes, cat: Cat, prefix: bytes = b"", **opts: object) -> PumpResult:
    src = printf(data)
    assert src.stdout is not None
    try:
        p = Pump(src.stdout.fileno(), cat.fd, PumpOptions(**opts), prefix)  # type: ignore[arg-type]
        return p.run()
    finally:
        src.stdout.close()
        src.wait(10)


def test_module_constants() -> None:
    assert PROTOCOL_VERSION == frames.PROTOCOL_VERSION == 1
    assert DEFAULT_MAX_FRAME_SIZE == frames.DEFAULT_MAX_FRAME_SIZE
    assert isinstance(__version__, str) and __version__
    assert {"rustc", "target", "profile", "features"} <= set(BUILD_INFO)
    o = PumpOptions()
    assert o.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    assert o.policy == "fail" and o.validate and o.read_buffer_size == 1 << 18


def test_options_errors() -> None:
    with pytest.raises(ValueError, match="dead_letter_path"):
        PumpOptions(policy="dead_letter")
    with pytest.raises(ValueError, match="unknown invalid-frame policy"):
        PumpOptions(policy="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_frame_size"):
        PumpOptions(max_frame_size=0)
    with pytest.raises(TypeError):
        PumpOptions(16)  # type: ignore[misc]


def test_valid_frames_prefix_checkpoints_tables(cat: Cat) -> None:
    data = b"7}\r\n\n" + DATA_A + b"\n   \n" + CKPT + b"\r\n" + DATA_B
    p_src = printf(data)
    assert p_src.stdout is not None
    pump = Pump(p_src.stdout.fileno(), cat.fd, PumpOptions(), b'{"data":')
    result = pump.run()
    p_src.wait(10)
    assert result.outcome == "eof"
    assert result.message is None and result.offset is None and result.excerpt is None
    want = b'{"data":7}\n' + DATA_A + b"\n" + CKPT + b"\n" + DATA_B + b"\n"
    assert cat.close() == want
    c = result.counters
    assert isinstance(c, Counters)
    assert (c.frames, c.data_frames, c.checkpoint_frames, c.invalid_frames) == (4, 3, 1, 0)
    assert c.bytes == len(want)
    assert c.bytes_read == len(data) + len(b'{"data":')
    assert c.tables == {"users": 1, "orders": 1}
    assert c.as_dict()["tables"] == {"users": 1, "orders": 1}
    assert pump.take_checkpoints() == [CKPT_VALUE]
    assert pump.take_checkpoints() == []
    with pytest.raises(RuntimeError, match="once"):
        pump.run()


def test_fail_policy(cat: Cat) -> None:
    bad = b'{"data":1,"b":2 "c":3}'
    data = DATA_A + b"\n" + bad + b"\n" + DATA_B + b"\n"
    r = pump_through(data, cat, start_offset=1000)
    assert r.outcome == "invalid_frame"
    assert r.message == "frame is not valid JSON: expected ',' or '}' at byte 16 of the frame"
    assert r.offset == 1000 + len(DATA_A) + 1
    assert r.excerpt == bad
    assert r.counters.frames == 1 and r.counters.invalid_frames == 1
    assert cat.close() == DATA_A + b"\n"


def test_fail_not_object(cat: Cat) -> None:
    r = pump_through(b"[1,2]\n", cat)
    assert (r.outcome, r.message, r.offset) == (
        "invalid_frame",
        "frame is a JSON array, not an object",
        0,
    )


def test_skip_policy(cat: Cat) -> None:
    data = DATA_A + b"\nnot json\n" + DATA_B + b"\n"
    r = pump_through(data, cat, policy="skip")
    assert r.outcome == "eof"
    assert (r.counters.skipped, r.counters.invalid_frames, r.counters.frames) == (1, 1, 2)
    assert cat.close() == DATA_A + b"\n" + DATA_B + b"\n"


def test_dead_letter_policy(cat: Cat, tmp_path: Path) -> None:
    dl = tmp_path / "dead.jsonl"
    big = b'{"data":"' + b"x" * 3000 + b'"}'
    data = DATA_A + b"\n{oops}\n" + b'{"a":"\xff"}\n' + big + b"\n" + DATA_B + b"\n"
    r = pump_through(
        data, cat, policy="dead_letter", dead_letter_path=str(dl), task="t1", max_frame_size=1024
    )
    assert r.outcome == "eof", r.message
    assert r.counters.dead_lettered == 3 and r.counters.invalid_frames == 3
    assert cat.close() == DATA_A + b"\n" + DATA_B + b"\n"
    recs = [json.loads(line) for line in dl.read_text().splitlines()]
    assert [x["task"] for x in recs] == ["t1"] * 3
    assert recs[0]["raw"] == "{oops}"
    assert recs[0]["offset"] == len(DATA_A) + 1
    assert "expected" in recs[0]["reason"]
    assert base64.b64decode(recs[1]["raw_base64"]) == b'{"a":"\xff"}'
    assert "UTF-8" in recs[1]["reason"]
    assert recs[2]["raw"].encode() == big  # UTF-8: kept as text, even streamed
    assert recs[2]["length"] == len(big)
    assert recs[2]["reason"] == "frame exceeds max_frame_size 1.0 KiB"


def test_oversized_fail(cat: Cat) -> None:
    big = b'{"data":"' + b"x" * (3 << 20) + b'"}'
    r = pump_through(DATA_A + b"\n" + big + b"\n", cat, max_frame_size=1 << 20)
    assert r.outcome == "invalid_frame"
    assert r.message == "frame of 3.0 MiB exceeds max_frame_size 1.0 MiB"
    assert r.offset == len(DATA_A) + 1
    assert r.excerpt == big[:120]
    assert cat.close() == DATA_A + b"\n"


def test_passthrough(cat: Cat) -> None:
    data = b"not json at all\n\x00\xff" * 1000
    r = pump_through(data, cat, prefix=b"head:", validate=False)
    assert r.outcome == "eof"
    assert r.counters.bytes == r.counters.bytes_read == len(data) + 5
    assert r.counters.frames == 0
    assert cat.close() == b"head:" + data


def test_stop_while_input_idle(cat: Cat) -> None:
    src = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    assert src.stdout is not None
    try:
        pump = Pump(src.stdout.fileno(), cat.fd, PumpOptions())
        threading.Timer(0.2, pump.stop).start()
        t0 = time.monotonic()
        r = pump.run()
        assert r.outcome == "stopped"
        assert time.monotonic() - t0 < 5
    finally:
        src.kill()
        src.wait()
        src.stdout.close()


def test_stop_while_output_stalled() -> None:
    # `sleep` never reads its stdin: the pump blocks on a full pipe
    out = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE)
    r_fd, w_fd = os.pipe()
    stop_writing = threading.Event()

    def produce() -> None:
        line = DATA_A + b"\n"
        try:
            while not stop_writing.is_set():
                os.write(w_fd, line * 100)
        except OSError:
            pass

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        assert out.stdin is not None
        pump = Pump(r_fd, out.stdin.fileno(), PumpOptions())
        threading.Timer(0.5, pump.stop).start()
        r = pump.run()
        assert r.outcome == "stopped"
        assert r.counters.bytes_read > 0
    finally:
        stop_writing.set()
        os.close(r_fd)
        t.join(5)
        os.close(w_fd)
        out.kill()
        out.wait()


def test_counters_live_while_running(cat: Cat) -> None:
    r_fd, w_fd = os.pipe()
    pump = Pump(r_fd, cat.fd, PumpOptions())
    result: list[PumpResult] = []
    runner = threading.Thread(target=lambda: result.append(pump.run()))
    runner.start()
    try:
        os.write(w_fd, (DATA_A + b"\n") * 10 + CKPT + b"\n")
        deadline = time.monotonic() + 5
        while pump.counters().frames < 11 and time.monotonic() < deadline:
            time.sleep(0.01)
        live = pump.counters()
        assert live.frames == 11 and live.tables == {"users": 10}
        assert pump.take_checkpoints() == [CKPT_VALUE]
        assert runner.is_alive()
    finally:
        os.close(w_fd)
        runner.join(10)
        os.close(r_fd)
    assert result[0].outcome == "eof"
    assert result[0].counters.frames == 11


def test_output_closed() -> None:
    out = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    out.wait(10)
    src = printf((DATA_A + b"\n") * 10)
    assert src.stdout is not None and out.stdin is not None
    r = Pump(src.stdout.fileno(), out.stdin.fileno(), PumpOptions()).run()
    src.wait(10)
    src.stdout.close()
    assert r.outcome == "output_closed"
    assert r.message is not None and "EPIPE" in r.message


def test_bad_fd_is_io_error() -> None:
    r = Pump(987654, 987655, PumpOptions()).run()
    assert r.outcome == "io_error"
    assert r.message is not None and "987654" in r.message


def test_keyboard_interrupt_stops_then_propagates(cat: Cat) -> None:
    src = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    assert src.stdout is not None
    fd = src.stdout.fileno()
    flags_before = os.get_blocking(fd)
    try:
        pump = Pump(fd, cat.fd, PumpOptions())
        threading.Timer(0.2, _thread.interrupt_main).start()
        with pytest.raises(KeyboardInterrupt):
            pump.run()
        assert os.get_blocking(fd) == flags_before  # O_NONBLOCK restored
    finally:
        src.kill()
        src.wait()
        src.stdout.close()


def test_checkpoint_value_is_the_exact_bytes_of_the_member() -> None:
    assert checkpoint_value(b'{ "checkpoint" : 18446744073709551617 , "x":1}') == (
        b"18446744073709551617"
    )
    assert checkpoint_value(b'{"rows":1,"checkpoint":[1.0, "a"]}') == b'[1.0, "a"]'
    assert checkpoint_value(b'{"data":1}') is None
    assert checkpoint_value(b'{"checkpoint":1') is None  # not valid JSON
    assert checkpoint_value(b"not json") is None
