"""When an agent takes a task again after its run ended by itself, and what it says
then (runtime/agent.py). An agent keeps every task of its configuration running, as
a Deployment's pod is restarted whatever its exit: a task whose run completed (its
input ended) is taken again after ENDED_COOLDOWN and resumes from its stored
checkpoint; one whose run failed (its `restart` attempts, if any, spent) after a
cool-down that doubles with each failure in a row on this agent, up to
MAX_FAILED_COOLDOWN, as Kubernetes backs off a crash-looping container. Another agent
may take it sooner: the cool-down is this agent's. Each end is said when it happens:
the agent's summaries come only when it stops, maybe days later."""

from __future__ import annotations

from typing import Optional

from dstream import logs
from dstream.errors import ExitCode
from dstream.runtime.pipeline import RunSummary
from dstream.runtime.summary import duration, exit_code_of

ENDED_COOLDOWN = 30.0
MAX_FAILED_COOLDOWN = 300.0


def cooldown(failures: int) -> float:
    """Seconds before this agent takes a task again, after `failures` failed runs in a
    row (0: its run completed)."""
    return min(MAX_FAILED_COOLDOWN, ENDED_COOLDOWN * 2.0 ** max(0, failures - 1))


def failed(summary: RunSummary) -> bool:
    return exit_code_of(summary) != ExitCode.OK


def say_ended(agent: str, summary: RunSummary, wait: float) -> None:
    """The end of a run that ended by itself: an error record with the failure's hint
    (for what alerts on the log), or an info line; both say when it is taken again."""
    again = f"this agent takes it again in {wait:.0f}s (another agent may sooner)"
    if not failed(summary):
        # A run that cannot resume (an output of the original's kind acknowledges no
        # checkpoint) starts over each time it is taken: said, never a resume promised.
        resumes = (
            "resuming from its stored checkpoint"
            if summary.resumable
            else "and, as it cannot resume (no checkpoint of it is stored), it sends "
            "everything again: run a task meant to end once with `dstream run`"
        )
        logs.log.info(
            "completed on agent %s after %s; an agent keeps every task running: %s, %s",
            agent, duration(summary.duration), again, resumes, task=summary.task,
        )  # fmt: skip
        return
    error = summary.error
    reason = error.reason if error is not None else summary.outcome
    code = int(exit_code_of(summary))
    hint: Optional[dict[str, object]] = None
    if error is not None and error.hint:
        hint = {"hint": error.hint}
    logs.log.error(
        "failed on agent %s: %s (exit code %d); %s", agent, reason, code, again,
        task=summary.task, fields=hint,
    )  # fmt: skip
