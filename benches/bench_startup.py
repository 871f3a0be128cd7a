"""Start-up: `dstream --help`, and the time from starting `dstream run demo` (the built-in
demo: counter -> console, no dstream.hcl) to its first envelope on stdout.

Both through the console script itself, never a pyenv shim. The demo runs in an empty
directory with DSTREAM_CONFIG unset, as a new user would first run it; it is stopped
with SIGINT (by PID) once the first envelope is out.

    pytest benches/bench_startup.py --benchmark-only
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from benches.conftest import SMOKE, record, rounds, warmups
from benches.procs import script, stats

RUNS = 3 if SMOKE else 20


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DSTREAM_")}


def test_help(benchmark: Any) -> None:
    times: list[float] = []

    def once() -> None:
        for _ in range(RUNS):
            started = time.perf_counter()
            proc = subprocess.run([script("dstream"), "--help"], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
            assert b"usage" in proc.stdout.lower() and b"run" in proc.stdout

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    record("start-up", "dstream --help", stats(times, "ms", 1e-3, compare=False))
    benchmark.extra_info["help_ms"] = stats(times, "ms", 1e-3, compare=False)


def first_envelope(directory: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [script("dstream"), "run", "demo"],
        cwd=directory,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        seconds = time.perf_counter() - started
        assert line.startswith(b"[seq 1] "), line  # the console output's first envelope
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return seconds


def test_first_envelope_of_demo(benchmark: Any, tmp_path: Path) -> None:
    times: list[float] = []

    def once() -> None:
        for _ in range(max(1, RUNS // 2)):
            times.append(first_envelope(tmp_path))

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    record("start-up", "first envelope of run demo", stats(times, "ms", 1e-3, compare=False))
    benchmark.extra_info["first_envelope_ms"] = stats(times, "ms", 1e-3, compare=False)
