"""Configuration of dstream-mssql-cdc. Keys of the original ingester (db_connection_string,
poll_interval = "5s", max_poll_interval = "5m", tables) keep working."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Optional, Union

from dstream.sdk.config import ProviderConfig

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Union[str, float, int], key: str) -> float:
    """`"5s"`, `"500ms"`, `"5m"`, `2.5` (seconds) -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f'\'{key}\' must be a duration like "5s", "500ms" or "5m", got {value!r}')
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class MssqlCdcConfig(ProviderConfig):
    connection_string: str = field(
        default="", metadata={"aliases": ("db_connection_string", "dsn")}
    )
    tables: list[str] = field(default_factory=list)
    default_schema: str = "dbo"
    poll_interval: Union[str, float] = "1s"
    max_poll_interval: Union[str, float] = "30s"
    # Most rows read per table per query; a full batch is followed by an immediate poll.
    batch_size: int = 1000
    on_table_error: Literal["isolate", "fail"] = "isolate"
    # The original ingester's offsets table: read once when this task has no checkpoint.
    offsets_table: Optional[str] = None
    # Ignored: the original's distributed lock; one dstream task owns its tables.
    lock_config: Optional[dict[str, object]] = None

    def validate(self) -> None:
        if not self.connection_string:
            raise ValueError("'connection_string' (or 'db_connection_string') is required")
        if not self.tables:
            raise ValueError("'tables' must list at least one table (schema.table or bare name)")
        from dstream.providers.mssql_cdc.names import parse_table_name

        for name in self.tables:
            parse_table_name(name, self.default_schema)
        if self.batch_size < 1:
            raise ValueError("'batch_size' must be at least 1")
        if self.poll_seconds <= 0 or self.max_poll_seconds < self.poll_seconds:
            raise ValueError("'max_poll_interval' must be at least 'poll_interval' (both > 0)")

    @property
    def poll_seconds(self) -> float:
        return parse_duration(self.poll_interval, "poll_interval")

    @property
    def max_poll_seconds(self) -> float:
        return parse_duration(self.max_poll_interval, "max_poll_interval")
