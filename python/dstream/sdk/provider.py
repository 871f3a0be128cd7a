"""The base classes a provider subclasses. The stdio host (`run_provider`) builds one
instance per process with the bound config, the task name and the saved state, then
calls the methods the command asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Generic, Optional, TypeVar, Union

from dstream.protocol.frames import FEATURE_COMMIT_NOTICES, FEATURE_LIFECYCLE
from dstream.protocol.messages import LifecycleResult
from dstream.sdk.model import Checkpoint, Envelope

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonObject

__all__ = ["InputProvider", "OutputProvider", "Provider"]

ConfigT = TypeVar("ConfigT")

# What `read()` may yield: an Envelope, a Checkpoint, a plain dict (a frame object as
# is), bytes (one or more complete, already encoded lines), or a list of those (the fast
# path: one host iteration for many frames).
# Any: a list is invariant, and its items are any of the others.
Produced = Union[Envelope, Checkpoint, dict[str, object], bytes, list[Any]]

LIFECYCLE_METHODS = ("init", "plan", "status", "destroy")


class Provider(Generic[ConfigT]):
    """What inputs and outputs share: config, identity, lifecycle hooks.

    Class attributes a provider may set:
      config_class  the ProviderConfig dataclass to bind `config` to (None: a plain dict)
      name          used in messages ("unknown config key ... for <name>"); default: the
                    class name in lower case
      features      extra handshake features, e.g. ("checkpoints",); "commit-notices" and
                    "lifecycle" are added by the host when the methods are overridden
    """

    role: ClassVar[str] = ""
    config_class: ClassVar[Optional[type]] = None
    name: ClassVar[str] = ""
    features: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: ConfigT,
        *,
        task: Optional[str] = None,
        state: Any = None,  # Any: the provider's own checkpoint shape, read freely
        command: str = "run",
        destroy: bool = False,
    ) -> None:
        self.config = config
        self.task = task
        self.state = state
        self.command = command
        # True for `plan` when the user asked `dstream plan --destroy`.
        self.destroy_requested = destroy

    @classmethod
    def provider_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    @classmethod
    def implements(cls, method: str) -> bool:
        """Whether `method` is overridden by the provider (not the SDK's default)."""
        mine = getattr(cls, method, None)
        for base in (Provider, InputProvider, OutputProvider):
            if mine is getattr(base, method, None):
                return False
        return mine is not None

    @classmethod
    def declared_features(cls) -> tuple[str, ...]:
        features = list(cls.features)
        if cls.implements("on_commit") and FEATURE_COMMIT_NOTICES not in features:
            features.append(FEATURE_COMMIT_NOTICES)
        if any(cls.implements(m) for m in LIFECYCLE_METHODS) and FEATURE_LIFECYCLE not in features:
            features.append(FEATURE_LIFECYCLE)
        return tuple(features)

    @classmethod
    def config_schema(cls) -> Optional[JsonObject]:
        """The JSON Schema of `config`, derived from `config_class` (None without one),
        sent in the handshake so dstream checks dstream.hcl before starting anything."""
        if cls.config_class is None:
            return None
        from dstream.sdk.config import config_schema

        return config_schema(cls.config_class)

    async def open(self) -> None:
        """Connect to what the provider needs before the handshake: a failure here is
        reported as `{"status":"error"}` so dstream shows it at start. Optional."""

    async def close(self) -> None:
        """Release resources at the end of a run (also after a SIGTERM). Optional."""

    # Lifecycle (contract section 8). Overriding any of them declares "lifecycle".
    async def init(self) -> LifecycleResult:
        """Create what the provider needs (idempotent)."""
        return _no_infrastructure(self)

    async def plan(self, destroy: bool = False) -> LifecycleResult:
        """Report what `init` (or, with destroy=True, `destroy`) would change."""
        return _no_infrastructure(self)

    async def status(self) -> LifecycleResult:
        """Report the resources and whether they exist."""
        return _no_infrastructure(self)

    async def destroy(self) -> LifecycleResult:
        """Remove what `init` created (idempotent)."""
        return _no_infrastructure(self)


def _no_infrastructure(provider: Provider[Any]) -> LifecycleResult:  # Any: any config
    return LifecycleResult(
        status="Success", message=f"{provider.provider_name()} manages no infrastructure"
    )


class InputProvider(Provider[ConfigT]):
    """A source. Implement `read()`; `self.state` is the checkpoint value acknowledged in
    the last run (None on the first), so resume after it."""

    role: ClassVar[str] = "input"

    def read(self) -> AsyncIterator[Produced]:
        """An async generator of Envelope / Checkpoint / dict / bytes / lists of them.
        Returning ends the stream (exit 0)."""
        raise NotImplementedError(f"{type(self).__name__} must implement read()")

    async def on_commit(self, checkpoint: Any) -> None:  # Any: as `state`
        """Called with the newest checkpoint value the output acknowledged and dstream
        stored. Overriding it declares "commit-notices". Calls never overlap; notices
        arriving meanwhile are coalesced to the newest."""


class OutputProvider(Provider[ConfigT]):
    """A sink. Implement `write(batch)`; it must make the batch durable before returning,
    because the host acknowledges the following checkpoint as soon as it returns.

    Class attributes: `batch_size` (most envelopes per write, default 1000),
    `batch_linger` (seconds to wait for more input before writing a partial batch,
    default 0: write what has arrived).
    """

    role: ClassVar[str] = "output"
    batch_size: ClassVar[int] = 1000
    batch_linger: ClassVar[float] = 0.0

    # Set by the host: where `emit` lines go (shown to the user by dstream).
    _emit_buffer: list[bytes]

    async def write(self, batch: list[Envelope]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement write()")

    async def flush(self) -> None:
        """Make everything written so far durable. The host calls it before every
        checkpoint acknowledgement and at EOF, so an output may buffer across batches
        in write() and pay for durability (fsync, a commit) once per checkpoint here,
        the way Kafka Connect's SinkTask.flush works. Optional."""

    @property
    def raw_frames(self) -> bool:
        """Whether the host hands data to `write_raw` undecoded (default: when
        write_raw is overridden). An output may decide per configuration."""
        return type(self).implements("write_raw")

    @property
    def exact_numbers(self) -> bool:
        """Whether `write()` gets every number exactly (default False; docs/providers.md,
        "Numbers"): an integer beyond 64 bits as an int, a number no float holds
        (0.1000000000000000000000000001, 1e-400) as a `JsonNumber`. The host then looks
        for such numbers in every chunk (about a fifth more than decoding it). Without
        it, numbers are as orjson reads them (64-bit integers, doubles, rounding what
        they cannot hold), except in a line orjson refuses (1e400): that one is read
        exactly. An output that writes data back (with `dump_json`) sets it."""
        return False

    async def write_raw(self, lines: bytes) -> None:
        """Fast path: override instead of `write` to receive data frames undecoded, as a
        run of complete `\\n`-terminated lines (checkpoints are found and acknowledged by
        the host). The host does not validate these frames; dstream's pump already did."""
        raise NotImplementedError

    def emit(self, text: Union[str, bytes]) -> None:
        """Show a line to the user (an output's non-acknowledgement stdout line). Lines are
        written in order with the acknowledgements, after the current batch. Use this, not
        print(): the host sends print() to stderr so stray prints never corrupt stdout."""
        data = text.encode() if isinstance(text, str) else text
        if not data.endswith(b"\n"):
            data += b"\n"
        try:
            self._emit_buffer.append(data)
        except AttributeError:
            self._emit_buffer = [data]
