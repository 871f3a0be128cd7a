"""An input whose config has a field no JSON value can be (a datetime)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Optional

from dstream.sdk import Envelope, InputProvider, ProviderConfig, run_provider


@dataclass
class SinceConfig(ProviderConfig):
    since: Optional[datetime.datetime] = None


class Since(InputProvider[SinceConfig]):
    name = "since"
    config_class = SinceConfig

    async def read(self) -> Any:
        yield Envelope({"since": str(self.config.since)})


if __name__ == "__main__":
    run_provider(Since)
