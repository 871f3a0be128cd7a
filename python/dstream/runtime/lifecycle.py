"""init / plan / status / destroy: ask a task's providers about its infrastructure
(contract section 8) and collect their answers.

Both providers are asked, in dependency order: the input first when creating or
looking (its source feeds the output), the output first when removing. An input is
started only when it describes itself with "lifecycle" (runtime/describe.py learns that
without sending it a command: the original .NET SDK would take an unknown command for
`run` and stream); one that does not is not started, and reported as managing nothing,
with why. One that then handshakes without "lifecycle", exits before a handshake or
whose first line is data is stopped at once, and reported the same way.
The output is always asked, as the original DStream asked only it (unless its block
says `lifecycle = false`). Its stdin is closed right after the command line, as the
original did: nothing more is written to it, and a provider that reads stdin to EOF
(Go's io.ReadAll) answers at once. Without "lifecycle" it is read as the original read
it, up to its result line or its exit: the original .NET SDK's providers answer
`{"status":"ready"}` without features, then one result line with resources as plain
strings; a Go provider may write log lines on stdout first (logged and skipped here, as
the original echoed them), or keys in another case (Go's json.Unmarshal matches keys
case-insensitively). It manages nothing only when it exits 0 without a result.

A provider that reports Failed, writes no valid result after declaring "lifecycle",
exits non-zero or by a signal (an output without "lifecycle" too, even with no result)
or does not answer in time fails the command, as does, for status, a resource reported
there but not usable as it is (`is_unusable`); for init and destroy the remaining
provider is then not asked (like `terraform apply`, nothing more is changed after an
error), for plan and status, which change nothing, it still is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from dstream.config.model import Project, ProviderSpec, TaskSpec
from dstream.config.redact import redact_cut
from dstream.errors import DstreamError, ProviderError
from dstream.protocol.frames import CHANGE_ACTIONS, FEATURE_LIFECYCLE, LIFECYCLE_COMMANDS
from dstream.protocol.messages import LifecycleResult, change_problem
from dstream.records import field, record
from dstream.runtime.description import UNKNOWN
from dstream.runtime.legacy import log_stdout_line

if TYPE_CHECKING:
    from dstream.runtime.process import ProviderProcess

# Seconds a provider may take, after its handshake, to write its result and exit (it may
# still close connections after its result: the original waited up to its whole limit).
DEFAULT_TIMEOUT = 300.0
SHOWN_RESULT = 200  # characters of a result that is no result quoted in the error
SHOWN_ACTION = 60  # characters of a change's action that is none quoted in the error
# Why an output is not asked: its block says so.
NOT_ASKED_BY_CONFIG = "not asked: lifecycle = false in its block"
# What an output that exits non-zero without a result may mean, and what to do then.
NO_RESULT_HINT = (
    "if it manages no infrastructure (an original .NET SDK output that is no "
    "IInfrastructureProvider exits 1 so), set `lifecycle = false` in its output block"
)

BAD_CHANGE_HINT = (
    "a bug in the provider: each entry of `changes` is an object whose action is one of "
    + ", ".join(CHANGE_ACTIONS)
)

# Outcomes of one provider.
DONE = "done"  # answered Success or Unknown
FAILED = "failed"
NO_INFRASTRUCTURE = "no-infrastructure"  # no "lifecycle" in its handshake
SKIPPED = "skipped"  # not asked because the other provider failed first


@record
class ProviderOutcome:
    role: str
    provider: str  # where it comes from (provider_path / _ref / _image)
    outcome: str
    result: Optional[LifecycleResult] = None
    error: Optional[str] = None  # why it failed, quoting the provider
    hint: Optional[str] = None  # what to do about that failure, when dstream knows
    exit_code: Optional[int] = None
    stderr_tail: list[str] = field(default_factory=list)
    # The answer came in the original's shape (resources as plain strings).
    original: bool = False
    # Read as the original read its outputs (no "protocol" in its handshake): it knows no
    # destroy preview, and answers `plan --destroy` with its plan.
    unversioned: bool = False
    # Why it was not asked, or how its answer was read, in one line for the user.
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.role} {self.provider!r}"

    def to_dict(self) -> dict[str, object]:
        result = self.result
        out: dict[str, object] = {
            "role": self.role,
            "provider": self.provider,
            "outcome": self.outcome,
            # Not asked (skipped): whether it has infrastructure is not known.
            "lifecycle": None if self.outcome == SKIPPED else self.outcome != NO_INFRASTRUCTURE,
            "status": result.status if result else None,
            "resources": result.resources if result else [],
            "changes": result.changes if result else [],
            "metadata": result.metadata if result else {},
            "message": result.message if result else "",
            "error": self.error,
            "hint": self.hint,
            "exit_code": self.exit_code,
            "original_shape": self.original,
            "note": self.note or None,
        }
        if self.stderr_tail and self.outcome == FAILED:
            out["stderr_tail"] = self.stderr_tail
        return out


@record
class TaskLifecycle:
    task: str
    command: str
    destroy: bool
    providers: list[ProviderOutcome]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unusable()

    def unusable(self) -> list[tuple[ProviderOutcome, dict[str, Any]]]:
        """Each resource `status` found there but not usable as it is, with who said so
        (`is_unusable`): the infrastructure is not healthy, so the command fails as for
        a failed provider (a health check must not be told all is well). Only status: a
        plan lists such a resource among what it replaces."""
        if self.command != "status":
            return []
        return [
            (p, r) for p in self.providers if p.result for r in p.result.resources if is_unusable(r)
        ]

    @property
    def failures(self) -> list[ProviderOutcome]:
        return [p for p in self.providers if p.outcome == FAILED]

    def changes(self) -> list[dict[str, Any]]:  # Any: as LifecycleResult.changes
        return [c for p in self.providers if p.result for c in p.result.changes]

    def undecided(self) -> bool:
        """Whether an answer does not say what would change: the original's shape (it
        lists resources only), a status of Unknown, or a destroy preview from a provider
        of the original's kind (its plan, not what destroy would remove). A plan's
        `-detailed-exitcode` then says changes (2), and destroy asks: "nothing would
        change" would be a guess."""
        return any(self.undecided_by(p) for p in self.providers)

    def undecided_by(self, p: ProviderOutcome) -> bool:
        """Whether `p`'s answer does not say what would change (`undecided`)."""
        if p.outcome != DONE or p.result is None:
            return False
        return p.original or p.result.status == "Unknown" or self.blind(p)

    def blind(self, p: ProviderOutcome) -> bool:
        """Whether `p` answered a destroy preview as a provider of the original's kind
        does: with its plan, which is no list of what destroy would remove."""
        return self.destroy and self.command == "plan" and p.unversioned and p.result is not None

    def blind_ones(self) -> list[ProviderOutcome]:
        """The providers that answered a destroy preview with their plan (`blind`)."""
        return [p for p in self.providers if self.blind(p)]

    def reported(self) -> int:
        """Resources reported in the original's shape, which says nothing of changes;
        not a blind destroy preview's: those are its plan's, not shown."""
        return sum(
            len(p.result.resources)
            for p in self.providers
            if p.result and p.original and not self.blind(p)
        )

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(CHANGE_ACTIONS, 0)
        for change in self.changes():  # _judge kept only changes of CHANGE_ACTIONS
            counts[change["action"]] += 1
        return counts

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "command": self.command,
            "destroy": self.destroy,
            "ok": self.ok,
            "summary": self.counts(),
            "providers": [p.to_dict() for p in self.providers],
        }


