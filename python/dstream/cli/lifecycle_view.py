"""How init, plan, status and destroy show their results, the way Terraform users read
them: what each provider reported, one summary line that is true (never "No changes"
after a failure), one error block per failed provider, the original's ✅ line only on
success. `status` also says where the task's state is and what checkpoint it holds, and
with the postgres state who runs the task (its lease holder)."""

from __future__ import annotations

import datetime
from typing import Optional, TypedDict

from dstream.cli.view import View
from dstream.config.model import Project
from dstream.config.redact import redact_text
from dstream.errors import ProviderError, visible
from dstream.protocol.messages import KEPT
from dstream.protocol.values import Fragment, as_text, encode_json
from dstream.runtime.lifecycle import (
    DONE,
    FAILED,
    NO_INFRASTRUCTURE,
    SKIPPED,
    ProviderOutcome,
    TaskLifecycle,
    is_unusable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

SYMBOLS = {"create": "+", "delete": "-", "update": "~"}
COLORS = {"create": "\033[32m", "delete": "\033[31m", "update": "\033[33m"}
RESET = "\033[0m"
PAST = {"create": "created", "delete": "destroyed", "update": "changed"}
SUCCESS = {  # the original DStream's lines, word for word
    "init": '✅ Infrastructure for task "{}" initialized successfully',
    "plan": '✅ Infrastructure plan for task "{}" completed successfully',
    "status": '✅ Infrastructure status for task "{}" retrieved successfully',
    "destroy": '✅ Infrastructure for task "{}" destroyed successfully',
}
HINTS = {
    "plan": "fix the cause, then run `dstream plan {}` again (a plan changes nothing)",
    "status": "fix the cause, then run `dstream status {}` again (status changes nothing)",
    "init": "fix the cause, then run `dstream init {}` again: init is idempotent, what "
    "already exists is kept",
    "destroy": "fix the cause, then run `dstream destroy {}` again: destroy is idempotent, "
    "what is already gone is skipped",
}


def success_line(report: TaskLifecycle) -> str:
    return SUCCESS[report.command].format(report.task)


def _paint(action: str, text: str, color: bool) -> str:
    return f"{COLORS.get(action, '')}{text}{RESET}" if color else text


def _item(resource: object) -> dict[str, object]:
    """A resource as the contract shapes it; the original's plain string names one
    and says nothing of whether it exists (no "exists")."""
    if isinstance(resource, dict):
        return resource
    return {"type": "resource", "name": str(resource)}


def _address(item: dict[str, object], original: bool = False) -> str:
    """`type.name`; an answer in the original's shape names a resource by its string,
    shown as written (docs/lifecycle.md)."""
    if original:
        return visible(str(item.get("name", "?")))
    kind = item.get("type") or "resource"
    return visible(f"{kind}.{item.get('name', '?')}")


def _details(details: object) -> str:

    if not isinstance(details, dict):
        return "" if details is None else visible(str(details))
    return visible(
        " ".join(
            f"{k}={v if isinstance(v, str) else encode_json(v, default=str).decode()}"
            for k, v in details.items()
            if v is not None
        )
    )


def render(report: TaskLifecycle, view: View, project: Project) -> None:
    color = view.color
    title = "plan (destroy)" if report.destroy else report.command
    view.line(f'Task "{report.task}": {title}')
    view.line()
    if report.command == "status":
        _render_status(report, view)
        view.line()
        render_state(state_of(project, report.task), view)
    else:
        for p in report.providers:
            _render_provider(report, p, view, color)
    view.line()
    view.line(summary_line(report))
    view.line()


def _render_provider(report: TaskLifecycle, p: ProviderOutcome, view: View, color: bool) -> None:
    if p.outcome == NO_INFRASTRUCTURE:
        note = visible(p.note) or "does not declare lifecycle"  # it may quote a refusal
        view.line(f"  {p.label}: no infrastructure ({note})")
        return
    if p.outcome == SKIPPED:
        view.line(f"  {p.label}: not asked (the other provider failed first)")
        return
    if p.outcome == DONE and report.blind(p):
        view.line(
            f"  {p.label}: does not say what destroy would remove (a provider of the "
            "original's kind answers a destroy preview with its plan)"
        )
        return
    changes = p.result.changes if p.result else []
    note = "failed (see the error below)" if p.outcome == FAILED else ""
    note = note or visible(p.result.message if p.result else "")
    view.line(f"  {p.label}: {note}" if note and not changes else f"  {p.label}:")
    if p.original and not changes:
        for r in p.result.resources if p.result else []:
            view.line(f"    {visible(str(r))}")
    for change in changes:
        action = change["action"]  # one of CHANGE_ACTIONS: runtime/lifecycle.py kept no other
        verb = "" if report.command == "plan" else PAST[action] + " "
        reason = f"  ({visible(str(change['reason']))})" if change.get("reason") else ""
        text = f"    {SYMBOLS[action]} {verb}{_address(change, p.original)}{reason}"
        view.line(_paint(action, text, color))
    if report.command != "status":  # status shows them in its table, and as errors
        for r in p.result.resources if p.result else []:
            if is_unusable(r):
                assert isinstance(r, dict)  # is_unusable says so
                hint = f" ({visible(as_text(r['hint']))})" if r.get("hint") else ""
                view.line(f"    ! {_address(r)}: {visible(as_text(r.get('problem')))}{hint}")


def blind_words(blind: list[ProviderOutcome]) -> str:
    """What destroy does with providers that cannot preview it (TaskLifecycle.blind)."""
    labels = ", ".join(p.label for p in blind)
    return (
        f"destroy asks {labels} to remove what it manages, and dstream cannot preview "
        "that: a provider of the original's kind answers a preview with its plan"
    )


def summary_line(report: TaskLifecycle) -> str:
    counts = report.counts()
    failed = ", ".join(p.label for p in report.failures)
    # True whether a provider gave no answer or answered that it failed.
    blocks = len(report.failures) + len(report.unusable())  # render_failures' blocks
    below = "(see the errors below)" if blocks > 1 else "(see the error below)"
    if report.ok and not any(counts.values()) and report.reported():
        # The original's shape lists resources and says nothing of what changed.
        return f"{report.command.capitalize()} done: {report.reported()} resource(s) reported."
    if report.command == "plan":
        if not report.ok:
            return f"Plan failed in {failed} {below}. Nothing was changed."
        if not any(counts.values()):
            blind = report.blind_ones()
            if blind:
                return f"Plan done: what destroy would remove is not known ({blind_words(blind)})."
            if report.undecided():
                return "Plan done: what would change is not known (an answer did not say)."
            if all(p.outcome == NO_INFRASTRUCTURE for p in report.providers):
                return "No changes. Neither provider manages infrastructure."
            unfit = sum(1 for r in _resources(report) if is_unusable(r))
            if unfit:  # there, but not as configured, and no change of the plan's fixes it
                return (
                    f"No changes, but {unfit} resource(s) do not match the configuration "
                    "(see above)."
                )
            kept = _kept_words(report)
            if kept and report.destroy:  # destroy would leave these: not "No changes"
                return f"Nothing to destroy: {kept}"
            if kept:
                return f"No changes. {kept}"
            return "No changes. The infrastructure matches the configuration."
        planned = (
            f"Plan: {counts['create']} to create, {counts['update']} to change, "
            f"{counts['delete']} to destroy."
        )
        kept = _kept_words(report)
        return f"{planned} {kept}" if kept else planned
    if report.command == "status":
        if report.failures:
            return f"Status incomplete: it failed in {failed} {below}."
        if all(p.outcome == NO_INFRASTRUCTURE for p in report.providers):
            return "Neither provider manages infrastructure: nothing to check."
        resources = _resources(report)
        missing = sum(1 for r in resources if isinstance(r, dict) and not r.get("exists"))
        to_init = f"{missing} resource(s) missing: run `dstream init {report.task}`."
        unusable = len(report.unusable())
        if unusable:
            broken = f"{unusable} resource(s) exist but cannot be used {below}."
            return f"{broken} {to_init}" if missing else broken
        if missing:
            return to_init
        return "All resources exist." if resources else "No resources reported."
    done = ", ".join(f"{n} {PAST[a]}" for a, n in counts.items() if n)
    if report.ok:
        complete = f"{report.command.capitalize()} complete: {done or 'nothing changed'}."
        kept = _kept_words(report)
        return f"{complete} {kept}" if kept else complete
    if not done and report.reported():  # the original's shape: what it made, unsaid
        done = f"{report.reported()} resource(s) reported (see above)"
    return (
        f"{report.command.capitalize()} stopped by an error in {failed}: "
        f"{done or 'no change reported'}."
    )


def _resources(report: TaskLifecycle) -> list[object]:
    """Every resource the providers reported (a dict, or the original's plain string)."""
    return [r for p in report.providers if p.result for r in p.result.resources]


def _kept_words(report: TaskLifecycle) -> str:
    """The resources the providers keep where the command would remove them (KEPT of a
    plan result's metadata), as a sentence for the closing line: each one's why and what
    to do, or, from a provider that sends only their count, "(see above)", where its
    message says; "" when none is kept (what is neither a list nor a count is neither)."""
    reasons: list[str] = []
    counted = 0
    for p in report.providers:
        kept = p.result.metadata.get(KEPT) if p.result else None
        if isinstance(kept, list):
            reasons += [visible(as_text(reason)).rstrip(".") for reason in kept]
        elif isinstance(kept, int) and not isinstance(kept, bool) and kept > 0:
            counted += kept
    if not reasons and not counted:
        return ""
    if not reasons:
        return f"{counted} resource(s) no longer in the configuration are kept (see above)."
    more = f"; and {counted} more (see above)" if counted else ""
    return f"{len(reasons) + counted} resource(s) kept: {'; '.join(reasons)}{more}."


def render_failures(report: TaskLifecycle, view: View) -> None:
    """One error block per failed provider, then per resource `status` found unusable
    (View.error_block: one record each with --log-format json): what, which (the
    message names it), its last stderr lines, its hint; the last one then the command's
    hint."""
    errors = errors_of(report)
    for at, error in enumerate(errors):
        then = HINTS[report.command].format(report.task) if at == len(errors) - 1 else None
        view.error_block(error, task=report.task, then=then)


def errors_of(report: TaskLifecycle) -> list[ProviderError]:
    """What failed the command, one error each (the error blocks, --json's "errors")."""
    return [_error(failure) for failure in report.failures] + _unusable_errors(report)


def _unusable_errors(report: TaskLifecycle) -> list[ProviderError]:
    """Each resource `status` found there but unusable as the error it stands for: the
    provider's problem and its fix."""
    errors = []
    for p, resource in report.unusable():
        problem = resource.get("problem") or "the provider gave no reason"
        hint = resource.get("hint")
        errors.append(
            ProviderError(
                f"{p.label}: {_address(resource)} exists but cannot be used: "
                + visible(as_text(problem)),
                provider=p.label,
                hint=visible(as_text(hint)) if hint else None,
            )
        )
    return errors


def _error(failure: ProviderOutcome) -> ProviderError:
    """A failed provider's outcome as the error it stands for."""
    return ProviderError(
        failure.error or f"{failure.label} failed",
        provider=failure.label,
        hint=failure.hint,
        stderr_tail=failure.stderr_tail,
    )


def _render_status(report: TaskLifecycle, view: View) -> None:
    rows = [("ROLE", "RESOURCE", "EXISTS", "DETAILS")]
    for p in report.providers:
        if p.outcome == NO_INFRASTRUCTURE:
            rows.append((p.role, "(no infrastructure)", "-", p.provider))
            continue
        if p.outcome == FAILED and not (p.result and p.result.resources):
            rows.append((p.role, "(unknown: status failed)", "?", p.provider))
            continue
        resources = p.result.resources if p.result else []
        if not resources:
            rows.append((p.role, "(none)", "-", visible(p.result.message if p.result else "")))
        for r in map(_item, resources):
            said = r.get("exists")
            exists = "?" if said is None else "yes" if said else "no"  # ?: not said
            exists = "unusable" if is_unusable(r) else exists  # why: an error below
            rows.append((p.role, _address(r, p.original), exists, _details(r.get("details"))))
    # Masked before measured: padded by a secret's own length, the table would tell it
    # (and go out of line once View masked it).
    shown = [[redact_text(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in shown) for i in range(3)]
    for row in shown:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        view.line("  " + "  ".join([*cells, row[3]]).rstrip())
    for p in report.providers:
        if p.note:  # why it was not asked: one line, below the table
            view.line(f"  {p.label}: {visible(p.note)}")  # it may quote a refusal


class StateView(TypedDict):
    """What `status` shows of a task's state (and puts under "state" with --json)."""

    store: str
    # The stored bytes, written verbatim (as `state show` does): decoded and encoded
    # again, a checkpoint nested deeper than the encoder goes could not be shown.
    checkpoint: Optional[Fragment]
    updated_at: Optional[float]


def state_of(project: Project, task: str) -> StateView:
    """Where the task's state lives and what it holds (for `status`). A store that
    cannot be read raises its DstreamError: `status` then fails, in both modes (it
    reads the state before it asks any provider: cli/status.py)."""
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        record = store.get(task)
        where = store.description
    if record is None:
        return {"store": where, "checkpoint": None, "updated_at": None}
    return {"store": where, "checkpoint": Fragment(record.raw), "updated_at": record.updated_at}


def render_state(state: StateView, view: View) -> None:
    from dstream.runtime.summary import value

    updated_at, checkpoint = state["updated_at"], state["checkpoint"]
    if updated_at is None or checkpoint is None:
        view.line(f"  state: {state['store']}: no checkpoint stored (a run starts from the top)")
    else:
        when = datetime.datetime.fromtimestamp(updated_at, datetime.timezone.utc)
        view.line(f"  state: {state['store']}")
        view.line(
            f"  checkpoint: {value(checkpoint.contents)} "
            f"(stored {when.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
        )


class LeaseView(TypedDict):
    """Who runs a task: the holder of its live lease (`status --json`, "lease")."""

    owner: str
    epoch: int
    acquired_at: float  # seconds since the epoch, on the database clock
    expires_in: float  # seconds; renewed while the holder runs


def leases_of(project: Project, names: list[str]) -> dict[str, Optional[LeaseView]]:
    """Each task's live lease, None when nobody runs it (an expired or released lease
    is nobody's). Only the postgres state keeps leases: {} with any other."""
    if project.state.backend != "postgres":
        return {}
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        rows = {row.task: row for row in store.leases()}  # type: ignore[attr-defined]
    found: dict[str, Optional[LeaseView]] = dict.fromkeys(names)
    for name in names:
        row = rows.get(name)
        if row is not None and row.expires_in > 0:
            found[name] = LeaseView(
                owner=row.owner,
                epoch=row.epoch,
                acquired_at=float(row.acquired_at),
                expires_in=float(row.expires_in),
            )
    return found


def task_document(report: TaskLifecycle, project: Project) -> dict[str, object]:
    doc = report.to_dict()
    if report.command == "status":
        doc["state"] = state_of(project, report.task)
        leases = leases_of(project, [report.task])
        if leases:
            doc["lease"] = leases[report.task]
    return doc
