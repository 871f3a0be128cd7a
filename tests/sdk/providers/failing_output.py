"""An output whose write() or flush() raises (`fails_in`), as a sink that refuses a
batch does: the host must log the failure as a JSON record and exit 1."""

from __future__ import annotations

from dataclasses import dataclass

from dstream.sdk import Envelope, OutputProvider, ProviderConfig, run_provider


@dataclass
class FailingConfig(ProviderConfig):
    fails_in: str = "write"


class FailingOutput(OutputProvider[FailingConfig]):
    config_class = FailingConfig

    async def write(self, batch: list[Envelope]) -> None:
        if self.config.fails_in == "write":
            raise RuntimeError("sink refused")

    async def flush(self) -> None:
        if self.config.fails_in == "flush":
            raise RuntimeError("sink refused")


if __name__ == "__main__":
    run_provider(FailingOutput)
