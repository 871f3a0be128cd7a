"""An input that prints to stdout (the host must send that to stderr), yields values
JSON has no type for, then fails."""

from __future__ import annotations

import decimal
import sys
from typing import Any

from dstream.sdk import Envelope, InputProvider, run_provider


class Misbehaving(InputProvider[dict]):
    async def read(self) -> Any:
        print("a stray print")
        sys.stdout.flush()
        yield Envelope({"price": decimal.Decimal("12.30"), "blob": b"\x00\x01"})
        yield {"data": 2, "metadata": {"kind": "dict"}}
        yield [Envelope(3), Envelope(4, {"k": "v"})]
        raise RuntimeError("source went away")


if __name__ == "__main__":
    run_provider(Misbehaving)
