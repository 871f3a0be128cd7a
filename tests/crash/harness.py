"""Run `dstream run` on counter -> dstream-file, SIGKILL one process at a random
instant, check what is on disk, restart; repeat. Used by test_crash.py.

The checks after every kill are the delivery contract (docs/delivery.md):
- the stored checkpoint never runs ahead of the output's file: every seq up to the
  checkpoint is in the file (the output acknowledged only what it had fsync'ed);
- the stored checkpoint never moves backwards.
At the end every seq appears at least once; duplicates are counted, not forbidden.
A kill counts as mid-stream only when the output file had grown in that run just before
the kill was sent (envelopes went through dstream), whatever triggered it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import orjson

from dstream.state.file import FileStore
from tests import workspace
from tests.workspace import alive, dstream_argv

TASK = "crash"
CONFIG = """\
state {{ path = "{state}" }}
task "{task}" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = {interval}
      max_count        = {max_count}
      checkpoint_every = {every}
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "{out}" }}
  }}
  restart {{
    attempts = {attempts}
    backoff  = 0.05
  }}
}}
"""
# A process that outlives this after dstream (or its sibling) died is a hang, not slowness.
EXIT_BOUND = 60.0


@dataclass
class FileContents:
    seqs: list[int]  # in file order, duplicates kept
    torn_lines: int  # lines that are not JSON (a write cut by a kill)

    @property
    def unique(self) -> set[int]:
        return set(self.seqs)


def read_output(path: Path) -> FileContents:
    if not path.exists():
        return FileContents([], 0)
    seqs, torn = [], 0
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            seqs.append(int(orjson.loads(line)["metadata"]["seq"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            torn += 1
    return FileContents(seqs, torn)


def _role(pid: int) -> Optional[str]:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"DSTREAM_ROLE="):
            return entry.split(b"=", 1)[1].decode()
    return None


def children(pid: int) -> dict[int, Optional[str]]:
    """Direct children of `pid` and their DSTREAM_ROLE (providers run in their own
    sessions, so a process group would not find them)."""
    return {child: _role(child) for child in workspace.children(pid)}


def wait_gone(pids: list[int], what: str) -> None:
    deadline = time.monotonic() + EXIT_BOUND
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            for pid in pids:  # clean up what we started before failing
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"{what}: processes {pids} still alive after {EXIT_BOUND:g} s")
        time.sleep(0.01)


@dataclass
class Report:
    target: str
    seed: int
    max_count: int
    kills: int = 0
    # Envelopes of the run had passed through dstream when the kill was sent: the output
    # file had grown, read just before the kill (not the trigger's own counter).
    kills_mid_stream: int = 0
    runs: int = 0
    rounds: int = 0
    duplicates: int = 0
    torn_lines: int = 0
    exit_codes: dict[str, int] = field(default_factory=dict)
    checkpoints_seen: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["checkpoints_seen"] = self.checkpoints_seen[-50:]
        return out


class Scenario:
    def __init__(
        self,
        root: Path,
        max_count: int,
        every: int = 100,
        attempts: int = 0,
        interval_ms: int = 0,
    ) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.out = root / "out.jsonl"
        self.config = root / "dstream.hcl"
        self.max_count = max_count
        self.config.write_text(
            CONFIG.format(
                state=self.state_dir,
                task=TASK,
                max_count=max_count,
                every=every,
                out=self.out,
                attempts=attempts,
                interval=interval_ms,
            )
        )
        self.store = FileStore(str(self.state_dir))
        self.last_checkpoint = 0

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            dstream_argv("run", TASK, "-c", str(self.config)),
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def checkpoint(self) -> int:
        record = self.store.get(TASK)
        return int(record.checkpoint["seq"]) if record else 0

    def check_after_kill(self, context: str) -> FileContents:
        contents = read_output(self.out)
        stored = self.checkpoint()
        missing = sorted(set(range(1, stored + 1)) - contents.unique)
        assert not missing, (
            f"{context}: stored checkpoint seq {stored} is ahead of the output file: "
            f"{len(missing)} seqs at or below it are missing, first {missing[:10]}"
        )
        assert stored >= self.last_checkpoint, (
            f"{context}: stored checkpoint went back from {self.last_checkpoint} to {stored}"
        )
        self.last_checkpoint = stored
        return contents

    def reset(self) -> None:
        self.store.reset(TASK)
        self.out.unlink(missing_ok=True)
        self.last_checkpoint = 0


@dataclass(frozen=True)
class KillPlan:
    """When to kill: `delay` seconds after the start (startup, handshake, anything), or
    once the stream has moved `progress` bytes in this run (mid-stream, whatever the
    speed): bytes the input wrote for the input, bytes in the output file otherwise.
    A `progress` kill also waits until envelopes of the run reached the output file."""

    delay: float = 0.0
    progress: Optional[int] = None


def _written_by(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _triggered(scenario: Scenario, target: str, plan: KillPlan, pid: int, size_before: int) -> bool:
    if plan.progress is None:
        return True
    if target == "input":
        return _written_by(pid) >= plan.progress
    return _size(scenario.out) - size_before >= plan.progress


def _passed_through(scenario: Scenario, size_before: int) -> bool:
    """Envelopes of this run went through dstream's pump to the output: read on the far
    side of dstream, so it is evidence apart from an input kill's trigger (the bytes the
    input wrote, which a pipe accepts whether or not the pump moves them)."""
    return _size(scenario.out) > size_before


def _abandon(proc: subprocess.Popen[bytes], family: Iterable[int], reason: str) -> AssertionError:
    """Kill what this run started and say why the run was given up."""
    for pid in [proc.pid, *family]:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate()
    return AssertionError(f"{reason}; stderr tail: {err.decode(errors='replace')[-2000:]}")


def kill_once(
    scenario: Scenario, target: str, plan: KillPlan, report: Report
) -> tuple[Optional[int], str]:
    """One run, killed per `plan` (if it has not ended first). Returns dstream's exit
    code (None if dstream itself was killed) and its stderr."""
    size_before = _size(scenario.out)
    proc = scenario.start()
    report.runs += 1
    time.sleep(plan.delay)  # where the kill lands; nothing is asserted about time
    victim: Optional[int] = None
    family: dict[int, Optional[str]] = {}
    candidate: Optional[int] = proc.pid if target == "dstream" else None
    deadline: Optional[float] = None  # set once a mid-stream kill waits for its evidence
    while proc.poll() is None:
        # Scan /proc (ms) only until both providers are known: a fast stream's kill
        # point lasts a few ms. A provider keeps its pid for the run (no restart here).
        if {"input", "output"} - set(family.values()):
            family.update(children(proc.pid))
            if candidate is None:
                candidate = next((p for p, r in family.items() if r == target), None)
        if candidate is not None and _triggered(scenario, target, plan, candidate, size_before):
            # A mid-stream kill waits until envelopes reached the output: the pump may
            # not have written them yet (load), and a kill before it is no mid-stream kill.
            if plan.progress is None or _passed_through(scenario, size_before):
                victim = candidate
                break
            deadline = deadline or time.monotonic() + EXIT_BOUND
        if deadline is not None and time.monotonic() > deadline:
            raise _abandon(
                proc,
                family,
                f"{target} kill planned after {plan.progress} bytes: {EXIT_BOUND:g} s after "
                f"it was due, nothing of this run had reached {scenario.out.name}: "
                "envelopes do not pass through dstream",
            )
        time.sleep(0.001)
    # The evidence, read just before the kill is sent.
    mid_stream = victim is not None and _passed_through(scenario, size_before)
    if victim is not None:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:  # it exited on its own and dstream already reaped it
            victim = None
    try:
        _, err = proc.communicate(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(
            f"dstream did not exit within {EXIT_BOUND:g} s after its {target} was killed; "
            f"stderr tail: {err.decode(errors='replace')[-2000:]}"
        ) from None
    wait_gone(sorted(family), f"providers of a dstream whose {target} was SIGKILLed")
    code = proc.returncode
    report.exit_codes[str(code)] = report.exit_codes.get(str(code), 0) + 1
    # A provider may exit on its own between being found and being killed: then the
    # run ends in success and the kill did not happen.
    if victim is not None and code != 0:
        report.kills += 1
        report.kills_mid_stream += 1 if mid_stream else 0
    return (None if victim == proc.pid else code), err.decode(errors="replace")


def finish(scenario: Scenario, report: Report) -> int:
    """An unkilled run: it must complete."""
    proc = scenario.start()
    _, err = proc.communicate(timeout=EXIT_BOUND * 5)
    report.runs += 1
    assert proc.returncode == 0, (
        f"an unkilled run failed with {proc.returncode}: {err.decode(errors='replace')[-3000:]}"
    )
    assert scenario.checkpoint() == scenario.max_count
    return 0


def crash_loop(
    root: Path,
    target: str,
    *,
    kills: int,
    max_count: int,
    startup: float,
    line_bytes: int,
    seed: int,
) -> Report:
    """Kill and restart until `kills` kill points were exercised and the last round ran
    to completion; verify each round's file in full. A quarter of the kills land at a
    random instant of the first `startup` seconds, the rest at a random point of what
    the stream still has to move (`line_bytes` per envelope)."""
    rng = random.Random(seed)
    scenario = Scenario(root, max_count)
    report = Report(target=target, seed=seed, max_count=max_count)
    while True:
        done = False
        while not done:
            if report.kills >= kills:  # enough kill points: let this round finish
                done = finish(scenario, report) == 0
            else:
                if rng.random() < 0.25:
                    plan = KillPlan(delay=rng.uniform(0, startup))
                else:
                    remaining = (max_count - scenario.checkpoint()) * line_bytes
                    if target == "input":
                        # the input is done writing once the rest fits in the pipes and
                        # the pump's buffer: a later point would never be reached
                        remaining //= 2
                    plan = KillPlan(progress=int(rng.uniform(0, remaining)))
                code, _ = kill_once(scenario, target, plan, report)
                if code != 0 and scenario.checkpoint() == max_count:
                    # all delivered before the kill: the next, unkilled run must see
                    # that and end at once, in success
                    scenario.check_after_kill(f"{target} kill #{report.kills} (seed {seed})")
                    code = finish(scenario, report)
                done = code == 0
            scenario.check_after_kill(f"{target} kill #{report.kills} (seed {seed})")
            report.checkpoints_seen.append(scenario.last_checkpoint)
        contents = read_output(scenario.out)
        missing = sorted(set(range(1, max_count + 1)) - contents.unique)
        assert not missing, (
            f"{target}, seed {seed}: {len(missing)} seqs never reached the file, "
            f"first {missing[:10]}"
        )
        assert contents.unique <= set(range(1, max_count + 1))
        report.duplicates += len(contents.seqs) - len(contents.unique)
        report.torn_lines += contents.torn_lines
        report.rounds += 1
        if report.kills >= kills:
            return report
        scenario.reset()
