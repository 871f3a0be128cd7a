"""Shared data and the same-run comparison table for benches/.

`DSTREAM_BENCH_SMOKE=1` shrinks every data set so CI can check that the benchmarks
still run; figures from a smoke run mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

SMOKE = os.environ.get("DSTREAM_BENCH_SMOKE") == "1"
HERE = Path(__file__).parent
RESULTS: dict[str, dict[str, Any]] = {}


def scale(n: int) -> int:
    return max(1, n // 100) if SMOKE else n


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


@pytest.fixture(scope="session", autouse=True)
def comparison_table() -> Iterator[None]:
    """After the run, print each group's figures relative to its baseline and write them
    to .benchmarks/comparison.json (the source of docs/benchmarks.md)."""
    yield
    if not RESULTS:
        return
    lines = ["", "same-run comparison (median of rounds):"]
    for group, entries in RESULTS.items():
        base = entries.get("baseline")
        for name, stats in entries.items():
            if name == "baseline":
                continue
            ratio = ""
            if base and base.get("rate"):
                ratio = f"  {100 * stats['rate'] / base['rate']:.0f}% of {base['label']}"
            lines.append(f"  {group:<28} {name:<22} {stats['display']}{ratio}")
    print("\n".join(lines))
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(RESULTS, indent=2))
