"""The typed result of loading dstream.hcl: what the runtime consumes.

The loader (dstream.config.loader) is the only producer; everything downstream reads
these dataclasses and never touches HCL.
"""

from __future__ import annotations

import os
import re
import time

from dstream.protocol.frames import (
    DEFAULT_COMMIT_INTERVAL,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_GRACE,
)
from dstream.records import asdict, field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.diagnostics import Diagnostic
    from dstream.config.provider_config import ConfigLocations
    from dstream.protocol.values import JsonObject


@record(frozen=True)
class Location:
    """Where a value was written, for error messages."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


# Fields of a spec that say where it was written or how dstream learns about the
# provider, not what the provider does: left out of the digests that detect a change.
NOT_DEFINITION = frozenset({"location", "config_locations", "lifecycle"})


def definition(spec: object) -> dict[str, object]:
    """What a spec (a task, a provider) does: its fields without NOT_DEFINITION, nested
    specs alike. The user's config dicts are data and kept whole: a provider's own
    `location` key is what it does."""
    return asdict(spec, skip=NOT_DEFINITION)


@record
class ProviderSpec:
    """One side of a task. Exactly one of provider_path / provider_ref / provider_image."""

    role: str  # "input" or "output"
    provider_path: Optional[str] = None
    provider_ref: Optional[str] = None
    provider_image: Optional[str] = None
    config: JsonObject = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the process
    # Names of dstream's environment variables the process also gets (docs/security.md).
    inherit_env: tuple[str, ...] = ()
    location: Optional[Location] = None
    # `lifecycle = true|false`: overrides what the provider describes (runtime/describe.py).
    lifecycle: Optional[bool] = None
    # Where each key of `config` was written (config/provider_config.py).
    config_locations: ConfigLocations = field(default_factory=dict, repr=False, compare=False)

    @property
    def source(self) -> str:
        """A short human name of where the provider comes from."""
        return self.provider_path or self.provider_ref or self.provider_image or "?"


@record
class RestartPolicy:
    attempts: int = 0  # 0: a provider crash ends the run
    backoff: float = 1.0  # seconds before the first restart, doubled each time
    max_backoff: float = 60.0
    # An attempt that ran this long before it failed was healthy: the count of attempts
    # and the backoff start again (Kubernetes' CrashLoopBackOff resets after 10 minutes).
    reset_after: float = 600.0


@record
class TaskSpec:
    name: str
    input: ProviderSpec
    output: ProviderSpec
    type: str = "providers"
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    invalid_frames: str = "fail"  # fail | skip | dead_letter (protocol.frames.POLICIES)
    dead_letter_path: Optional[str] = None
    validate: bool = True  # False: passthrough pump (splice), no per-frame checks
    start_timeout: float = DEFAULT_START_TIMEOUT
    stop_grace: float = DEFAULT_STOP_GRACE
    # seconds the output may take to exit after the end of its stream, then it is killed
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    # seconds between stores of the newest acknowledged checkpoint (0: every ack)
    commit_interval: float = DEFAULT_COMMIT_INTERVAL
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    location: Optional[Location] = None


@record
class StateSpec:
    """Where checkpoints are kept. `file`: a directory of atomic JSON files."""

    backend: str = "file"
    path: Optional[str] = None  # file backend: directory; default $XDG_STATE_HOME/dstream/<project>
    dsn: Optional[str] = None  # postgres backend
    table: str = "dstream_state"
    lease_ttl: float = 15.0  # postgres backend: seconds a run's lease lasts unrenewed
    lease_renew_interval: float = 3.0  # postgres backend: seconds between renewals
    location: Optional[Location] = None
    dsn_location: Optional[Location] = None  # of dsn's value: its errors point there
    table_location: Optional[Location] = None  # of table's value
    lease_ttl_location: Optional[Location] = None  # of lease_ttl's value, when written
    lease_renew_interval_location: Optional[Location] = None  # the same, of its value


# The tables the postgres backend names after its state table, beside it (state/postgres.py).
LEASE_TABLE, RUNS_TABLE, INPUT_TABLE, AGENTS_TABLE = "_lease", "_runs", "_input", "_agents"
COMPANIONS = (LEASE_TABLE, RUNS_TABLE, INPUT_TABLE, AGENTS_TABLE)
# PostgreSQL cuts a longer identifier to 63 bytes (NAMEDATALEN - 1), silently, and uses
# the cut name: `<table>_lease` works as long as the cut names stay distinct tables.
POSTGRES_NAME_BYTES = 63


def _longest_state_table() -> int:
    """The longest state table name whose companions stay tables of their own once each
    name is cut to POSTGRES_NAME_BYTES (longer, two would be one table, or two
    configurations' tables one)."""
    for length in range(POSTGRES_NAME_BYTES, 0, -1):
        table = "x" * length
        cut = {(table + suffix)[:POSTGRES_NAME_BYTES] for suffix in COMPANIONS} | {table}
        if len(cut) == len(COMPANIONS) + 1:
            return length
    raise AssertionError("no state table name leaves its companions distinct")


MAX_STATE_TABLE_NAME = _longest_state_table()  # 61: "_l", "_r", "_i", "_a" still differ


def state_table_ok(table: str) -> bool:
    """Whether `table` is a state table name the postgres backend can use: a plain
    identifier or schema.table (it names the table's companions after it)."""
    parts = table.split(".")
    return 1 <= len(parts) <= 2 and all(re.match(_IDENTIFIER, part) for part in parts)


# Compiled on first use (re keeps it): a plain run never uses it, and a compile at
# import costs ~0.5 M instructions of every start (issue 22).
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]*$"


