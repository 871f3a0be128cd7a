"""The relays a benchmark compares, each a process reading stdin and writing stdout."""

from __future__ import annotations

import sys

PUMP = (
    "import sys; from dstream._core import Pump, PumpOptions; "
    "r = Pump(0, 1, PumpOptions(validate={validate}, count_tables=False)).run(); "
    "sys.exit(0 if r.outcome == 'eof' else 1)"
)
PY_LINES = (
    "import sys\nout = sys.stdout.buffer\nfor line in sys.stdin.buffer:\n    out.write(line)\n"
)

RELAYS: dict[str, list[str]] = {
    "cat": ["cat"],
    "pump": [sys.executable, "-c", PUMP.format(validate=True)],
    "pump-passthrough": [sys.executable, "-c", PUMP.format(validate=False)],
    "python-lines": [sys.executable, "-c", PY_LINES],
}
