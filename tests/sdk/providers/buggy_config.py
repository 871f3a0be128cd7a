"""An input whose config's validate() has a bug (a KeyError), as an author's might."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dstream.sdk import Envelope, InputProvider, ProviderConfig, run_provider


@dataclass
class BuggyConfig(ProviderConfig):
    bug: bool = False

    def validate(self) -> None:
        if self.bug:
            {}["missing"]  # the bug under test


class Buggy(InputProvider[BuggyConfig]):
    name = "buggy"
    config_class = BuggyConfig

    async def read(self) -> Any:
        yield Envelope({"n": 1})


if __name__ == "__main__":
    run_provider(Buggy)
