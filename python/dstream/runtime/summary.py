"""The run summary every `dstream run` ends with: human lines, the --json document and the
exit code, all derived from the same RunSummary so they can never disagree.

Values a provider chose (a checkpoint) are shown as compact JSON, never as a Python repr;
durations with the precision a person reads (`3 ms`, `1.4 s`, `2m 05s`).
"""

from __future__ import annotations

import signal

from dstream import _core
from dstream.config.redact import redact_cut
from dstream.errors import (
    STOPPED,
    ConfigError,
    DstreamError,
    ExitCode,
    Interrupted,
    ProviderRefused,
    visible,
)
from dstream.protocol.values import encode_json
from dstream.runtime.pipeline import RunSummary
from dstream.runtime.signals import LeftBehind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Optional

MAX_VALUE_CHARS = 120  # a checkpoint shown in a summary line is cut beyond this


def duration(seconds: float) -> str:
    """`0.4 ms` is noise to a person: under a millisecond reads `<1 ms`. Each unit's
    value is rounded as it is shown before the unit is chosen: 0.9996 s is `1.0 s`,
    never `1000 ms`; 59.96 s is `1m 00s`, never `60.0 s`."""
    if seconds < 0.001:
        return "<1 ms"
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis} ms"
    tenths = round(seconds * 10)
    if tenths < 600:
        return f"{tenths / 10:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours}h {minutes:02d}m"


def value(obj: object) -> str:
    """A provider's value (a checkpoint: its exact JSON bytes) as compact JSON, cut to
    MAX_VALUE_CHARS."""
    if isinstance(obj, bytes):
        text = obj.decode("utf-8", "replace")
    else:
        text = encode_json(obj, default=str, non_str_keys=True).decode()
    return redact_cut(text, MAX_VALUE_CHARS)


_SIZE_UNITS = ("KiB", "MiB", "GiB")  # above bytes; the last has no ceiling


def size(n: float) -> str:
    """A byte count for people: `512 B`, `1.5 MiB`; rounded as shown before the unit is
    chosen (1048575 B is `1.0 MiB`, never `1024.0 KiB`)."""
    if round(n) < 1024:
        return f"{round(n)} B"
    power = 1
    while power < len(_SIZE_UNITS) and round(n * 10 / 1024**power) >= 10240:
        power += 1
    return f"{round(n * 10 / 1024**power) / 10:.1f} {_SIZE_UNITS[power - 1]}"


def rate(per_second: float) -> str:
    """A rate as the summary shows it: whole numbers from 10 on, else two significant
    digits (6 frames in 20 s read `0.3`, not `0`)."""
    return f"{per_second:,.0f}" if per_second >= 9.5 else f"{per_second:.2g}"


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code_of(summary: RunSummary) -> ExitCode:
    """A task stopped by a signal exits 128+signal (130 SIGINT, 143 SIGTERM), also when
    the stop was forced or came while it waited to restart; else its error's code (1
    for a task --fail-fast stopped: StoppedByFailure). A task an agent handed over to
    the others failed of nothing: 0, as the agent counts it (runtime/agent.py)."""
    if summary.stopped_by is not None:
        return ExitCode(128 + summary.stopped_by)
    if summary.error is not None:
        return ExitCode(summary.error.exit_code)
    ok = ("completed", "removed", "handed over")
    return ExitCode.OK if summary.outcome in ok else ExitCode.FAILURE


def exit_code(summaries: list[RunSummary]) -> ExitCode:
    """A real failure wins over an interruption (a script must see that something broke);
    then the first interruption's signal; else success."""
    codes = [exit_code_of(s) for s in summaries]
    failed = [c for c in codes if c != ExitCode.OK and c not in STOPPED]
    stopped = [c for c in codes if c in STOPPED]
    return failed[0] if failed else stopped[0] if stopped else ExitCode.OK


def outcome_of(summary: RunSummary) -> str:
    """`completed`, `failed`, `interrupted by SIGINT` (a forced stop's broken pipes are
    consequences of the stop, not failures of their own), or `stopped` (by --fail-fast:
    `head` says which task's failure)."""
    if summary.stopped_by is not None:
        return f"interrupted by {signal_name(summary.stopped_by)}"
    if summary.outcome == "removed":
        return "removed by a reload (SIGHUP) and stopped"
    return summary.outcome


def error_of(summary: RunSummary) -> Optional[DstreamError]:
    """The error block to show, or None. A stopped run has no error block: its outcome
    line says it was interrupted (or which task's failure stopped it, --fail-fast), and
    what its last attempt ended with (a provider killed by a forced stop, or the failure
    it was waiting to restart after) is a note."""
    stopped = summary.stopped_by is not None or summary.stopped_by_task is not None
    return None if stopped else summary.error


