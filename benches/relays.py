"""The relays a benchmark compares, each a process reading stdin and writing stdout,
and the interleaved rounds that measure them."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from benches.conftest import record, relay_through, rounds, warmups
from benches.procs import stats

PUMP = (
    "import sys; from dstream._core import Pump, PumpOptions; "
    "r = Pump(0, 1, PumpOptions(validate={validate}, count_tables=False, "
    "zero_copy={zero_copy})).run(); "
    "sys.exit(0 if r.outcome == 'eof' else 1)"
)
PY_LINES = (
    "import sys\nout = sys.stdout.buffer\nfor line in sys.stdin.buffer:\n    out.write(line)\n"
)

RELAYS: dict[str, list[str]] = {
    "cat": ["cat"],
    "pump": [sys.executable, "-c", PUMP.format(validate=True, zero_copy=True)],
    # the same without tee(2)/splice(2): read into the buffer, write from it
    "pump-copying": [sys.executable, "-c", PUMP.format(validate=True, zero_copy=False)],
    "pump-passthrough": [sys.executable, "-c", PUMP.format(validate=False, zero_copy=True)],
    "python-lines": [sys.executable, "-c", PY_LINES],
}


def measure_relays(
    benchmark: Any, source: Path, count: int, relays: list[str], group: str, rounds_: int
) -> None:
    """`cat SOURCE | RELAY | sink` for each relay; every round runs each relay once, in
    turn, so that a change of load on the machine hits all of them alike. Records MB/s
    per relay in `group`, `cat` as the baseline."""
    total = source.stat().st_size
    rates: dict[str, list[float]] = {relay: [] for relay in relays}

    def once() -> None:
        for relay in relays:
            result = relay_through(source, RELAYS[relay])
            # nothing lost, nothing added
            assert result["bytes"] == total and result["frames"] == count
            rates[relay].append(result["bytes"] / result["seconds"])

    benchmark.pedantic(once, rounds=rounds(rounds_), iterations=1, warmup_rounds=warmups())
    for relay, values in rates.items():
        entry = stats(
            values,
            "MB/s",
            1e6,
            label="cat | cat",
            frames_per_s=statistics.median(values) * count / total,
            frame_bytes=total / count,
        )
        record(group, "baseline" if relay == "cat" else relay, entry)
        benchmark.extra_info[relay] = entry
