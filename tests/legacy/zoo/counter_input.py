#!/usr/bin/env python3
"""The original's counter input (dstream-counter-input-provider on the .NET SDK, HEAD).

Test double: no .NET toolchain runs here. Byte for byte what StdioProviderHost writes:
one stdin line read (camelCase keys, case-insensitive: `interval` ms, `maxCount`, 0 =
no end), `{"status":"ready"}`, then one envelope per tick in the SDK's DTO shape
(`source` and `type` empty). Not an IInfrastructureProvider, so a lifecycle command
ends in `Fatal error` and exit 1 after the handshake, as the host does.
"""

import datetime
import json
import os
import sys
import time

from original_sdk import read_command


def mark_started(envelope):
    """Not the original's: tests name a file in ZOO_STARTED to see which command it got."""
    if os.environ.get("ZOO_STARTED"):
        with open(os.environ["ZOO_STARTED"], "a") as marker:
            marker.write(f"counter_input {envelope.get('command', 'run')}\n")


def main() -> int:
    given = read_command()
    if given is None:
        return 1
    envelope, config = given
    mark_started(envelope)
    interval = int(config.get("interval", 1000))
    max_count = int(config.get("maxcount", 0))
    print('{"status":"ready"}', flush=True)
    command = str(envelope.get("command") or "run").lower()
    if command in ("init", "destroy", "plan", "status"):
        sys.stderr.write(f"[ERROR] Fatal error: provider does not support '{command}'\n")
        return 1
    seq = 0
    while max_count == 0 or seq < max_count:
        seq += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"
        frame = {
            "source": "",
            "type": "",
            "data": {"value": seq, "timestamp": stamp},
            "metadata": {"seq": seq, "source": "counter", "interval_ms": interval},
        }
        sys.stdout.write(json.dumps(frame, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"[INFO] Emitted message {seq}\n")
        if max_count == 0 or seq < max_count:
            time.sleep(interval / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
