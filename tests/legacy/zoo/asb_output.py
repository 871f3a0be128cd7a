#!/usr/bin/env python3
"""The original's Azure Service Bus output (dstream-out-asb v0.2.0, .NET SDK).

Test double: Azure cannot be reached from here, and the original's source is not
retrievable; this follows what its e2e test shows. The "namespace" is the directory
`asb/` beside the configuration: a queue is a file `asb/<queue>.jsonl` of the messages
sent to it. Config keys as the original (camelCase, case-insensitive):
`connectionString`, `resourceGroup`, `namespace`, `sourceHost`, `sourceDatabase`,
`tables` (`dbo.Cars`). A queue per table, `<sourceHost>-<sourceDatabase>-<table>`
lower-cased with `_`/`.` as `-`.
- run: `{"status":"ready"}`, then every stdin line is a message, routed by
  `metadata.TableName`; a line it cannot route (a checkpoint line, say) is printed as
  `Unroutable message: <line>`; every line received is appended to `asb/received.jsonl`;
- init/plan/status/destroy: one InfrastructureResult line, resources as plain strings.
"""

import json
import os
import sys

from original_sdk import read_command, result


def queue_name(config, table):
    bare = table.split(".")[-1]
    parts = [config.get("sourcehost", ""), config.get("sourcedatabase", ""), bare]
    return "-".join(parts).lower().replace("_", "-").replace(".", "-")


def main() -> int:
    given = read_command()
    if given is None:
        return 1
    envelope, config = given
    if not config.get("connectionstring"):
        print(
            json.dumps({"status": "error", "message": "connectionString is required"}), flush=True
        )
        return 1
    print('{"status":"ready"}', flush=True)
    tables = [str(t) for t in config.get("tables") or []]
    queues = {t.split(".")[-1]: queue_name(config, t) for t in tables}
    os.makedirs("asb", exist_ok=True)
    command = str(envelope.get("command") or "run").lower()
    existing = [q for q in queues.values() if os.path.exists(f"asb/{q}.jsonl")]
    if command == "init":
        for q in queues.values():
            open(f"asb/{q}.jsonl", "a").close()
        result(
            "Success",
            sorted(queues.values()),
            None,
            f"Created {len(queues) - len(existing)} queues",
        )
        return 0
    if command == "plan":
        todo = [f"{q}:WILL_CREATE" for q in sorted(queues.values()) if q not in existing]
        result(
            "Success", todo, {"namespace": config.get("namespace")}, f"{len(todo)} queues to create"
        )
        return 0
    if command == "status":
        result(
            "Success",
            sorted(existing),
            {"namespace": config.get("namespace"), "resourceGroup": config.get("resourcegroup")},
            f"{len(existing)} of {len(queues)} queues exist",
        )
        return 0
    if command == "destroy":
        for q in existing:
            os.remove(f"asb/{q}.jsonl")
        result("Success", sorted(existing), None, f"Deleted {len(existing)} queues")
        return 0
    if command != "run":
        sys.stderr.write(f"[ERROR] Unknown command: {command}\n")
        return 1
    with open("asb/received.jsonl", "a") as received:
        for raw in sys.stdin:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            received.write(raw + "\n")
            try:
                message = json.loads(raw)
                table = message["metadata"]["TableName"]
            except (ValueError, KeyError, TypeError):
                table = None
            if table not in queues:
                print(f"Unroutable message: {raw}", flush=True)
                continue
            with open(f"asb/{queues[table]}.jsonl", "a") as queue:
                queue.write(raw + "\n")
    sys.stderr.write("[INFO] Output finished\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