def _counted(summary: RunSummary) -> bool:
    """Whether the summary has counts to show: its task streamed (its stream started,
    whether or not a frame came: a quiet source streams for hours and reads nothing), or
    ended as asked."""
    c = summary.counters
    # An output that refused read nothing, whatever the input had sent by then (also
    # when the refusal is shown as the config mistake it was: describe.explain_refusal).
    error = summary.error
    explained = isinstance(error, ConfigError) and error.refusal is not None
    refused = isinstance(error, ProviderRefused) or explained
    streamed = summary.streamed or bool(c.get("frames") or c.get("bytes_read"))
    return (streamed and not refused) or summary.outcome in ("completed", "removed")


def head(summary: RunSummary) -> str:
    """A task's first summary line: its outcome, after how long, in how many attempts.
    It does not name the task: a text line does (`task T: ...`, logs.about), a record
    has it as its field."""
    attempts = f" ({summary.attempts} attempts)" if summary.attempts > 1 else ""
    if summary.reloads:
        attempts += f" (restarted by {summary.reloads} reload(s): the totals include them)"
    if _counted(summary):
        line = f"{outcome_of(summary)} after {duration(summary.duration)}"
    else:  # it failed to start: its duration says nothing
        line = f"{outcome_of(summary)} before streaming"
    if summary.stopped_by_task is not None:
        line += f" because task {summary.stopped_by_task!r} failed (--fail-fast)"
    return line + attempts


def details(summary: RunSummary) -> list[str]:
    """The lines below a task's head: notes, counts, tables, state."""
    c = summary.counters
    lines: list[str] = []
    error = summary.error
    if summary.stopped_by is not None and error is not None and not isinstance(error, Interrupted):
        lines.append(f"  note     the last attempt ended with: {error.reason}")
    elif isinstance(error, LeftBehind):  # why dstream ended without it
        lines.append(f"  note     {error.reason}")
    if not _counted(summary):  # no counts, but what the user must know (frames lost)
        return lines + [f"  note     {note}" for note in summary.notes]
    per_second = c.get("frames", 0) / summary.duration if summary.duration >= 1 else None
    lines.append(
        f"  frames   {c.get('frames', 0):,} ({c.get('data_frames', 0):,} data, "
        f"{c.get('checkpoint_frames', 0):,} checkpoints), {size(c.get('bytes', 0))}"
        + (f", {rate(per_second)} frames/s" if per_second is not None else "")
    )
    if c.get("checkpoints_coalesced"):
        lines.append(f"  note     {coalesced_note(c['checkpoints_coalesced'])}")
    if c.get("invalid_frames"):
        lines.append(
            f"  invalid  {c['invalid_frames']:,} (skipped {c.get('skipped', 0):,}, "
            f"dead-lettered {c.get('dead_lettered', 0):,})"
        )
    if c.get("log_lines"):
        lines.append(f"  log      {c['log_lines']:,} stdout lines of the legacy input, logged")
    for table, count in sorted((c.get("tables") or {}).items()):
        lines.append(f"  table    {visible(table)}: {count:,}")  # a provider's text
    if not summary.state_kept:
        lines.append(
            f"  state    {summary.checkpoints_acknowledged:,} checkpoint(s) acknowledged, not "
            "kept: the demo's state is temporary, so every run of it starts from the beginning"
        )
        lines.extend(f"  note     {note}" for note in summary.notes)
        return lines
    # What made resume impossible: withheld checkpoints (legacy.py), or none stored.
    none_stored = not summary.resumable and not summary.withheld
    if not summary.resumable:
        why = (
            "no checkpoint is stored for this task"
            if none_stored
            else "the output does not acknowledge checkpoints"
        )
        lines.append(f"  state    resume is not possible: {why}")
    if summary.checkpoints_acknowledged:
        lines.append(
            f"  state    {summary.checkpoints_acknowledged:,} checkpoint(s) acknowledged, "
            + _stored(summary)
        )
    elif c.get("checkpoint_frames") or (c.get("checkpoints_withheld") and not summary.withheld):
        # (the line above said when none is stored; withheld from an output that never
        # answered: legacy.py)
        unchanged = "" if none_stored else ": the stored one is unchanged"
        lines.append(f"  state    no checkpoint acknowledged{unchanged}")
    lines.extend(f"  note     {note}" for note in summary.notes)
    return lines


def coalesced_note(count: int) -> str:
    """What the summary says of checkpoints the pump did not forward while the most it
    lets await an acknowledgement did (docs/delivery.md, "Checkpoints in flight")."""
    return (
        f"{count:,} checkpoint(s) coalesced into later ones while "
        f"{_core.MAX_IN_FLIGHT_CHECKPOINTS:,} sent ones awaited acknowledgement (those "
        "still in the pipes count too): nothing is lost, only the resume points are fewer "
        "(docs/delivery.md)"
    )


