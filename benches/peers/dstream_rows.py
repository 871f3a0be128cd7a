"""dstream-rows: the dstream side of the peer benchmark, an input written with
dstream.sdk that emits the same rows as tap_rows.py (data = the row, metadata.TableName =
"rows"), a checkpoint every 10 000 rows, the way the Singer tap emits STATE."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from dstream.sdk import Checkpoint, Envelope, InputProvider, ProviderConfig, run_provider

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rows import make_row

BATCH = 1000
CHECKPOINT_EVERY = 10_000


@dataclass
class RowsConfig(ProviderConfig):
    row_count: int = 1000


class Rows(InputProvider[RowsConfig]):
    name = "rows"
    config_class = RowsConfig

    async def read(self) -> AsyncIterator[Any]:
        last = self.config.row_count
        metadata = {"TableName": "rows"}
        for start in range(1, last + 1, BATCH):
            end = min(start + BATCH, last + 1)
            yield [Envelope(make_row(n), metadata) for n in range(start, end)]
            if (end - 1) % CHECKPOINT_EVERY == 0 or end > last:
                yield Checkpoint({"id": end - 1})


if __name__ == "__main__":
    run_provider(Rows)
