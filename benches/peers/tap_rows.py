"""tap-rows: a Singer SDK tap with one stream, `rows`, yielding `row_count` records.

The peer side of benches/bench_peers.py. It runs in its own virtualenv (singer-sdk pins
versions that dstream's environment must not take), so it imports nothing of dstream;
rows.py builds the same rows for both sides.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, Optional

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rows import make_row


class RowsStream(Stream):
    name = "rows"
    primary_keys = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType),
        th.Property("name", th.StringType),
        th.Property("amount", th.NumberType),
        th.Property("active", th.BooleanType),
        th.Property("tags", th.ArrayType(th.StringType)),
        th.Property("updated_at", th.StringType),
    ).to_dict()

    def get_records(self, context: Optional[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for n in range(1, int(self.config["row_count"]) + 1):
            yield make_row(n)


class TapRows(Tap):
    name = "tap-rows"
    config_jsonschema = th.PropertiesList(
        th.Property("row_count", th.IntegerType, required=True),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [RowsStream(self)]


if __name__ == "__main__":
    TapRows.cli()
