"""Configuration of dstream-postgres-cdc, and how table names are written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Optional

from dstream.providers import tables
from dstream.sdk.config import ProviderConfig

_IDENT = re.compile(r"[^a-z0-9_]+")
# PostgreSQL's NAMEDATALEN - 1: a longer name is cut (publication) or refused (slot).
NAME_BYTES = 63


@dataclass
class PgCdcConfig(ProviderConfig):
    dsn: str = field(
        default="", metadata={"aliases": ("connection_string", "db_connection_string")}
    )
    tables: list[str] = field(default_factory=list)
    # Default names derive from the task, so two tasks never share a slot.
    slot: str = ""
    publication: str = ""
    default_schema: str = "public"
    # Copy the tables' existing rows first, consistent with the slot's start point.
    snapshot: bool = False
    truncate: Literal["emit", "log", "fail"] = "emit"
    on_table_error: Literal["isolate", "fail"] = "isolate"
    dead_letter_path: Optional[str] = None
    # A checkpoint follows the first commit after this many changes or seconds.
    checkpoint_every: int = 1000
    checkpoint_interval: float = 1.0
    # Seconds between standby status messages (keeps the slot's connection alive).
    status_interval: float = 10.0
    # End the run (exit 0) once caught up with the WAL written before it started: a
    # batch-style run (cron, Singer-tap habits, benchmarks) instead of a endless stream.
    until_caught_up: bool = False

    def validate(self) -> None:
        if not self.dsn:
            raise ValueError("'dsn' is required: a libpq connection string or postgres:// URL")
        if not self.tables:
            raise ValueError("'tables' must list at least one table (schema.table or bare name)")
        for name in self.tables:
            parse_table_name(name, self.default_schema)
        if self.checkpoint_every < 1:
            raise ValueError("'checkpoint_every' must be at least 1")
        if self.status_interval < 1:
            # psycopg2 refuses less when replication starts.
            raise ValueError(
                "'status_interval' must be at least 1 (seconds), and below the server's "
                "wal_sender_timeout"
            )
        if self.slot and fold_slot_name(self.slot) != self.slot:
            raise ValueError(
                f"'slot' must be 1 to {NAME_BYTES} of [a-z0-9_] (PostgreSQL's rule for "
                f'replication slot names), e.g. "{fold_slot_name(self.slot)}"'
            )
        if len(self.publication.encode()) > NAME_BYTES:
            raise ValueError(
                f"'publication' is longer than {NAME_BYTES} bytes, PostgreSQL would cut it"
            )

    def slot_name(self, task: Optional[str]) -> str:
        return self.slot or default_object_name(task)

    def publication_name(self, task: Optional[str]) -> str:
        return self.publication or default_object_name(task)


def go_on_after_tables_changed(task: Optional[str]) -> str:
    """How a task goes on from its checkpoint once 'tables' changed (a table added, or
    renamed): dstream refuses a plain `run` of an input whose configuration changed."""
    name = task or "<task>"
    return (
        f"`dstream run {name} --resume-changed` resumes from the last checkpoint (a plain "
        "`dstream run` refuses to, as the input's configuration changed); not "
        "`--reset-state`, which starts over and, with `snapshot = true`, copies every table "
        "again"
    )


def default_object_name(task: Optional[str]) -> str:
    """`dstream_<task>` folded to what a replication slot name allows."""
    return fold_slot_name("dstream_" + (task or "task"))


def fold_slot_name(text: str) -> str:
    """`text` as a replication slot name may be: [a-z0-9_], at most 63 characters."""
    return _IDENT.sub("_", text.lower())[:NAME_BYTES]


def parse_table_name(text: str, default_schema: str = "public") -> tuple[str, str]:
    return tables.parse_table_name(text, default_schema, '""')


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
