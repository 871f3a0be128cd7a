"""The run summary's numbers at their units' boundaries (docs/operations.md: durations
read `540 ms`, `12.4 s`, `3m 05s`, `2h 01m`; sizes `512 B`, `1.5 MiB`): a value is
rounded to the precision it is shown with first, then its unit is chosen, so a value
just under a boundary never reads as `1000 ms`, `60.0 s` or `1024.0 KiB`."""

from __future__ import annotations

import pytest

from dstream.errors import ExitCode
from dstream.runtime.result import RunSummary
from dstream.runtime.summary import details, duration, rate, size, stopped_line


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "<1 ms"),
        (0.0009996, "<1 ms"),  # under a millisecond, whatever it rounds to
        (0.001, "1 ms"),
        (0.54, "540 ms"),
        (0.9994, "999 ms"),
        (0.9996, "1.0 s"),
        (1.0, "1.0 s"),
        (12.44, "12.4 s"),
        (59.94, "59.9 s"),
        (59.96, "1m 00s"),
        (60.0, "1m 00s"),
        (185.0, "3m 05s"),
        (3599.4, "59m 59s"),
        (3599.6, "1h 00m"),
        (7260.0, "2h 01m"),
        (7169.0, "1h 59m"),
        (7171.0, "2h 00m"),  # 1h 59m 31s: the nearest minute, as seconds are rounded
    ],
)
def test_duration_rounds_before_it_chooses_the_unit(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1023.6, "1.0 KiB"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1048524, "1023.9 KiB"),
        (1048575, "1.0 MiB"),
        (1048576, "1.0 MiB"),
        (1.5 * 1024**2, "1.5 MiB"),
        (1024**3 - 1, "1.0 GiB"),
        (5 * 1024**4, "5120.0 GiB"),  # the largest unit has no ceiling
    ],
)
def test_size_rounds_before_it_chooses_the_unit(n: float, shown: str) -> None:
    assert size(n) == shown


@pytest.mark.parametrize(
    ("per_second", "shown"),
    [(0.3, "0.3"), (0.012, "0.012"), (9.44, "9.4"), (9.5, "10"), (1234.4, "1,234")],
)
def test_a_slow_rate_is_not_shown_as_zero(per_second: float, shown: str) -> None:
    assert rate(per_second) == shown


@pytest.mark.parametrize(
    ("task", "shown"),
    [("orders", "orders"), ("dbo.Orders/eu-1", "dbo.Orders/eu-1"),
     ('we"ird \\ name', "'we\"ird \\ name'"), ("it's", "'it'\"'\"'s'")],
)  # fmt: skip
def test_the_resume_hint_names_a_task_as_a_shell_reads_it_back(task: str, shown: str) -> None:
    """A task's name may hold spaces and quotes; the hint's command is pasted."""
    summary = RunSummary(task=task, outcome="interrupted", stopped_by=15)
    line = stopped_line([summary], ExitCode.TERMINATED)
    assert line.startswith(f"stopped by SIGTERM: `dstream run {shown}`"), line


def test_a_table_name_with_a_line_break_stays_on_its_line() -> None:
    """A table's name is the input's text: a line break in it split the summary's line."""
    summary = RunSummary(task="t", outcome="completed")
    summary.counters = {"frames": 1, "data_frames": 1, "tables": {"a\nb": 1}}
    assert "  table    a\\nb: 1" in details(summary)
