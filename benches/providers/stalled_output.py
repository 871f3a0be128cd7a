"""An output that stops reading for `stall_seconds` after its handshake, then drains
stdin to EOF. For benches/bench_memory.py: with a fast input behind it, dstream must
hold its memory flat while everything upstream waits on full pipes.

Config: stall_seconds, report (a file that gets {"stall_began", "stall_ended" (epoch
seconds), "frames"}). Plain Python, no dstream import: what is measured is dstream.
"""

from __future__ import annotations

import io
import json
import sys
import time
from typing import cast


def main() -> None:
    command = json.loads(sys.stdin.buffer.readline())
    config = command.get("config") or {}
    sys.stdout.write('{"status":"ready"}\n')
    sys.stdout.flush()
    began = time.time()
    time.sleep(float(config.get("stall_seconds", 10)))
    ended = time.time()
    frames = 0
    # read1 through the same buffered reader: readline() may have read frames already.
    stdin = cast(io.BufferedReader, sys.stdin.buffer)
    chunk = stdin.read1(1 << 20)
    while chunk:
        frames += chunk.count(b"\n")
        chunk = stdin.read1(1 << 20)
    with open(config["report"], "w", encoding="utf-8") as report:
        json.dump({"stall_began": began, "stall_ended": ended, "frames": frames}, report)


if __name__ == "__main__":
    main()
