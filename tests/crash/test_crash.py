"""At-least-once under SIGKILL: counter -> dstream-file through `dstream run`, with
dstream itself, the input or the output killed at random instants and the task
restarted until it completes (tests/crash/harness.py has the checks).

    DSTREAM_CRASH_LONG=1     100 kill points per target and a longer stream
    DSTREAM_CRASH_SEED=N     replay a run (the seed is in every failure message)
    DSTREAM_CRASH_REPORT=F   also write the JSON report (duplicates, kills, ...) to F
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from tests.crash.harness import Scenario, children, crash_loop, read_output

LONG = os.environ.get("DSTREAM_CRASH_LONG") == "1"
KILLS = 100 if LONG else 20
MAX_COUNT = 100_000 if LONG else 10_000
REPORTS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[float, int]:
    """How long one clean run takes here and the bytes per envelope in the file, to
    spread the kills over. Also the baseline itself: without kills, the task completes
    with every seq exactly once."""
    scenario = Scenario(tmp_path_factory.mktemp("baseline"), MAX_COUNT)
    started = time.monotonic()
    proc = scenario.start()
    _, err = proc.communicate(timeout=300)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    contents = read_output(scenario.out)
    assert contents.seqs == list(range(1, MAX_COUNT + 1))
    assert scenario.checkpoint() == MAX_COUNT
    return duration, scenario.out.stat().st_size // MAX_COUNT


@pytest.fixture(scope="module")
def write_report() -> Any:
    yield
    path = os.environ.get("DSTREAM_CRASH_REPORT")
    if path and REPORTS:
        Path(path).write_bytes(orjson.dumps(REPORTS, option=orjson.OPT_INDENT_2))


@pytest.mark.parametrize("target", ["dstream", "input", "output"])
def test_sigkill_at_random_points_loses_nothing(
    target: str,
    tmp_path: Path,
    baseline: tuple[float, int],
    write_report: None,
    record_property: Callable[[str, object], None],
) -> None:
    seed = int(os.environ.get("DSTREAM_CRASH_SEED") or random.randrange(1 << 32))
    duration, line_bytes = baseline
    report = crash_loop(
        tmp_path,
        target,
        kills=KILLS,
        max_count=MAX_COUNT,
        startup=duration / 2,
        line_bytes=line_bytes,
        seed=seed,
    )
    summary = report.to_dict()
    REPORTS[target] = summary
    record_property("crash_report", orjson.dumps(summary).decode())
    (tmp_path / "crash-report.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(
        f"\ncrash[{target}] seed={seed}: {report.kills} kills ({report.kills_mid_stream} "
        f"mid-stream), {report.runs} runs, {report.rounds} rounds, "
        f"{report.duplicates} duplicates, {report.torn_lines} torn lines, "
        f"exit codes {report.exit_codes}"
    )
    assert report.kills >= KILLS
    # Guards the test against only killing before anything streamed through dstream,
    # where it would prove little: three quarters of the kills are planned mid-stream,
    # and a kill counts as such only when the output file had grown before it was sent.
    assert report.kills_mid_stream >= KILLS // 4, summary


def test_restart_policy_resumes_after_a_provider_is_killed(tmp_path: Path) -> None:
    """With `restart { attempts = N }`, dstream itself restarts the task from the stored
    checkpoint after its input is killed, and the run still ends in success. The input
    counts one envelope per millisecond so that it is surely still running when killed."""
    count = 1500
    scenario = Scenario(tmp_path, count, attempts=3, interval_ms=1)
    proc = scenario.start()
    while scenario.checkpoint() == 0 and proc.poll() is None:
        time.sleep(0.005)
    inputs = [pid for pid, role in children(proc.pid).items() if role == "input"]
    assert proc.poll() is None and inputs, "the run ended before its input could be killed"
    os.kill(inputs[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr[-3000:]
    assert "restarting" in stderr
    scenario.check_after_kill("restart policy")
    assert read_output(scenario.out).unique == set(range(1, count + 1))
