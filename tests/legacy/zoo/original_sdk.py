"""What each zoo program does as the original .NET SDK's host did (shared/ORIGINAL.md
section 3): read one command line from stdin (an empty one ends the program with exit
1), take config keys case-insensitively, and print a lifecycle result as one camelCase
InfrastructureResult line. The programs import it from their own directory."""

import json
import sys
from typing import Optional

COMPACT = (",", ":")


def read_command() -> Optional[tuple[dict, dict]]:
    """(the command envelope, its config with lower-cased keys); None on an empty line."""
    line = sys.stdin.readline()
    if not line.strip():
        return None
    envelope = json.loads(line)
    return envelope, {k.lower(): v for k, v in (envelope.get("config") or {}).items()}


def result(status, resources, metadata=None, message="", error=None):
    doc = {
        "status": status,
        "resources": resources,
        "metadata": metadata,
        "message": message,
        "error": error,
    }
    print(json.dumps(doc, separators=COMPACT), flush=True)
