"""The runtime's side of a warm start (dstream/warm): which runs it may repeat and
what their snapshot holds (`remember_run`), and taking over what it started (`adopt`).

A run is kept for a warm start only when its snapshot can hold nothing that is not
already in the project's files or the host's plain environment, and when every input
of its start is known (the configuration's `Reads`, config/model.py):
- `dstream run` itself (the console script, with arguments warm.key.eligible_arguments
  takes), one task, the file state backend, not the built-in demo;
- the evaluation read no environment variable but DSTREAM_CONFIG, no DSTREAM_VAR_*
  and no `--var`, called nothing that reads the clock, and marked nothing sensitive;
- on Linux (the warm start forks, and sets the parent-death signal through the Rust
  core where the runtime uses setpriv);
- both providers are local executables that inherit no variable by name, and both
  shook hands with protocol 1 (an original provider's stream is judged as it starts);
- a provider_ref resolves by the cache's record alone (oci.resolution_record: not a
  tag DSTREAM_PROVIDER_MAX_AGE makes due by the clock), which the key holds by digest;
- nothing in a command line or environment is a value the redactor would mask.
"""

from __future__ import annotations

import os
import sys

from dstream import logs, warm
from dstream.config.redact import redact_bytes
from dstream.errors import DstreamError
from dstream.protocol import frames
from dstream.protocol.messages import command_line
from dstream.protocol.values import Fragment
from dstream.records import record
from dstream.runtime import description
from dstream.runtime.forked import ForkedProcess
from dstream.runtime.launch import INHERITED_ENV, LOCALE_PREFIX
from dstream.runtime.pipes import stopped_starting
from dstream.runtime.process import Prepared, ProviderProcess, wait_unless_stopped
from dstream.runtime.watchdog import watchdog
from dstream.state import STATE_HOME_ENV
from dstream.state.file import FileStore
from dstream.warm import child, key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream._core import Pump, PumpResult
    from dstream.config.model import Project, ProviderSpec, TaskSpec
    from dstream.runtime.process import LogSink
    from dstream.state.base import StateStore

# Where the checkpoint goes in an input's command line: NUL is never in encoded JSON.
STATE_MARK = b"\x00dstream warm start: state\x00"
ENV_READS_ALLOWED = frozenset({"DSTREAM_CONFIG"})
# Scanned for variables (none found, or they would be in the reads): every DSTREAM_*
# variable is in the snapshot's key anyway (warm.key.ENV_PREFIXES).
ENV_PREFIXES_ALLOWED = frozenset({"DSTREAM_VAR_"})


@record
class Started:
    """What a run started, as it would be kept for the next one."""

    project: Project
    task: TaskSpec
    store: StateStore
    input: Prepared
    output: Prepared
    input_handshake: Optional[bytes]  # its first line; None for an original provider
    output_handshake: Optional[bytes]  # the output's, the same way
    # That handshake says it acknowledges checkpoints: the warm pump forwards them from
    # its start only then (it begins once the output's first line is that handshake).
    output_acknowledges: bool
    pump: dict[str, object]  # the PumpOptions a warm start gives (warm.Launched.run)
    several: bool  # tasks side by side


def remember_run(started: Started) -> None:
    """Keep what `started` started for the next identical `dstream run`, if it may be."""
    args = warm.console_args()
    if args is None or started.several:
        return
    try:
        plan = _plan(started)
    except (OSError, DstreamError):  # a directory or state file gone meanwhile: no snapshot
        return
    if plan is not None:
        warm.remember(os.getcwd(), args, plan)


