"""Process helpers the suites share: real console-script paths, dstream.hcl files in a
temp dir, peak-RSS sampling and min/median/max summaries."""

from __future__ import annotations

import os
import statistics
import subprocess
import sysconfig
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from tests.workspace import children

SCRIPTS = sysconfig.get_path("scripts")


def script(name: str) -> str:
    """The console script itself: a pyenv shim in front of it costs ~250 ms of bash per
    start, which would be measured as dstream's."""
    path = os.path.join(SCRIPTS, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"{path} is not installed; run `maturin develop --release` in the repository first"
        )
    return path


def clean_env() -> dict[str, str]:
    """This environment without dstream's own variables (a run sees only its files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSTREAM_")}
    env["PATH"] = os.path.dirname(script("dstream")) + os.pathsep + env.get("PATH", "")
    return env


def first_line(args: Sequence[str], cwd: Path, starts: bytes) -> float:
    """Seconds from starting `dstream ARGS` to its first stdout line (which must start
    with `starts`); the run is then interrupted."""
    import signal

    started = time.perf_counter()
    proc = subprocess.Popen(
        [script("dstream"), *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        seconds = time.perf_counter() - started
        assert line.startswith(starts), line
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return seconds


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def shown(values: Sequence[float], unit: str, scale: float = 1.0, fmt: str = ",.0f") -> str:
    s = spread(values)
    return (
        f"{s['median'] / scale:{fmt}} {unit} "
        f"(min {s['min'] / scale:{fmt}}, max {s['max'] / scale:{fmt}})"
    )


def stats(
    values: Sequence[float],
    unit: str,
    scale: float = 1.0,
    *,
    fmt: str = ",.0f",
    compare: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """The record() entry of one measured figure: `rate` is the median. `compare=False`
    for figures that are no rate (RSS, latency): no ratio to the group's baseline."""
    s = spread(values)
    return {
        "rate": s["median"],
        "min": s["min"],
        "max": s["max"],
        "unit": unit,
        "rounds": len(values),
        "compare": compare,
        "display": shown(values, unit, scale, fmt),
        **extra,
    }


def write_project(
    directory: Path,
    task: str,
    input_path: str,
    input_config: str,
    output_path: str,
    output_config: str,
    *,
    extra: str = "",
) -> Path:
    """A dstream.hcl with one task and a state directory of its own (a state kept from an
    earlier round would make the counter resume after its last checkpoint). The state
    path is relative to the file, so rounds of one benchmark write the same text: like a
    user's repeated runs of an unchanged file, they parse it once (the parse is cached
    by content) and the first round, a warm-up, pays for it."""
    directory.mkdir(parents=True, exist_ok=True)
    hcl = directory / "dstream.hcl"
    hcl.write_text(
        f"""task "{task}" {{
  input {{
    provider_path = "{input_path}"
    config {{
{input_config}
    }}
  }}
  output {{
    provider_path = "{output_path}"
    config {{
{output_config}
    }}
  }}
{extra}
}}
state {{
  path = "state"
}}
"""
    )
    return hcl


def _status_kb(pid: int, key: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class RssSampler:
    """Samples a process (and, with `tree`, its descendants) every `interval` seconds.

    VmHWM is the kernel's own high-water mark of a process's resident set, so the last
    sample taken before a process exits is its peak up to that moment; polling only
    bounds how much of the final few milliseconds can be missed. `series` keeps the root
    process's VmRSS in KiB against epoch seconds (for "stays flat" under a stalled output).
    """

    def __init__(self, pid: int, *, tree: bool = False, interval: float = 0.02) -> None:
        self.pid = pid
        self.tree = tree
        self.interval = interval
        self.peak_kb: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.series: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        pids = [self.pid]
        if self.tree:
            pending = [self.pid]
            while pending:
                kids = children(pending.pop())
                pids.extend(kids)
                pending.extend(kids)
        for pid in pids:
            hwm = _status_kb(pid, "VmHWM:")
            if hwm is None:
                continue
            if pid not in self.names:
                self.names[pid] = _command_name(pid)
            self.peak_kb[pid] = max(hwm, self.peak_kb.get(pid, 0))
        rss = _status_kb(self.pid, "VmRSS:")
        if rss is not None:
            self.series.append((time.time(), rss))

    @property
    def root_peak_mb(self) -> float:
        return self.peak_kb.get(self.pid, 0) / 1024

    def peaks_mb(self) -> dict[str, float]:
        """Peak RSS per command name (the largest when several share a name)."""
        out: dict[str, float] = {}
        for pid, kb in self.peak_kb.items():
            name = self.names.get(pid, str(pid))
            out[name] = max(out.get(name, 0.0), kb / 1024)
        return out


def _command_name(pid: int) -> str:
    """The script or program a process runs: `python3 /x/bin/dstream-null` is dstream-null."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return str(pid)
    if not argv:
        return str(pid)
    words = argv[1:] if "python" in os.path.basename(argv[0]) and len(argv) > 1 else argv
    first = next((w for w in words if not w.startswith("-")), words[0])
    return os.path.basename(first)


def timed(
    argv: list[str], cwd: Path, env: Optional[dict[str, str]] = None, *, tree: bool = False
) -> dict[str, Any]:
    """Run a command to completion (it must exit 0) while sampling its RSS; wall seconds,
    stdout, peak RSS of the root process (and, with `tree`, of its descendants)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with RssSampler(proc.pid, tree=tree) as rss:
        out, err = proc.communicate()
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return {
        "seconds": seconds,
        "stdout": out,
        "stderr": err,
        "root_mb": rss.root_peak_mb,
        "total_mb": sum(rss.peaks_mb().values()),
        "peaks": rss.peaks_mb(),
        "series": rss.series,
    }
