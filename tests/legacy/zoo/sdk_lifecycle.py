#!/usr/bin/env python3
"""An output on the original .NET SDK that implements IInfrastructureProvider, driven
by its config so a test can pick each answer.

Test double: no .NET toolchain runs here. Byte for byte the host's behaviour: one
command line read, `{"status":"ready"}` without features, then for a lifecycle command
one camelCase InfrastructureResult line (resources as plain strings) and exit 0 (the
host exits 0 for a Failed result too), `Fatal error` and exit 1 for a command it does
not know. Config: `fail` (a command whose hook throws), `resources` (list of strings).
For `run` it reads stdin to EOF and prints nothing.
"""

import json
import sys

from original_sdk import read_command


def main() -> int:
    given = read_command()
    if given is None:
        return 1
    envelope, config = given
    print('{"status":"ready"}', flush=True)
    command = str(envelope.get("command") or "run").lower()
    resources = [str(r) for r in config.get("resources", ["a", "b"])]
    if command in ("init", "plan", "status", "destroy"):
        if config.get("fail") == command:
            doc = {
                "status": "Failed",
                "resources": None,
                "metadata": None,
                "message": f"{command} failed",
                "error": "quota exceeded",
            }
        else:
            doc = {
                "status": "Success",
                "resources": resources,
                "metadata": {"command": command},
                "message": f"{command} done",
                "error": None,
            }
        print(json.dumps(doc, separators=(",", ":")), flush=True)
        return 0
    if command != "run":
        sys.stderr.write(f"[ERROR] Fatal error: unknown command {command}\n")
        return 1
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
