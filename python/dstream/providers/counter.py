"""dstream-counter: an input that counts. For trying pipelines out, load tests and the
crash-test suite.

Envelopes keep the original DStream counter's shape:
    {"data":{"value":n,"timestamp":"<ISO-8601 UTC>"},
     "metadata":{"seq":n,"interval_ms":...,"provider":"counter-input-provider"}}
plus `metadata.TableName` when `tables` is set. Checkpoints are `{"seq": n}`; a run
started with that state resumes at n + 1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

import orjson

from dstream.errors import DstreamError
from dstream.protocol.frames import FEATURE_CHECKPOINTS, META_TABLE
from dstream.sdk import Checkpoint, InputProvider, ProviderConfig, dump_json, log, run_provider
from dstream.sdk.provider import Produced

# The original provider's name in metadata, kept so existing downstream filters match.
PROVIDER_TAG = "counter-input-provider"
# Envelopes per yielded list when counting as fast as possible.
BURST = 1000


_AT_LEAST_0 = {"minimum": 0}


@dataclass
class CounterConfig(ProviderConfig):
    # milliseconds between envelopes; 0 = as fast as possible
    interval: int = field(default=1000, metadata=_AT_LEAST_0)
    max_count: int = field(default=0, metadata=_AT_LEAST_0)  # stop after so many; 0 = never
    tables: list[str] = field(default_factory=list)  # rotate metadata.TableName
    # envelopes between checkpoints; 0 = only at the end
    checkpoint_every: int = field(default=1000, metadata=_AT_LEAST_0)


class _Clock:
    """ISO-8601 UTC timestamps at millisecond precision, formatted once per millisecond:
    formatting a datetime per envelope would cost more than the rest of the envelope."""

    def __init__(self) -> None:
        self.ms = -1
        self.text = ""

    def now(self) -> str:
        ms = int(time.time() * 1000)
        if ms != self.ms:
            self.ms = ms
            stamp = datetime.fromtimestamp(ms / 1000, timezone.utc)
            self.text = stamp.isoformat(timespec="milliseconds")
        return self.text


class Counter(InputProvider[CounterConfig]):
    name = "counter"
    config_class = CounterConfig
    features = (FEATURE_CHECKPOINTS,)

    async def open(self) -> None:
        self.first_seq()  # a checkpoint it cannot resume from is refused before a frame

    def first_seq(self) -> int:
        """After the stored checkpoint; 1 without one. One that is not its own (set by
        hand, or by another input) is refused: starting over would send everything again
        under a run that passes for a resume."""
        state = self.state
        if state is None:
            return 1
        seq = state.get("seq") if isinstance(state, dict) else None
        if type(seq) is not int or seq < 0:
            raise DstreamError(
                f"the stored checkpoint {dump_json(state).decode()[:80]} is not the "
                'counter\'s {"seq": n}',
                hint="set one it reads (dstream state set TASK '{\"seq\": 0}'), or start "
                "over with dstream run TASK --reset-state",
            )
        return seq + 1

    async def read(self) -> AsyncIterator[Produced]:
        cfg = self.config
        seq = self.first_seq()
        last = cfg.max_count if cfg.max_count > 0 else None
        log.info(
            "counter starting", first_seq=seq, interval_ms=cfg.interval, max_count=cfg.max_count
        )
        if cfg.interval == 0:
            async for burst in self._fast(seq, last):
                yield burst
            return
        every = cfg.checkpoint_every
        pause = cfg.interval / 1000
        start = seq
        while last is None or seq <= last:
            yield self.envelope(seq)
            if every and seq % every == 0:
                yield Checkpoint({"seq": seq})
            seq += 1
            if last is None or seq <= last:
                await asyncio.sleep(pause)
        # The final position, unless the loop just checkpointed it.
        if seq > start and not (every and (seq - 1) % every == 0):
            yield Checkpoint({"seq": seq - 1})

    def envelope(self, seq: int, now: Optional[str] = None) -> dict[str, object]:
        cfg = self.config
        metadata: dict[str, object] = {
            "seq": seq,
            "interval_ms": cfg.interval,
            "provider": PROVIDER_TAG,
        }
        if cfg.tables:
            metadata[META_TABLE] = cfg.tables[(seq - 1) % len(cfg.tables)]
        return {
            "data": {"value": seq, "timestamp": now or _clock.now()},
            "metadata": metadata,
        }

    async def _fast(self, seq: int, last: Optional[int]) -> AsyncIterator[Produced]:
        """Pre-encoded lines, BURST at a time, checkpoints in place.

        Formatting a byte template is about four times cheaper than building two dicts
        and encoding them, and the counter is what load tests measure dstream with. The
        lines are exactly what `envelope()` encodes to (tests/sdk check it).
        """
        cfg = self.config
        every = cfg.checkpoint_every
        tables = [orjson.dumps(t).decode() for t in cfg.tables]
        start = seq
        while last is None or seq <= last:
            end = seq + BURST if last is None else min(seq + BURST, last + 1)
            now = _clock.now()
            if tables:
                lines = _TABLE_TEMPLATE.replace("@TS@", now).encode()
                burst = [
                    lines % (n, n, tables[(n - 1) % len(tables)].encode()) for n in range(seq, end)
                ]
            else:
                line = _TEMPLATE.replace("@TS@", now).encode()
                burst = [line % (n, n) for n in range(seq, end)]
            if every:
                # Checkpoint lines go right after the envelopes whose seq divides by `every`.
                for n in range(end - 1 - (end - 1) % every, seq - 1, -every):
                    if n >= seq:
                        burst.insert(n - seq + 1, b'{"checkpoint":{"seq":%d}}\n' % n)
            seq = end
            yield b"".join(burst)
        if seq > start and not (every and (seq - 1) % every == 0):
            yield Checkpoint({"seq": seq - 1})


# One envelope as envelope() encodes it; %d = value and seq, @TS@ = the timestamp.
_TEMPLATE = (
    '{"data":{"value":%d,"timestamp":"@TS@"},'
    '"metadata":{"seq":%d,"interval_ms":0,"provider":"' + PROVIDER_TAG + '"}}\n'
)
_TABLE_TEMPLATE = (
    '{"data":{"value":%d,"timestamp":"@TS@"},'
    '"metadata":{"seq":%d,"interval_ms":0,"provider":"' + PROVIDER_TAG + '","TableName":%s}}\n'
)

_clock = _Clock()


def main() -> None:
    run_provider(Counter)


if __name__ == "__main__":
    main()