def _plan(s: Started) -> Optional[dict[str, object]]:
    project, task = s.project, s.task
    reads = project.reads
    if (
        not sys.platform.startswith("linux")
        or not isinstance(s.store, FileStore)
        or s.input_handshake is None
        or s.output_handshake is None
        or project.sensitive_values
        or reads.volatile
        or set(reads.env) - ENV_READS_ALLOWED
        or set(reads.env_prefixes) - ENV_PREFIXES_ALLOWED
        or task.input.inherit_env
        or task.output.inherit_env
    ):
        return None
    providers = {}
    for spec, prepared in ((task.input, s.input), (task.output, s.output)):
        if prepared.image:
            return None
        entry = _provider(spec, prepared, task)
        if entry is None:
            return None
        providers[spec.role] = entry
    executables = [p.argv[0] for p in (s.input, s.output)] + [
        p.prefix[0] for p in (s.input, s.output) if p.prefix
    ]
    identities = [(path, key.stat_identity(path)) for path in executables]
    files = [(path, key.file_digest(path)) for path in reads.files]
    # What each provider_ref resolves to: a tag pulled again to another artifact leaves
    # the old executable in the cache, unchanged, but the run starts the new one.
    for spec, prepared in ((task.input, s.input), (task.output, s.output)):
        if spec.provider_ref:
            from dstream.oci import resolution_record  # only for a provider_ref

            record = resolution_record(spec.provider_ref, prepared.argv[0])
            if record is None:  # resolved anew by the clock, or pulled again meanwhile
                return None
            files.append((record[0], key.digest(record[1])))
    if any(identity is None for _, identity in identities + files):
        return None
    # Digested now, at the run's end: a file or -c directory edited during the run is
    # not what this run evaluated, and its digest would let the next run start these
    # providers for it.
    if any(_changed_since(path, reads.since_ns) for path in [*reads.files, *reads.dirs]):
        return None
    # What the run's config check knew of each provider: a schema learnt later (by a
    # probe in `dstream lint`) must be checked before anything starts, so the entries,
    # present or not, are in the key as files.
    entries = [description.cache_entry(p.argv[0]) for p in (s.input, s.output)]
    files += [(path, key.file_digest(path)) for path in entries if path is not None]
    store = s.store
    # What decides the providers' environment, the configuration and the state's place.
    env_names = sorted(INHERITED_ENV | set(reads.env) | {STATE_HOME_ENV})
    return {
        "task": task.name,
        "env_names": env_names,
        "env_digest": key.env_digest(env_names, dict(os.environ)),
        "files": files,
        "dirs": [(path, key.hcl_listing(path)) for path in reads.dirs],
        "executables": identities,
        "lock": store.run_lock_path(task.name),
        "state_path": store.path_of(task.name),
        "input_hash_path": store.input_hash_path(task.name),
        "input_hash": store.input_hash(task.name),
        "start_timeout": float(task.start_timeout),
        "handshake": s.input_handshake,
        "output_handshake": s.output_handshake,
        "pump": {**s.pump, "forward_checkpoints": s.output_acknowledges},
        "providers": providers,
    }


def _changed_since(path: str, since_ns: int) -> bool:
    st = os.stat(path)
    return max(st.st_mtime_ns, st.st_ctime_ns) >= since_ns


def _provider(
    spec: ProviderSpec, prepared: Prepared, task: TaskSpec
) -> Optional[dict[str, object]]:
    """A provider's part of a plan: what it runs, its environment as the names it takes
    from dstream's and the values it is given, its command line."""
    inherit = sorted(
        name
        for name in prepared.env
        if (name in INHERITED_ENV or name.startswith(LOCALE_PREFIX)) and name not in spec.env
    )
    fixed = {name: value for name, value in prepared.env.items() if name not in inherit}
    if spec.role == "input":
        marked = command_line(
            "run", spec.config, task=task.name, role="input", state=Fragment(STATE_MARK)
        )
        command: list[bytes] = marked.split(STATE_MARK)
        if len(command) != 2:
            return None
    else:
        command = [prepared.command]
    shown = [prepared.command, *(value.encode() for value in fixed.values())]
    if any(redact_bytes(text) != text for text in shown):
        return None  # a secret the redactor knows: never on disk
    return {
        "role": spec.role,
        "prefix": prepared.prefix,
        "argv": prepared.argv,
        "cwd": prepared.cwd,
        "inherit": inherit,
        "env": fixed,
        "command": command,
    }


# -- taking over -------------------------------------------------------------------------


