"""Time to first envelope: a legacy input that reads stdin to EOF before writing
anything (as the original SQL Server ingester does) against an SDK input, both in
Python, in the same run of this suite, each through `dstream run` into an output that
echoes what it gets (shown on dstream's stdout).

Before issue 18 the legacy input waited the whole start_timeout (30 s): dstream kept
its stdin open until its first stdout line. Now stdin is closed after the command
line, so both should start alike.

    pytest benches/bench_legacy_start.py --benchmark-only
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benches.conftest import SMOKE, record, rounds, warmups
from benches.procs import first_line, stats

RUNS = 2 if SMOKE else 10

LEGACY_INPUT = f"""#!{sys.executable}
import sys, time
sys.stdin.buffer.read()  # io.ReadAll(os.Stdin), as the original ingester
n = 0
while True:
    n += 1
    sys.stdout.write('{{"data":{{"n":%d}},"metadata":{{"TableName":"t"}}}}\\n' % n)
    sys.stdout.flush()
    time.sleep(0.01)
"""
ECHO_OUTPUT = "#!/bin/sh\nread -r command\nexec cat\n"
CONFIG = """
task "legacy" {
  input  { provider_path = "./legacy_input.py" }
  output { provider_path = "./echo.sh" }
}
task "sdk" {
  input {
    provider_path = "dstream-counter"
    config {
      interval = 10
      checkpoint_every = 0
    }
  }
  output { provider_path = "./echo.sh" }
}
"""


def workspace(root: Path) -> Path:
    for name, text in (("legacy_input.py", LEGACY_INPUT), ("echo.sh", ECHO_OUTPUT)):
        path = root / name
        path.write_text(text)
        path.chmod(0o755)
    (root / "dstream.hcl").write_text(CONFIG)
    return root


def first_envelope(root: Path, task: str) -> float:
    return first_line(["run", task], root, b'{"data"')


def test_first_envelope_legacy_vs_sdk(benchmark: Any, tmp_path: Path) -> None:
    root = workspace(tmp_path)
    times: dict[str, list[float]] = {"legacy": [], "sdk": []}

    def once() -> None:
        for _ in range(RUNS):
            for task in ("legacy", "sdk"):  # interleaved: both see the same load
                times[task].append(first_envelope(root, task))

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    for task, label in (("legacy", "stdin-to-EOF legacy input"), ("sdk", "SDK input")):
        summary = stats(times[task], "ms", 1e-3, compare=False)
        record("legacy start", f"first envelope, {label}", summary)
        benchmark.extra_info[f"{task}_first_envelope_ms"] = summary
