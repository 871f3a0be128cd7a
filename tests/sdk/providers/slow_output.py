"""An output whose write() takes `delay` seconds and logs what it wrote, and whose
flush() logs too, to observe the host's order of write, flush and acknowledgement."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dstream.sdk import Envelope, OutputProvider, ProviderConfig, log, run_provider


@dataclass
class SlowConfig(ProviderConfig):
    delay: float = 0.0
    batch_size: int = 1000
    linger: float = 0.0


class SlowOutput(OutputProvider[SlowConfig]):
    config_class = SlowConfig

    async def open(self) -> None:
        type(self).batch_size = self.config.batch_size
        type(self).batch_linger = self.config.linger

    async def write(self, batch: list[Envelope]) -> None:
        log.info("write start", first=batch[0].data, size=len(batch))
        await asyncio.sleep(self.config.delay)
        log.info("write done", values=[e.data for e in batch])

    async def flush(self) -> None:
        log.info("flush")

    async def close(self) -> None:
        log.info("close")


if __name__ == "__main__":
    run_provider(SlowOutput)