@record
class Adopted:
    """What the runtime took over from a warm start."""

    launched: warm.Launched
    input: ProviderProcess
    output: ProviderProcess
    pump: Optional[Pump] = None  # running since the warm start; None: the runtime starts one
    # The output wrote no line in the start_timeout the warm start waited for it: the
    # runtime's own wait for it (runtime/legacy.py) has run out already.
    output_silent: bool = False

    def settle(self, stopping: Callable[[], bool]) -> None:
        """Wait until the warm start decided on the input's first line and then the
        output's (it reads each for start_timeout at most), then take over what it
        decided: the pump it began, or what it read, for the runtime's own handshake
        (the output's first line is always the runtime's to read). A stop ends the wait
        (Interrupted): the input is still starting."""
        launched = self.launched
        if wait_unless_stopped(lambda t: launched.decided.acquire(timeout=t), stopping) is None:
            raise stopped_starting(self.input.label)
        launched.decided.release()  # (a flag from now on: stop() takes it again)
        self.pump = launched.pump
        self.output.preload(launched.output_read, launched.output_eof)
        self.output_silent = launched.output_silent
        if self.pump is None:  # the runtime's own handshake reads what is left
            self.input.preload(launched.read, launched.eof)
        else:
            self.input.accept_handshake(bytes(launched.plan["handshake"]))  # type: ignore[call-overload]

    def released(self, timeout: float) -> bool:
        """Whether the warm start's thread let go of the input's stdout (its fd may be
        closed then), waiting up to `timeout` for it."""
        if not self.launched.decided.acquire(timeout=timeout):
            return False
        self.launched.decided.release()
        return True

    def result(self) -> PumpResult:
        """Wait for the warm pump's run() to return, and give what it returned."""
        self.launched.finished.acquire()
        result = self.launched.result
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        return result


def adopt(
    launched: warm.Launched,
    inp: Prepared,
    out: Prepared,
    state: Optional[bytes],
    store: StateStore,
    log_sink: LogSink,
) -> Optional[Adopted]:
    """Take over the providers `launched` started, when they are exactly what `inp` and
    `out` (this run's own decision) say, from the checkpoint of this run's own store;
    otherwise kill them and say so (None: the run starts its own)."""
    plan, task = launched.plan, launched.task
    providers: dict[str, dict[str, object]] = plan["providers"]  # type: ignore[assignment]
    differs = [
        role
        for role, prepared in (("input", inp), ("output", out))
        if not _same(providers[role], prepared, state)
    ]
    if not isinstance(store, FileStore) or plan["state_path"] != store.path_of(task):
        differs.append("state")
    if differs:
        logs.log.error(
            "what the warm start started differs from what this run decides "
            "(%s; a bug in what its key covers: please report it): it is stopped, and "
            "the providers are started again as decided now", ", ".join(differs),
            task=task,
        )  # fmt: skip
        launched.stop()
        warm.forget(os.getcwd(), warm.console_args() or [])
        return None
    watchdog.ready()
    procs = []
    for role, forked, prepared in (
        ("input", launched.input, inp),
        ("output", launched.output, out),
    ):
        watchdog.watch(forked.pid)
        handle = ForkedProcess(forked, prepared.prefix + prepared.argv)
        proc = ProviderProcess(
            handle, role=role, label=prepared.label, task_name=task, log_sink=log_sink
        )
        proc.executable = prepared.argv[0]
        proc.commit_fd, forked.commit_fd = forked.commit_fd, None
        procs.append(proc)
    proc_in, proc_out = procs
    logs.log.debug("its providers were started by a warm start", task=task)
    return Adopted(launched, proc_in, proc_out)


def _same(provider: dict[str, object], prepared: Prepared, state: Optional[bytes]) -> bool:
    env = child.env_of(provider)
    env.pop(frames.ENV_COMMIT_FD, None)
    return (
        provider["argv"] == prepared.argv
        and provider["prefix"] == prepared.prefix
        and provider["cwd"] == prepared.cwd
        and env == prepared.env
        and child.command_of(provider, state) == prepared.command
    )
