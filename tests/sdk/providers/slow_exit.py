"""An input that completes, then takes a while to exit (an atexit hook, as a client
library's own clean-up would): dstream's SIGTERM can arrive in between."""

from __future__ import annotations

import atexit
import time
from typing import Any

from dstream.sdk import Envelope, InputProvider, log, run_provider


def _linger() -> None:
    log.info("exiting")
    time.sleep(1)


class SlowExit(InputProvider[dict]):
    name = "slow_exit"

    async def read(self) -> Any:
        for n in range(3):
            yield Envelope({"n": n})


if __name__ == "__main__":
    atexit.register(_linger)
    run_provider(SlowExit)
