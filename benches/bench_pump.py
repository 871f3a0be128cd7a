"""The pump alone: fixed files of envelopes, source `cat`, sink a counting reader.

Compared in the same run against a plain relay of the same bytes (`cat | cat`) and a
line relay written in Python. Throughput is the sink's own measurement (first byte to
EOF), so process start-up is not counted for any relay. Every round runs each relay
once, in turn, so that a change of load on the machine hits all of them alike.

Relays: `pump` (validating, the default: zero-copy forwarding on Linux pipes),
`pump-copying` (validating, reading into its buffer and writing from it),
`pump-passthrough` (no validation, splice(2)), `python-lines`.

    pytest benches/bench_pump.py --benchmark-only
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benches.conftest import envelope_file, scale
from benches.relays import measure_relays

SETS = {"200B": (scale(1_000_000), 200), "4KB": (scale(100_000), 4096)}
ORDER = ["cat", "pump", "pump-copying", "pump-passthrough", "python-lines"]


@pytest.mark.parametrize("size", list(SETS))
def test_pump_throughput(benchmark: Any, data_dir: Path, size: str) -> None:
    count, frame = SETS[size]
    source = envelope_file(data_dir, count, frame)
    measure_relays(benchmark, source, count, ORDER, f"pump {count:,} x {size}", 7)