@record
class MetricsSpec:
    addr: Optional[str] = None  # host:port for the Prometheus endpoint (parse_addr)
    location: Optional[Location] = None  # of addr, for an error about it (a port in use)


PORTS = range(0, 65536)  # 0: a free port, picked by the system and logged


def url_host(host: str) -> str:
    """`host` as a URL (or a host:port) writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def parse_addr(addr: str) -> tuple[str, int]:
    """HOST:PORT of the metrics endpoint, from the metrics block or --metrics-addr (an
    empty HOST is 127.0.0.1, [v6] brackets are dropped); ValueError saying what is
    wrong, for the caller to name where the address came from."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{addr!r} is not HOST:PORT")
    if int(port) not in PORTS:
        raise ValueError(f"port {port} of {addr!r} is not in {PORTS.start}-{PORTS.stop - 1}")
    return host.strip("[]") or "127.0.0.1", int(port)


@record
class Reads:
    """What evaluating a configuration read besides its HCL texts: whoever keeps the
    result knows it is stale when one of these differs (config/reads.py records the
    environment; file() and the templates' clock functions record the rest)."""

    # Each variable looked up, with the value seen; None: it was unset.
    env: dict[str, Optional[str]] = field(default_factory=dict)
    # Prefixes whose variables were all scanned (DSTREAM_VAR_): a name with one, set or
    # unset since, changes the result; those present are in `env` with their values.
    env_prefixes: list[str] = field(default_factory=list)
    # Absolute paths of the files read (config files, var files, file()), first read first.
    files: list[str] = field(default_factory=list)
    # Directories whose *.hcl files were listed (-c DIR): a file added changes the result.
    dirs: list[str] = field(default_factory=list)
    # Functions called whose result is the clock's, not the inputs' (now, date).
    volatile: list[str] = field(default_factory=list)
    # When the reading began (time.time_ns()): a file or directory changed since may
    # not be what was evaluated (runtime/warmplan.py keeps no snapshot then).
    since_ns: int = field(default_factory=time.time_ns, repr=False, compare=False)

    def add_file(self, path: str) -> None:
        _add(self.files, os.path.abspath(path))

    def add_dir(self, path: str) -> None:
        _add(self.dirs, os.path.abspath(path))

    def add_prefix(self, prefix: str) -> None:
        _add(self.env_prefixes, prefix)

    def add_volatile(self, name: str) -> None:
        """A call of the volatile function `name`."""
        _add(self.volatile, name)


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


@record
class Project:
    tasks: dict[str, TaskSpec]
    state: StateSpec = field(default_factory=StateSpec)
    metrics: MetricsSpec = field(default_factory=MetricsSpec)
    files: list[str] = field(default_factory=list)
    base_dir: str = "."
    # Values of sensitive variables, so views can redact them wherever they appear.
    sensitive_values: frozenset[str] = frozenset()
    # Warnings found while loading (str: "file:line:col: message"), e.g. deprecated
    # names; `dstream lint` shows them, the runtime logs them, with the `task` of one
    # about a task that cannot be used.
    warnings: list[Diagnostic] = field(default_factory=list)
    # Tasks that failed to evaluate only because of an unset environment variable (a
    # template's or env()'s, in the task or a local it uses: config/scope.FailsWhereUsed),
    # or of a variable without a value the command does not need: the error is raised
    # when the task is used, so other tasks still run.
    broken: dict[str, Exception] = field(default_factory=dict)
    # Of each task in `broken`, what is known without what it lacks (config/tasks.py
    # outline_task): its location, and its providers' sources where they evaluate.
    outlines: dict[str, TaskSpec] = field(default_factory=dict)
    # Tasks with errors of their own (a bad max_frame_size) as far as they evaluated, both
    # providers included: not used, but `dstream lint` checks their providers too.
    failed: dict[str, TaskSpec] = field(default_factory=dict)
    # Tasks built where the command needs no variable's value (list, lint) with a config
    # key that needs one without a value (UNKNOWN): why each cannot run as it is.
    incomplete: dict[str, Exception] = field(default_factory=dict)
    # What the evaluation read from outside its HCL texts (environment, files, clock).
    reads: Reads = field(default_factory=Reads)

    def names(self) -> list[str]:
        """Every task the configuration defines, sorted: those in `broken` too."""
        return sorted({*self.tasks, *self.broken})

    def task(self, name: str) -> TaskSpec:
        from dstream.errors import ConfigError, UsageError, nearest

        if name in self.broken:
            error = self.broken[name]
            if isinstance(error, ConfigError):  # it fails where this task uses it
                error.task = name
            raise error
        try:
            return self.tasks[name]
        except KeyError:
            # every task, those that cannot be evaluated too: a name one may have meant
            guess = nearest(name, self.names())
            meant = f"did you mean {guess!r}? " if guess else ""
            known = ", ".join(self.names()) or "none"
            raise UsageError(
                f"no task named {name!r}",
                hint=f"{meant}tasks defined: {known}; `dstream list` shows them",
            ) from None
