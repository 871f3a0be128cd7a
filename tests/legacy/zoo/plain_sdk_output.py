#!/usr/bin/env python3
"""An output of the original .NET SDK that is no IInfrastructureProvider (a log or
console sink that creates nothing), shared/ORIGINAL.md section 5.

Test double: no .NET toolchain runs here. With `sdk = "0.1.1"` in its config it is the
NuGet release's config-only `RunOutputProviderAsync`: no handshake, every stdin line a
message until EOF, exit 0, whatever the command. Otherwise it is SDK HEAD's
`RunProviderWithCommandAsync`: `{"status":"ready"}`, then for init/plan/status/destroy
`Provider does not support infrastructure operations` on stderr and exit 1; for run,
every stdin line is a message until EOF.
"""

import sys

from original_sdk import read_command


def main() -> int:
    given = read_command()
    if given is None:
        return 1
    envelope, config = given
    name = "PlainOutputProvider"
    if config.get("sdk") != "0.1.1":
        print('{"status":"ready"}', flush=True)
        command = str(envelope.get("command") or "run").lower()
        if command in ("init", "plan", "status", "destroy"):
            sys.stderr.write(f"[{name}] Provider does not support infrastructure operations\n")
            return 1
    count = sum(1 for _ in sys.stdin)
    sys.stderr.write(f"[{name}] Processed {count} messages. Stream ended.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
