"""The relays a benchmark compares, each a process reading stdin and writing stdout."""

from __future__ import annotations

import sys

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
