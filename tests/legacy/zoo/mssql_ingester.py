#!/usr/bin/env python3
"""The original's SQL Server CDC ingester (dstream-ingester-mssql, Go, HEAD 8315c1f).

Test double: no SQL Server runs here, so the change rows are recorded below. What it
keeps byte for byte from the original:
- `io.ReadAll(stdin)`: nothing is written before stdin reaches EOF;
- no handshake; config from the envelope's `config` or a bare object; a Go duration
  in `poll_interval`/`max_poll_interval` or a fatal error; lifecycle commands refused
  with exit 1;
- its internal logger writes DEBUG/INFO/WARN lines, coloured, to **stdout**, between
  the envelopes; ERROR goes to stderr;
- envelopes as Go's encoding/json writes a map: keys sorted, every column a string
  or null, metadata LSN/OperationID/OperationType/Seq/TableName.
It makes one pass over the recorded changes and exits 0 (the original polls forever);
a table without recorded rows yields nothing.
"""

import datetime
import json
import os
import re
import sys

ROWS = {
    "Persons": [
        (1, 2, {"ID": "1", "FirstName": "Ada", "LastName": "Lovelace"}),
        (2, 2, {"ID": "2", "FirstName": "Alan", "LastName": None}),
        (3, 4, {"ID": "1", "FirstName": "Ada", "LastName": "Byron"}),
        (4, 1, {"ID": "2", "FirstName": "Alan", "LastName": None}),
    ],
    "Cars": [
        (5, 2, {"ID": "10", "Make": "Volvo", "Model": "240"}),
        (6, 2, {"ID": "11", "Make": "Saab", "Model": "900"}),
        (7, 4, {"ID": "10", "Make": "Volvo", "Model": "245"}),
    ],
}
OPERATIONS = {1: "Delete", 2: "Insert", 3: "Update", 4: "Update"}
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def log(level, message):
    stamp = datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S")
    color = {"DEBUG": "\x1b[90m", "INFO": "\x1b[32m", "WARN": "\x1b[33m"}[level]
    sys.stdout.write(f"{color}{stamp} [{level}] {message}\x1b[0m\n")
    sys.stdout.flush()


def fatal(message):
    stamp = datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S")
    sys.stderr.write(f"\x1b[31m{stamp} [ERROR] {message}\x1b[0m\n")
    return 1


def main() -> int:
    raw = sys.stdin.buffer.read()  # io.ReadAll(os.Stdin)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return fatal(f"failed to parse config: {exc}")
    command = doc.get("command", "run") if isinstance(doc, dict) else "run"
    if os.environ.get("ZOO_STARTED"):  # not the original's: tests see what it was sent
        with open(os.environ["ZOO_STARTED"], "a") as marker:
            marker.write(f"mssql_ingester {command}\n")
    if command != "run":
        return fatal(f"unsupported command: {command}")
    config = doc.get("config", doc) if "config" in doc else doc
    for key in ("poll_interval", "max_poll_interval"):
        if not DURATION.match(str(config.get(key, ""))):
            return fatal(f"invalid {key}: {config.get(key)!r}")
    tables = list(config.get("tables") or [])
    log("INFO", f"Starting MSSQL CDC ingester for tables {tables}")
    log("DEBUG", "Connected to database")
    for table in tables:
        log("INFO", f"Polling table {table}")
        rows = ROWS.get(table, [])
        for lsn, op, data in rows:
            frame = {
                "data": data,
                "metadata": {
                    "LSN": f"{lsn:020x}",
                    "OperationID": op,
                    "OperationType": OPERATIONS[op],
                    "Seq": f"{lsn * 16:020x}",
                    "TableName": table,
                },
            }
            sys.stdout.write(json.dumps(frame, separators=(",", ":"), sort_keys=True) + "\n")
        sys.stdout.flush()
        log("INFO", f"Published {len(rows)} changes for {table}; checkpoint saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
