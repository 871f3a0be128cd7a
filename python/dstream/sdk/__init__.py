"""The dstream provider SDK: write an input or an output as a small class, and let the
stdio host (`run_provider`) speak the wire contract.

    from dataclasses import dataclass
    from dstream.sdk import InputProvider, ProviderConfig, Envelope, run_provider

    @dataclass
    class Config(ProviderConfig):
        count: int = 10

    class Numbers(InputProvider[Config]):
        config_class = Config

        async def read(self):
            for n in range(self.config.count):
                yield Envelope({"n": n})

    def main() -> None:
        run_provider(Numbers)

See docs/providers.md.
"""

from __future__ import annotations

from dstream.errors import ConfigError
from dstream.protocol.messages import LifecycleResult
from dstream.sdk.config import ProviderConfig, bind_config
from dstream.sdk.encode import as_text, dump_json
from dstream.sdk.host import run_provider
from dstream.sdk.log import log
from dstream.sdk.model import Change, Checkpoint, Envelope, Resource, result_with
from dstream.sdk.provider import InputProvider, OutputProvider, Provider

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.sdk.number import JsonNumber

__all__ = [
    "Change",
    "Checkpoint",
    "ConfigError",
    "Envelope",
    "InputProvider",
    "JsonNumber",
    "LifecycleResult",
    "OutputProvider",
    "Provider",
    "ProviderConfig",
    "Resource",
    "as_text",
    "bind_config",
    "dump_json",
    "log",
    "result_with",
    "run_provider",
]


def __getattr__(name: str) -> object:
    # JsonNumber on first use: its module imports `decimal` (~5 ms of every start).
    if name == "JsonNumber":
        from dstream.sdk.number import JsonNumber

        return JsonNumber
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
