"""An output with the four lifecycle commands, to check the host's routing."""

from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass

from dstream.sdk import (
    Change,
    Envelope,
    LifecycleResult,
    OutputProvider,
    ProviderConfig,
    Resource,
    run_provider,
)


@dataclass
class InfraConfig(ProviderConfig):
    queue: str = "orders"
    # ok | failed | raise; for status also: typed (values JSON has no type for in its
    # details), unwritable (one the SDK cannot convert), not_a_list, surrogate
    outcome: str = "ok"


class Infra(OutputProvider[InfraConfig]):
    name = "infra"
    config_class = InfraConfig

    async def write(self, batch: list[Envelope]) -> None:
        pass

    def _check(self) -> None:
        if self.config.outcome == "raise":
            raise RuntimeError("broker unreachable")

    async def init(self) -> LifecycleResult:
        self._check()
        if self.config.outcome == "failed":
            return LifecycleResult(status="Failed", message="quota", error="quota exceeded")
        return LifecycleResult(changes=[Change("create", "queue", self.config.queue, "missing")])  # type: ignore[list-item]

    async def plan(self, destroy: bool = False) -> LifecycleResult:
        self._check()
        action = "delete" if destroy else "create"
        return LifecycleResult(
            changes=[Change(action, "queue", self.config.queue).to_dict()],
            metadata={"destroy": destroy},
        )

    async def status(self) -> LifecycleResult:
        self._check()
        outcome = self.config.outcome
        if outcome == "typed":
            details = {
                "created": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                "size": decimal.Decimal("1.10"),
                "id": uuid.UUID(int=1),
                "key": b"\x00\xff",
            }
            return LifecycleResult(resources=[Resource("queue", "orders", True, details)])
        if outcome == "unwritable":
            details = {"age": datetime.timedelta(seconds=5)}
            return LifecycleResult(resources=[Resource("queue", "orders", True, details)])
        if outcome == "not_a_list":
            return LifecycleResult(resources=Resource("queue", "orders", True))  # type: ignore[arg-type]
        if outcome == "surrogate":
            return LifecycleResult(message="queue \udcff")
        return LifecycleResult(
            resources=[Resource("queue", self.config.queue, True, {"messages": 3}).to_dict()]
        )

    async def destroy(self) -> LifecycleResult:
        self._check()
        return LifecycleResult(changes=[Change("delete", "queue", self.config.queue).to_dict()])


if __name__ == "__main__":
    run_provider(Infra)