def is_unusable(resource: object) -> bool:
    """Whether a resource says it exists but cannot be used as it is (`"usable": false`
    with its `problem` and `hint`, docs/protocol.md section 8: a replication slot the
    server invalidated). The original's plain strings say nothing of it."""
    return isinstance(resource, dict) and resource.get("usable") is False


def provider_order(task: TaskSpec, command: str, destroy: bool) -> list[ProviderSpec]:
    removing = command == "destroy" or (command == "plan" and destroy)
    return [task.output, task.input] if removing else [task.input, task.output]


def run_lifecycle(
    project: Project,
    task_name: str,
    command: str,
    *,
    destroy: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> TaskLifecycle:
    if command not in LIFECYCLE_COMMANDS:
        raise ValueError(f"not a lifecycle command: {command}")
    from dstream.runtime.describe import refuse_bad_configs

    task = project.task(task_name)
    refuse_bad_configs(project, [task_name])  # before anything starts
    stop_at_failure = command in ("init", "destroy")
    outcomes: list[ProviderOutcome] = []
    for spec in provider_order(task, command, destroy):
        if stop_at_failure and any(o.outcome == FAILED for o in outcomes):
            outcomes.append(ProviderOutcome(spec.role, spec.source, SKIPPED))
            continue
        outcomes.append(
            ask_provider(
                spec,
                task,
                command,
                destroy=destroy,
                timeout=timeout,
                base_dir=project.base_dir,
            )
        )
    return TaskLifecycle(task.name, command, destroy, outcomes)


def ask_provider(
    spec: ProviderSpec,
    task: TaskSpec,
    command: str,
    *,
    destroy: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    base_dir: str = ".",
) -> ProviderOutcome:
    """Start one provider with `command`, read its handshake and its result line. An
    input that does not describe itself with "lifecycle", or an output whose block says
    `lifecycle = false`, is not started."""
    from dstream.runtime.process import prepare_provider, start_provider

    outcome = ProviderOutcome(spec.role, spec.source, FAILED)
    not_asked = _not_asked(spec, task, base_dir)
    if not_asked:
        outcome.outcome = NO_INFRASTRUCTURE
        outcome.note = not_asked
        return outcome
    try:
        prepared = prepare_provider(
            spec, task=task, command=command, destroy=destroy, base_dir=base_dir
        )
        proc = start_provider(prepared)
    except ProviderError as exc:
        outcome.error, outcome.hint = exc.reason, exc.hint
        return outcome
    # Nothing more is ever written to it: closed now, as the original did, so one that
    # reads stdin to EOF before it answers (Go's io.ReadAll) answers at once.
    proc.close_stdin()
    try:
        try:
            hs = proc.handshake(timeout=task.start_timeout, limit=task.max_frame_size)
        except ProviderError as exc:
            if spec.role == "input" and proc.first_line is None and proc.poll() is not None:
                # Exited before a handshake: an input of the original's kind refusing
                # a command it was never asked by the original (it asked the output).
                outcome.outcome = NO_INFRASTRUCTURE
                outcome.exit_code = proc.poll()
                return outcome
            outcome.error, outcome.hint = exc.reason, exc.hint
            outcome.stderr_tail = exc.stderr_tail
            return outcome
        declared = not hs.is_legacy and FEATURE_LIFECYCLE in hs.features
        # A provider of this protocol ("protocol" in its handshake) that does not declare
        # lifecycle manages nothing; an input may ignore the command and stream: both are
        # stopped before they do anything. Only an output of the original's kind is read.
        if not declared and (spec.role == "input" or hs.protocol is not None):
            outcome.outcome = NO_INFRASTRUCTURE
            proc.kill()
            return outcome
        try:
            if declared:
                _read_result(proc, outcome, command, task, timeout)
            else:
                _read_undeclared(proc, outcome, command, task, timeout)
        except ProviderError as exc:  # a line longer than the task's max_frame_size
            proc.kill()
            outcome.error, outcome.hint = exc.reason, exc.hint
            outcome.stderr_tail = proc.stderr_tail(settle=1.0)
        return outcome
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.close()


def _not_asked(spec: ProviderSpec, task: TaskSpec, base_dir: str) -> str:
    """Why a provider is not asked, or "" to ask it: an input that does not describe
    "lifecycle"; an output whose block says `lifecycle = false`."""
    from dstream.runtime.describe import describe

    if spec.role == "output":
        return NOT_ASKED_BY_CONFIG if spec.lifecycle is False else ""
    try:
        found = describe(spec, base_dir, task)
    except DstreamError:
        return ""  # starting it reports what is wrong
    if found.lifecycle:
        return ""
    if found.source == UNKNOWN:  # nothing learnt of it: no declaration to go by
        return (
            f"not asked: dstream does not know whether it manages infrastructure "
            f"({found.note}); set `lifecycle = true` in its block if it does"
        )
    why = f"; {found.note}" if found.note else ""
    return f"not asked: it declares no lifecycle{why}"


def _read_undeclared(
    proc: ProviderProcess, outcome: ProviderOutcome, command: str, task: TaskSpec, timeout: float
) -> None:
    """An output without "lifecycle", read as the original read it: every stdout line up
    to its result line or its exit, within `timeout`. A line that is not a result (a Go
    logger's INFO line) is logged and skipped. Without a result it manages nothing if
    it exits 0; any other end fails the command."""
    until = time.monotonic() + timeout
    skipped = 0
    while True:
        try:
            line = _next_line(proc, task, until)
        except TimeoutError:
            logged = f" (the {skipped} other line(s) it wrote are in the log)" if skipped else ""
            _time_out(proc, outcome, timeout, logged)
            return
        if line is None:
            break
        try:
            result = LifecycleResult.parse(line)
        except ValueError:
            log_stdout_line(task.name, proc.role, line, several=False)
            skipped += 1
            continue
        outcome.unversioned = True
        _judge(outcome, result, command, _reap(proc, outcome, task, until, timeout), timeout)
        return
    code = _reap(proc, outcome, task, until, timeout)
    how = _how_it_ended(code, timeout)
    if code == 0:
        outcome.outcome = NO_INFRASTRUCTURE
        outcome.note = f"{how} without writing a result"
    elif code == 1:  # also how the original .NET SDK refuses a command it does not serve
        outcome.error = f"{outcome.label} {how} without writing a result; {NO_RESULT_HINT}"
    else:
        outcome.error = f"{outcome.label} {how} without writing a result"


def _next_line(proc: ProviderProcess, task: TaskSpec, until: float) -> Optional[bytes]:
    """The provider's next stdout line; None at its EOF or, once the provider itself has
    exited, when its pipe holds no more: what it started and left running is then killed
    with its process group, with a warning if that held its stdout open (as `run` does),
    and its EOF is not waited for. Raises TimeoutError at `until`, ProviderError for a
    line longer than the task's max_frame_size."""
    from dstream.runtime.pipes import STOP_POLL

    while True:
        exited = proc.exited()
        if exited:
            proc.end_group()
        left = until - time.monotonic()
        try:
            # Exited: only what the pipe already holds.
            wait = 0.0 if exited else max(0.0, min(left, STOP_POLL))
            return proc.read_line(wait, task.max_frame_size)
        except TimeoutError:
            if exited:
                return None
            if left <= 0:
                raise


def _reap(
    proc: ProviderProcess, outcome: ProviderOutcome, task: TaskSpec, until: float, timeout: float
) -> Optional[int]:
    """Wait for a provider that answered (or closed its stdout) to exit, logging what it
    still writes; killed at `until`, the end of its --timeout of `timeout` seconds (None
    then: see _how_it_ended, and its hint says to give it longer). Once it has exited,
    what it started and left running is killed with its process group, with a warning
    if that held its stdout open (as `run` does), and what the pipe holds is read: its
    EOF is not waited for. Records its exit code and last stderr lines."""
    while until > time.monotonic():  # one that writes on and on is not read past `until`
        try:
            line = _next_line(proc, task, until)
        except (TimeoutError, ProviderError):
            break
        if line is None:
            break
        log_stdout_line(task.name, proc.role, line, several=False)
    code: Optional[int] = proc.wait(max(0.0, until - time.monotonic()))
    if code is None:
        proc.kill()
        outcome.exit_code = proc.wait(5)
        outcome.hint = (
            "a provider exits once it has written its result; if it needs longer to "
            f"finish, give it a larger --timeout (it had {timeout:g} s)"
        )
    else:
        outcome.exit_code = code
    outcome.stderr_tail = proc.stderr_tail()
    return code


def _how_it_ended(code: Optional[int], timeout: float) -> str:
    """How a reaped provider ended; None: it did not exit within its --timeout of
    `timeout` seconds, and dstream stopped it."""
    from dstream.runtime.process import ended

    if code is None:
        return f"did not exit within --timeout ({timeout:g} s), so dstream stopped it"
    return ended(code)


def _time_out(proc: ProviderProcess, outcome: ProviderOutcome, timeout: float, more: str) -> None:
    proc.kill()
    outcome.exit_code = proc.wait(5)
    outcome.error = f"{outcome.label} did not report a result within {timeout:g} s{more}"
    outcome.hint = (
        f"if it is slow but healthy, give it more than {timeout:g} s with --timeout "
        "SECONDS; else find out why it did not answer (run it by hand with its config "
        "on stdin)"
    )
    outcome.stderr_tail = proc.stderr_tail()


def _judge(
    outcome: ProviderOutcome,
    result: LifecycleResult,
    command: str,
    code: Optional[int],
    timeout: float,
) -> None:
    """Record a parsed result: Failed or a non-zero exit fail the command."""
    label = outcome.label
    outcome.original = any(isinstance(r, str) for r in result.resources)
    if outcome.original and not result.changes and command == "destroy":
        # The original reports what destroy removed as its resources.
        result.changes = [
            {"action": "delete", "type": "resource", "name": str(r)} for r in result.resources
        ]
    outcome.result = result
    # One pass: the views show only changes, and index them by action.
    changes: list[Any] = []  # Any: as LifecycleResult.changes
    invalid: list[str] = []
    for change in result.changes:
        problem = change_problem(change, _quote_action)
        if problem is None:
            changes.append(change)
        else:
            invalid.append(problem)
    result.changes = changes
    if result.status == "Failed":
        said = [text for text in (result.error, result.message) if text]
        quoted = '" / "'.join(dict.fromkeys(said)) or "no error given"  # each once
        outcome.error = f'{label} reported Failed: "{quoted}"'
    elif invalid:
        outcome.error = f"{label} broke the lifecycle protocol: a change {invalid[0]}"
        outcome.hint = BAD_CHANGE_HINT
    elif code != 0:
        outcome.error = f"{label} reported {result.status} but {_how_it_ended(code, timeout)}"
    else:
        outcome.outcome = DONE


def _quote_action(action: object) -> str:
    """A change's action as the provider wrote it, masked and cut: it is its data."""
    from dstream.protocol.values import encode_json

    return redact_cut(encode_json(action, default=str).decode(), SHOWN_ACTION)


def _read_result(
    proc: ProviderProcess, outcome: ProviderOutcome, command: str, task: TaskSpec, timeout: float
) -> None:
    """A provider that declared "lifecycle": its next line is its result (contract
    section 8)."""
    label = outcome.label
    until = time.monotonic() + timeout
    try:
        line = _next_line(proc, task, until)
    except TimeoutError:
        _time_out(proc, outcome, timeout, "")
        return
    code = _reap(proc, outcome, task, until, timeout)
    if line is None:
        outcome.error = f"{label} {_how_it_ended(code, timeout)} without writing a result"
        return
    try:
        result = LifecycleResult.parse(line)
    except ValueError as exc:  # not JSON, or not a result
        shown = redact_cut(line.decode("utf-8", "replace"), SHOWN_RESULT, "")
        outcome.error = f"{label} wrote an invalid result ({exc}): {shown}"
        return
    _judge(outcome, result, command, code, timeout)