def _stored(summary: RunSummary) -> str:
    """What became of the checkpoints a run acknowledged: the last it stored, or none
    (a read-only state, a full disk) and what stays stored."""
    if summary.last_checkpoint is not None:
        return f"stored {value(summary.last_checkpoint)}"
    kept = summary.stored_checkpoint
    return "none stored" + (
        "" if kept is None else f": the stored one is unchanged ({value(kept)})"
    )


def success_line(summary: RunSummary) -> str:
    """The original DStream's success line, printed only when it is true."""
    return f'✅ Task "{summary.task}" executed successfully'


def failed_line(summaries: list[RunSummary], code: ExitCode) -> str:
    """The last line of a run of several tasks that failed: which failed, since their
    error blocks stand among the summaries, and the last of those may be a task that
    completed. A task --fail-fast stopped for another's failure did not fail of its own
    (it has no error block): it is named as stopped. An agent's summaries are runs, a
    task's several ones when it was taken again: each is judged alone (a task that
    failed, then was interrupted, failed), tasks are counted once, and the runs that
    failed are counted too."""
    tasks = _names(summaries)
    stopped = _names(s for s in summaries if s.stopped_by_task is not None)
    failing = [
        s
        for s in summaries
        if s.stopped_by_task is None and exit_code_of(s) not in (ExitCode.OK, *STOPPED)
    ]
    failed = _names(failing)
    runs = ""
    if len(tasks) < len(summaries):  # an agent's: some task ran more than once
        of = [s for s in summaries if s.task in failed]
        its = "its" if len(failed) == 1 else "their"
        runs = f" in {len(failing)} of {its} {len(of)} runs"
    errors = "its error is" if len(failing) == 1 else "their errors are"
    also = f"; --fail-fast stopped {', '.join(stopped)}" if stopped else ""
    return (
        f"{len(failed)} of {len(tasks)} tasks failed: {', '.join(failed)}{runs} "
        f"(exit code {int(code)}); {errors} above{also}"
    )


def _names(summaries: Iterable[RunSummary]) -> list[str]:
    """The tasks of `summaries`, each once, in their order."""
    return list(dict.fromkeys(s.task for s in summaries))


def stopped_line(
    summaries: list[RunSummary],
    code: ExitCode,
    options: str = "",
    variables: bool = False,
    *,
    agent: bool = False,
) -> str:
    """The last line of an interrupted run: what stopped it and how to go on. `options`:
    those of the run that decide what resumes (`-c etl/x.hcl`), as the user gave them;
    `variables`: it was given variables, which are named, never repeated (secrets);
    `agent`: an agent stopped, which goes on as an agent, whatever tasks it held."""
    stopped = [s for s in summaries if s.stopped_by is not None]
    names = "" if agent else " ".join(_shell_word(s.task) for s in stopped)
    verb = "dstream agent" if agent else "dstream run"
    command = " ".join(part for part in (verb, options, names) if part)
    same = " with the same --var/--var-file" if variables else ""
    resuming = [s.task for s in stopped if s.resumable]
    fresh = [s.task for s in stopped if not s.resumable]
    if agent or (resuming and not fresh):
        goes_on = "resumes from the last stored checkpoint"
    elif not resuming:  # the summary said why (resume is not possible)
        goes_on = "starts again: no checkpoint is stored to resume from"
    else:  # each task's summary said which
        goes_on = (
            f"resumes {' '.join(resuming)} from the last stored checkpoint; "
            f"{' '.join(fresh)} {'starts' if len(fresh) == 1 else 'start'} again: no "
            "checkpoint is stored to resume from"
        )
    return f"stopped by {signal_name(int(code) - 128)}: `{command}`{same} {goes_on}"


def _shell_word(name: str) -> str:
    """A task's name as a shell reads it back (a name may hold spaces and quotes): the
    hint's command is pasted."""
    if name.isascii() and all(c.isalnum() or c in "._-/" for c in name):
        return name
    import shlex  # only for a name that needs it (~3.5 M instructions: issue 22)

    return shlex.quote(name)


def entry(summary: RunSummary) -> dict[str, object]:
    """A task's entry of the --json document, and of its summary record (`summary`)."""
    doc = summary.to_dict()
    doc["outcome"] = "interrupted" if summary.stopped_by is not None else summary.outcome
    doc["exit_code"] = int(exit_code_of(summary))
    return doc


def document(summaries: list[RunSummary], output_lines: int, code: ExitCode) -> dict[str, object]:
    """The --json document of a run or an agent, which exits with `code` (its tasks'
    `exit_code`, or an agent's signal's: cli/run.py `render` decides)."""
    return {
        "ok": code == ExitCode.OK,
        "exit_code": int(code),
        "output_lines": output_lines,
        "tasks": [entry(summary) for summary in summaries],
    }
