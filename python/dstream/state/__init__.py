"""Checkpoint storage: the newest acknowledged position of each task.

    store = open_store(project.state, project.base_dir)
    store.put("orders", {"lsn": "0/16B3748"}); store.get("orders").checkpoint

Backends: `file` (default; a directory of atomically replaced JSON files) and
`postgres` (a table shared by several machines). docs/delivery.md explains the
guarantees they give and how the runtime uses them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dstream.config.model import StateSpec
from dstream.config.schema import STATE_BACKENDS
from dstream.errors import ConfigError
from dstream.state.base import StateRecord, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.state.lease import LeaseSettings

__all__ = [
    "BACKENDS",
    "StateRecord",
    "StateStore",
    "default_state_dir",
    "digest",
    "open_store",
    "project_state_name",
    "xdg_state_dir",
]

BACKENDS = STATE_BACKENDS  # the names the configuration accepts


LEGACY_DIR = os.path.join(".dstream", "state")  # beside the configuration, before XDG
_noted: set[str] = set()  # legacy directories already mentioned in this process


def digest(data: bytes, size: int = 16) -> str:
    """A BLAKE2b hex digest. From the C module hashlib itself wraps: importing hashlib
    loads OpenSSL, milliseconds every run pays (tests/runtime/test_startup.py)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter without it: the public way
        from hashlib import blake2b
    return blake2b(data, digest_size=size).hexdigest()


STATE_HOME_ENV = "XDG_STATE_HOME"  # where the default state directory is (below)


def xdg_state_dir(base_dir: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """`$XDG_STATE_HOME/dstream/<project>` (default ~/.local/state/dstream/<project>):
    writable wherever the configuration is (a ConfigMap, a package directory). The
    project is named after the configuration's real directory (project_state_name), so
    a path through a symlink is the same project, with one state and one run lock."""
    return os.path.join(_states_home(environ), project_state_name(os.path.realpath(base_dir)))


def _states_home(environ: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if environ is None else environ
    home = env.get(STATE_HOME_ENV) or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(home, "dstream")


def project_state_name(path: str) -> str:
    """The directory's name and a hash of its absolute path: two checkouts named alike
    never share a state."""
    base = os.path.abspath(path)
    name = os.path.basename(base.rstrip(os.sep)) or "root"
    return f"{name}-{digest(base.encode(), 4)}"


def _adopt_state_named_by_link(base_dir: str, state: str) -> None:
    """Before, the project was named after the path as given: one always reached through
    a symlink has its checkpoints under that name. Moved (a rename: a run holding its
    lock keeps it) to the real directory's name the first time, and said so; else that
    run would start over and send everything again."""
    old = os.path.join(_states_home(), project_state_name(base_dir))
    if old == state or not os.path.isdir(old) or os.path.lexists(state):
        return
    try:
        os.makedirs(os.path.dirname(state), exist_ok=True)
        os.rename(old, state)
    except OSError:  # another run moved it first, or it cannot be: it stays where it is
        return
    from dstream import logs

    logs.log.info(
        "state: moved %s to %s (named after the configuration's real directory, so a path "
        "through a symlink shares its checkpoints and run lock)",
        old,
        state,
    )


def default_state_dir(base_dir: str) -> str:
    """The XDG directory; an existing `.dstream/state` beside the configuration (where
    dstream kept state before) is still used, and said so once."""
    legacy = os.path.join(base_dir, LEGACY_DIR)
    if os.path.isdir(legacy):
        if legacy not in _noted:
            _noted.add(legacy)
            from dstream import logs

            logs.log.info(
                "state: using the existing %s beside the configuration (new projects keep "
                "state in %s; move it there, or keep it with state { path = ... })",
                os.path.abspath(legacy),
                xdg_state_dir(base_dir),
            )
        return legacy
    state = xdg_state_dir(base_dir)
    _adopt_state_named_by_link(base_dir, state)
    return state


def _lease_settings(spec: StateSpec) -> LeaseSettings:
    """The spec's lease settings, or the ConfigError of ones that cannot work: at the
    attribute to change, or the one written when that one was not."""
    from dstream.state.lease import RENEW_INTERVAL, TTL, BadLease, LeaseSettings

    written = {TTL: spec.lease_ttl_location, RENEW_INTERVAL: spec.lease_renew_interval_location}
    # A spec from a file (it has a location) says which values it left to the default.
    defaults = [name for name, where in written.items() if where is None and spec.location]
    lease = LeaseSettings(spec.lease_ttl, spec.lease_renew_interval)
    try:
        lease.check(defaults)
    except BadLease as exc:
        other = next((where for where in written.values() if where is not None), None)
        location = written[exc.setting] or other or spec.location
        raise ConfigError(exc.reason, location=location, hint=exc.hint) from None
    return lease


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
                hint='add dsn = "postgresql://user@host/db" to the state block',
            )
        from dstream.config.schema import check_postgres_state
        from dstream.state.postgres import PostgresStore

        check_postgres_state(spec)
        lease = _lease_settings(spec)
        return PostgresStore(spec.dsn, spec.table, lease=lease, location=spec.location)
    raise ConfigError(
        f"unknown state backend {spec.backend!r}",
        location=spec.location,
        hint=f"use one of: {', '.join(BACKENDS)}",
    )
