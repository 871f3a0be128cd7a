"""An output with the four lifecycle commands, to check the host's routing."""

from __future__ import annotations

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
    outcome: str = "ok"  # ok | failed | raise


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
        return LifecycleResult(
            resources=[Resource("queue", self.config.queue, True, {"messages": 3}).to_dict()]
        )

    async def destroy(self) -> LifecycleResult:
        self._check()
        return LifecycleResult(changes=[Change("delete", "queue", self.config.queue).to_dict()])


if __name__ == "__main__":
    run_provider(Infra)
