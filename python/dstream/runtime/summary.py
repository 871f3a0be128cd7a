"""The run summary every `dstream run` ends with (human on stderr, or --json)."""

from __future__ import annotations

from typing import Any

from dstream.cli.view import View
from dstream.runtime.pipeline import RunSummary


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def human_lines(summary: RunSummary) -> list[str]:
    c: dict[str, Any] = summary.counters
    rate = c.get("frames", 0) / summary.duration if summary.duration else 0.0
    lines = [
        f"task {summary.task}: {summary.outcome} in {summary.duration:.2f} s"
        + (f" after {summary.attempts} attempts" if summary.attempts > 1 else ""),
        f"  frames   {c.get('frames', 0):,} ({c.get('data_frames', 0):,} data, "
        f"{c.get('checkpoint_frames', 0):,} checkpoints), {_size(c.get('bytes', 0))}, "
        f"{rate:,.0f} frames/s",
    ]
    if c.get("invalid_frames"):
        lines.append(
            f"  invalid  {c['invalid_frames']:,} (skipped {c.get('skipped', 0):,}, "
            f"dead-lettered {c.get('dead_lettered', 0):,})"
        )
    if c.get("log_lines"):
        lines.append(f"  log      {c['log_lines']:,} stdout lines of the legacy input, logged")
    for table, count in sorted((c.get("tables") or {}).items()):
        lines.append(f"  table    {table}: {count:,}")
    if not summary.resumable:
        lines.append(
            "  state    resume is not possible: the output does not acknowledge checkpoints"
        )
    if summary.checkpoints_acknowledged:
        lines.append(
            f"  state    {summary.checkpoints_acknowledged:,} checkpoints acknowledged, "
            f"stored {(summary.last_checkpoint or b'').decode('utf-8', 'replace')[:200]}"
        )
    lines.extend(f"  note     {note}" for note in summary.notes)
    return lines


def render_summaries(summaries: list[RunSummary], view: View, *, quiet: bool) -> None:
    if view.json:
        view.document({"ok": all(s.error is None for s in summaries),
                       "tasks": [s.to_dict() for s in summaries]})  # fmt: skip
        return
    for summary in summaries:
        if not quiet and summary.counters:  # a task that never started has only its error
            for line in human_lines(summary):
                view.info(line)
        if summary.error is not None:
            view.error(summary.error)
