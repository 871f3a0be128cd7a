"""Runs every row of tests/hostile/cases.py as a real `dstream` process under a memory
cap (RLIMIT_AS, via prlimit) and a timeout: no traceback, the exit status the row
names (never 0 unless the job was done), the error naming file:line:col or the
provider, and the row's own check of what was (not) written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.hostile.cases import CASES, Case
from tests.workspace import dstream_argv

MEMORY_CAP = 2 * 1024**3  # bytes of address space for dstream and its providers
TIMEOUT = 60.0  # seconds; a hostile input must not make dstream hang


def _prepare(case: Case, root: Path) -> None:
    if case.raw_config is not None:
        (root / "dstream.hcl").write_bytes(case.raw_config)
    elif case.config:
        (root / "dstream.hcl").write_text(case.config)
    for name, content in case.files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(f"#!{sys.executable}\n{content}" if name.endswith(".py") else content)
        if name.endswith(".py"):
            path.chmod(0o755)
    if case.setup is not None:
        case.setup(root)


def _run(case: Case, root: Path) -> tuple[int, str]:
    limits = [f"--as={MEMORY_CAP}"] + ([f"--fsize={case.fsize}"] if case.fsize else [])
    argv = ["prlimit", *limits, *dstream_argv(*case.argv)]
    env = {**os.environ, "NO_COLOR": "1", **case.env}
    env.pop("DSTREAM_CONFIG", None)
    proc = subprocess.Popen(
        argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if case.signal is not None:
        deadline = time.monotonic() + TIMEOUT
        out = root / "out.jsonl"
        while not (out.exists() and out.stat().st_size > 0) and proc.poll() is None:
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
        time.sleep(0.3)  # let some checkpoints be acknowledged
        proc.send_signal(case.signal)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(
            f"{case.name}: no exit within {TIMEOUT:g} s\n{output.decode(errors='replace')[-2000:]}"
        )
    return proc.returncode, output.decode("utf-8", "replace")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    _prepare(case, tmp_path)
    code, output = _run(case, tmp_path)
    shown = output[-3000:]
    assert "Traceback" not in output, shown
    assert "MemoryError" not in output, shown
    assert code == case.exit, f"exit {code}, expected {ExitCode(case.exit).name}\n{shown}"
    if case.names is not None:
        assert re.search(case.names, output), f"the message names no {case.names!r}\n{shown}"
    if case.check is not None:
        case.check(tmp_path)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
