"""An input that wants commit notices: it logs every on_commit call. The call for the
value 1 waits until the file named by `release` exists, so a test can queue more
notices while it is busy and see them coalesced."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from dstream.sdk import Checkpoint, Envelope, InputProvider, ProviderConfig, log, run_provider


@dataclass
class NoticesConfig(ProviderConfig):
    release: str = ""


class Notices(InputProvider[NoticesConfig]):
    config_class = NoticesConfig
    features = ("checkpoints",)

    async def read(self) -> Any:
        yield Envelope({"n": 1})
        yield Checkpoint(1)
        while True:  # a live source: runs until SIGTERM
            await asyncio.sleep(3600)

    async def on_commit(self, checkpoint: Any) -> None:
        log.info("commit start", value=checkpoint)
        if checkpoint == 1:
            while not os.path.exists(self.config.release):
                await asyncio.sleep(0.01)
        log.info("commit done", value=checkpoint)


if __name__ == "__main__":
    run_provider(Notices)
