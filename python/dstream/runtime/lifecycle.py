"""init / plan / status / destroy: ask a task's providers about its infrastructure
(contract section 8) and collect their answers.

Both providers are asked, in dependency order: the input first when creating or
looking (its source feeds the output), the output first when removing. An input is
started only when it describes itself with "lifecycle" (runtime/describe.py learns that
without sending it a command: the original .NET SDK would take an unknown command for
`run` and stream); one that does not is not started, and reported as managing nothing,
with why. One that then handshakes without "lifecycle", exits before a handshake or
whose first line is data is stopped at once, and reported the same way.
The output is always asked, as the original DStream asked only it: without
"lifecycle" its answer is read if it writes one (the original .NET SDK's providers
answer `{"status":"ready"}` without features, then one result line with resources as
plain strings), and it manages nothing if it writes none.

A provider that reports Failed, writes no valid result after declaring "lifecycle",
exits non-zero or does not answer in time fails the command; for init and destroy the
remaining provider is then not asked (like `terraform apply`, nothing more is changed
after an error), for plan and status, which change nothing, it still is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from dstream.config.model import Project, ProviderSpec, TaskSpec
from dstream.errors import DstreamError, ProviderError
from dstream.protocol.frames import FEATURE_LIFECYCLE, LIFECYCLE_COMMANDS
from dstream.protocol.messages import LifecycleResult
from dstream.records import field, record

if TYPE_CHECKING:
    from dstream.runtime.process import ProviderProcess

DEFAULT_TIMEOUT = 300.0  # seconds a provider may take to create or remove things
EXIT_GRACE = 10.0  # seconds to exit after writing its result

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
    exit_code: Optional[int] = None
    stderr_tail: list[str] = field(default_factory=list)
    # The answer came in the original's shape (resources as plain strings).
    original: bool = False
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
            "lifecycle": self.outcome != NO_INFRASTRUCTURE,
            "status": result.status if result else None,
            "resources": result.resources if result else [],
            "changes": result.changes if result else [],
            "metadata": result.metadata if result else {},
            "message": result.message if result else "",
            "error": self.error,
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
        return not any(p.outcome == FAILED for p in self.providers)

    @property
    def failures(self) -> list[ProviderOutcome]:
        return [p for p in self.providers if p.outcome == FAILED]

    def changes(self) -> list[dict[str, Any]]:  # Any: as LifecycleResult.changes
        return [c for p in self.providers if p.result for c in p.result.changes]

    def reported(self) -> int:
        """Resources reported in the original's shape, which says nothing of changes."""
        return sum(len(p.result.resources) for p in self.providers if p.result and p.original)

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes():
            action = str(change.get("action"))
            counts[action] = counts.get(action, 0) + 1
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
    input that does not describe itself with "lifecycle" is not started."""
    from dstream.runtime.process import prepare_provider, start_provider

    outcome = ProviderOutcome(spec.role, spec.source, FAILED)
    if spec.role == "input":
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
        outcome.error = exc.reason
        return outcome
    try:
        try:
            hs = proc.handshake(timeout=task.start_timeout)
        except ProviderError as exc:
            if spec.role == "input" and proc.first_line is None and proc.poll() is not None:
                # Exited before a handshake: an input of the original's kind refusing
                # a command it was never asked by the original (it asked the output).
                outcome.outcome = NO_INFRASTRUCTURE
                outcome.exit_code = proc.poll()
                return outcome
            outcome.error = exc.reason
            outcome.stderr_tail = exc.stderr_tail
            return outcome
        declared = not hs.is_legacy and FEATURE_LIFECYCLE in hs.features
        # A provider of this protocol ("protocol" in its handshake) that does not declare
        # lifecycle manages nothing; an input may ignore the command and stream: both are
        # stopped before they do anything. Only an original SDK output is read.
        if not declared and (spec.role == "input" or hs.protocol is not None):
            outcome.outcome = NO_INFRASTRUCTURE
            proc.kill()
            return outcome
        proc.close_stdin()
        if declared:
            _read_result(proc, outcome, command, timeout)
        else:
            _read_undeclared(proc, outcome, command, task, timeout)
        return outcome
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.close()


def _not_asked(spec: ProviderSpec, task: TaskSpec, base_dir: str) -> str:
    """Why an input is not asked (it does not describe "lifecycle"), or "" to ask it."""
    from dstream.runtime.describe import describe

    try:
        found = describe(spec, base_dir, task)
    except DstreamError:
        return ""  # starting it reports what is wrong
    if found.lifecycle:
        return ""
    why = f"; {found.note}" if found.note else ""
    return f"not asked: it declares no lifecycle{why}"


def _read_undeclared(
    proc: ProviderProcess, outcome: ProviderOutcome, command: str, task: TaskSpec, timeout: float
) -> None:
    """An output without "lifecycle": its one result line if it writes one (an original
    SDK provider), else it manages nothing (it exits, or it writes something else)."""
    try:
        line = proc.read_line(timeout)
    except TimeoutError:
        line = None
    result = _parse_result(line) if line is not None else None
    if result is None:
        outcome.outcome = NO_INFRASTRUCTURE
        proc.stop(grace=task.stop_grace)
        return
    code = _reap(proc, outcome)
    _judge(outcome, result, command, code)


def _reap(proc: ProviderProcess, outcome: ProviderOutcome) -> Optional[int]:
    """Wait for a provider that answered to exit (killed past EXIT_GRACE); record its
    exit code and last stderr lines."""
    code: Optional[int] = proc.wait(EXIT_GRACE)
    if code is None:
        proc.kill()
        code = proc.wait(5)
    outcome.exit_code = code
    outcome.stderr_tail = proc.stderr_tail()
    return code


def _parse_result(line: bytes) -> Optional[LifecycleResult]:
    try:
        return LifecycleResult.parse(line)
    except ValueError:
        return None


def _judge(
    outcome: ProviderOutcome, result: LifecycleResult, command: str, code: Optional[int]
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
    if result.status == "Failed":
        quoted = result.error or result.message or "no error given"
        outcome.error = f'{label} reported Failed: "{quoted}"'
    elif code != 0:
        from dstream.runtime.process import ended

        outcome.error = f"{label} reported {result.status} but {ended(code)}"
    else:
        outcome.outcome = DONE


def _read_result(
    proc: ProviderProcess, outcome: ProviderOutcome, command: str, timeout: float
) -> None:
    label = outcome.label
    try:
        line = proc.read_line(timeout)
    except TimeoutError:
        proc.kill()
        outcome.exit_code = proc.wait(5)
        outcome.error = f"{label} did not report a result within {timeout:g} s"
        outcome.stderr_tail = proc.stderr_tail()
        return
    code = _reap(proc, outcome)
    if line is None:
        from dstream.runtime.process import ended

        outcome.error = f"{label} {ended(code)} without writing a result"
        return
    try:
        result = LifecycleResult.parse(line)
    except ValueError as exc:  # not JSON, or not a result
        shown = line[:200].decode("utf-8", "replace")
        outcome.error = f"{label} wrote an invalid result ({exc}): {shown}"
        return
    _judge(outcome, result, command, code)
