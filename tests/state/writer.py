"""A state writer to be killed: puts {"i": 1, 2, 3, ...} forever and prints each i to
stdout once its put has returned. Used by test_crash_writes.py.

    python writer.py SPEC_JSON TASK PAD_BYTES
"""

from __future__ import annotations

import itertools
import sys

import orjson

from dstream.config.model import StateSpec
from dstream.state import open_store


def main() -> None:
    spec = StateSpec(**orjson.loads(sys.argv[1]))
    task, pad = sys.argv[2], "x" * int(sys.argv[3])
    store = open_store(spec, ".")
    for i in itertools.count(1):
        store.put(task, {"i": i, "pad": pad})
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
