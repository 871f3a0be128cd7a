"""Throughput against envelope size, 64 B ... 64 KiB, for the pump (validating and
passthrough), the plain relay (`cat`) and the Python line relay: the data behind
docs/img/pump-throughput.png (drawn by `python -m benches.report`).

Each size moves the same 64 MB (a few hundred KB in smoke mode), measured by the sink
from first byte to EOF, like bench_pump.

    pytest benches/bench_sweep.py --benchmark-only
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benches.conftest import SMOKE, envelope_file
from benches.relays import measure_relays

SIZES = [64, 256, 1024, 4096, 16384, 65536]
TOTAL_BYTES = 1 << 20 if SMOKE else 64 << 20
SWEEP_GROUP = "sweep {size} B"
RELAYS_SWEPT = ["cat", "pump", "pump-passthrough", "python-lines"]


@pytest.mark.parametrize("size", SIZES)
def test_sweep(benchmark: Any, data_dir: Path, size: int) -> None:
    count = max(16, TOTAL_BYTES // size)
    source = envelope_file(data_dir, count, size)
    measure_relays(benchmark, source, count, RELAYS_SWEPT, SWEEP_GROUP.format(size=size), 9)
