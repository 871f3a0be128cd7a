"""dstream-null: an output that discards data and acknowledges every checkpoint. The
baseline for benchmarks: it never decodes a data frame (the host finds checkpoint lines
by their key), so what is measured is dstream, not the output."""

from __future__ import annotations

from dataclasses import dataclass

from dstream.sdk import OutputProvider, ProviderConfig, log, run_provider


@dataclass
class NullConfig(ProviderConfig):
    pass


class Null(OutputProvider[NullConfig]):
    name = "null"
    config_class = NullConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.bytes_discarded = 0

    async def write_raw(self, lines: bytes) -> None:
        self.bytes_discarded += len(lines)

    async def close(self) -> None:
        log.info("null output discarded data", bytes=self.bytes_discarded)


def main() -> None:
    run_provider(Null)


if __name__ == "__main__":
    main()
