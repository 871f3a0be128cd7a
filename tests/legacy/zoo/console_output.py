#!/usr/bin/env python3
"""The original's console output (dstream-console-output-provider, .NET SDK HEAD,
an InfrastructureProviderBase).

Test double: no .NET toolchain runs here. Reads one command line (camelCase keys:
`outputFormat` simple|json|structured, `resourceCount`), writes `{"status":"ready"}`
without features, then
- run: every stdin line is a message (a checkpoint line too: it does not know them),
  printed in batches of 10 and at EOF, `Message #N: <data>` in the simple format;
- init/plan/status/destroy: one camelCase InfrastructureResult line, resources as
  plain strings, metadata null where the SDK leaves it null;
- any other command: exit 1.
"""

import json
import sys

from original_sdk import COMPACT, read_command, result


def main() -> int:
    given = read_command()
    if given is None:
        return 1
    envelope, config = given
    fmt = str(config.get("outputformat", "simple"))
    count = int(config.get("resourcecount", 3))
    print('{"status":"ready"}', flush=True)
    command = str(envelope.get("command") or "run").lower()
    names = [f"console_log_target_{i}" for i in range(1, count + 1)]
    if command == "init":
        result(
            "Success",
            [f"{n}:CREATED" for n in names],
            None,
            f"Initialized {count} console resources",
        )
        return 0
    if command == "plan":
        result(
            "Success",
            [f"{n}:WILL_CREATE" for n in names],
            {"changes": len(names)},
            f"Plan: {count} to create",
        )
        return 0
    if command == "status":
        result(
            "Success",
            [f"{n}:ACTIVE" for n in names],
            {"outputFormat": fmt, "resourceCount": count},
            "All resources active",
        )
        return 0
    if command == "destroy":
        result(
            "Success",
            [f"{n}:DESTROYED" for n in names],
            None,
            f"Destroyed {count} console resources",
        )
        return 0
    if command != "run":
        sys.stderr.write(f"[ERROR] Unknown command: {command}\n")
        return 1
    batch, number = [], 0
    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            sys.stderr.write(f"[ERROR] Failed to parse JSON: {raw}\n")
            continue
        batch.append(message)
        if len(batch) == 10:
            number = flush(batch, number, fmt)
    flush(batch, number, fmt)
    return 0


def flush(batch, number, fmt):
    for message in batch:
        number += 1
        payload = message.get("data") if isinstance(message, dict) else message
        text = json.dumps(payload, separators=COMPACT)
        if fmt == "json":
            print(json.dumps({"message": number, "payload": payload}, separators=COMPACT))
        else:
            print(f"Message #{number}: {text}")
    sys.stdout.flush()
    batch.clear()
    return number


if __name__ == "__main__":
    sys.exit(main())
