"""Checkpoint storage: the newest acknowledged position of each task.

    store = open_store(project.state, project.base_dir)
    store.put("orders", {"lsn": "0/16B3748"}); store.get("orders").checkpoint

Backends: `file` (default; a directory of atomically replaced JSON files) and
`postgres` (a table shared by several machines). docs/delivery.md explains the
guarantees they give and how the runtime uses them.
"""

from __future__ import annotations

import os

from dstream.config.model import StateSpec
from dstream.errors import ConfigError, DstreamError
from dstream.state.base import StateRecord, StateStore

__all__ = ["BACKENDS", "StateRecord", "StateStore", "default_state_dir", "open_store"]

BACKENDS = ("file", "postgres")


def default_state_dir(base_dir: str) -> str:
    return os.path.join(base_dir, ".dstream", "state")


def open_store(spec: StateSpec, base_dir: str) -> StateStore:
    """The store a `state` block describes; relative paths are relative to `base_dir`
    (the directory of the configuration)."""
    if spec.backend == "file":
        from dstream.state.file import FileStore

        path = spec.path or default_state_dir(base_dir)
        return FileStore(os.path.join(base_dir, os.path.expanduser(path)))
    if spec.backend == "postgres":
        if not spec.dsn:
            raise ConfigError(
                "the postgres state backend needs a `dsn`",
                location=spec.location,
                hint='state { backend = "postgres"  dsn = "postgresql://user@host/db" }',
            )
        from dstream.state.lease import LeaseSettings
        from dstream.state.postgres import PostgresStore

        lease = LeaseSettings(spec.lease_ttl, spec.lease_renew_interval)
        try:
            lease.check()
        except DstreamError as exc:
            raise ConfigError(exc.reason, location=spec.location, hint=exc.hint) from None
        return PostgresStore(spec.dsn, spec.table, location=spec.location, lease=lease)
    raise ConfigError(
        f"unknown state backend {spec.backend!r}",
        location=spec.location,
        hint=f"use one of: {', '.join(BACKENDS)}",
    )
