"""Shared data and the same-run comparison table for benches/.

`DSTREAM_BENCH_SMOKE=1` shrinks every data set so CI can check that the benchmarks
still run; figures from a smoke run mean nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

SMOKE = os.environ.get("DSTREAM_BENCH_SMOKE") == "1"
HERE = Path(__file__).parent
RESULTS: dict[str, dict[str, Any]] = {}


def pytest_configure(config: pytest.Config) -> None:
    """The benchmarks stop the runs they start with SIGINT, as the suite does: started
    as a background job they inherit SIGINT ignored, which dstream keeps (a run too,
    now), so each would wait out its stop. tests/conftest.py says the same."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def scale(n: int) -> int:
    return max(1, n // 100) if SMOKE else n


def rounds(n: int) -> int:
    """Measured rounds: one in smoke mode, where only correctness counts."""
    return 1 if SMOKE else n


def warmups() -> int:
    return 0 if SMOKE else 1


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect benches/bench_*.py without widening the repository's `python_files`
    (which would make `pytest` with no arguments run the benchmarks)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        patterns = parent.config.getini("python_files")
        named = parent.session.isinitpath(file_path)  # pytest collects those itself
        if not named and not any(file_path.match(p) for p in patterns):
            module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
            return module
    return None


def envelope_file(directory: Path, count: int, size: int) -> Path:
    """`count` data envelopes of about `size` bytes each (newline included)."""
    path = directory / f"envelopes-{count}x{size}.jsonl"
    if path.exists():
        return path
    overhead = len(orjson.dumps({"data": {"id": 0, "pad": ""}, "metadata": {"TableName": "t"}}))
    pad = "x" * max(0, size - overhead - 8)
    with path.open("wb") as out:
        for i in range(count):
            row = {"data": {"id": i, "pad": pad}, "metadata": {"TableName": f"t{i % 4}"}}
            out.write(orjson.dumps(row) + b"\n")
    return path


@pytest.fixture(scope="session", autouse=True)
def compiled_dstream() -> None:
    """Bytecode for dstream's modules, as a wheel install has (pip compiles at install).
    An editable install run with PYTHONDONTWRITEBYTECODE=1, as on the machines these
    figures come from, would otherwise compile every module from source in every
    dstream and provider process (~30 ms each) while the peers' venvs have bytecode."""
    import compileall

    import dstream

    compileall.compile_dir(str(Path(dstream.__file__).parent), quiet=1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-data")


def relay_through(source: Path, relay: list[str]) -> dict[str, Any]:
    """cat SOURCE | RELAY | sink; the sink's own measurement of the stream."""
    cat = subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE)
    mid = subprocess.Popen(relay, stdin=cat.stdout, stdout=subprocess.PIPE)
    assert cat.stdout is not None
    cat.stdout.close()
    sink = subprocess.run(
        [sys.executable, str(HERE / "sink.py")], stdin=mid.stdout, capture_output=True, check=True
    )
    assert mid.stdout is not None
    mid.stdout.close()
    assert mid.wait() == 0 and cat.wait() == 0
    result: dict[str, Any] = json.loads(sink.stdout)
    return result


def record(group: str, name: str, stats: dict[str, Any]) -> None:
    RESULTS.setdefault(group, {})[name] = stats


def machine() -> dict[str, Any]:
    """What the figures were measured on, for docs/benchmarks.md."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_at_end": os.getloadavg(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        from dstream import _core

        info["dstream_core"] = _core.__version__
        info["rust"] = _core.BUILD_INFO.get("rustc", "")
    return info


@pytest.fixture(scope="session", autouse=True)
def comparison_table() -> Iterator[None]:
    """After the run, merge each group's figures into .benchmarks/comparison.json (the
    source of docs/benchmarks.md; a smoke run goes to comparison-smoke.json so it never
    mixes with real figures)."""
    yield
    if not RESULTS:
        return
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    path = out / ("comparison-smoke.json" if SMOKE else "comparison.json")
    merged: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        merged = json.loads(path.read_text())
    groups = merged.setdefault("groups", {})
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for group, entries in RESULTS.items():
        groups[group] = {"measured": stamp, "machine": machine(), "entries": entries}
    path.write_text(json.dumps(merged, indent=2))


def comparison_lines() -> list[str]:
    lines = ["same-run comparison (median of rounds" + (", SMOKE: meaningless)" if SMOKE else "):")]
    for group, entries in RESULTS.items():
        base = entries.get("baseline")
        for name, stats in entries.items():
            ratio = ""
            if name != "baseline" and base and base.get("rate") and stats.get("compare", True):
                ratio = f"  {100 * stats['rate'] / base['rate']:.0f}% of {base['label']}"
            label = base["label"] if name == "baseline" and base else name
            lines.append(f"  {group:<34} {label:<26} {stats['display']}{ratio}")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.write_sep("-", "dstream benchmarks")
        for line in comparison_lines():
            terminalreporter.write_line(line)
