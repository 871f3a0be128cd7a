"""Peers on the same machine and the same rows: a Singer SDK tap -> target-jsonl under
`meltano run`, the same two programs piped directly by the shell, and dstream moving the
same rows from an input written with dstream.sdk into dstream-file (format "data": one
JSON line per row, what target-jsonl writes). Rows/s over the whole run, start-up
included for all, and the peak RSS of each pipeline's processes.

Meltano runs the two plugins from their own virtualenvs through `executable` paths (no
`pip_url`), so `meltano run` needs no network; the venvs are built once from PyPI
(benches/peers/envs.py). When PyPI cannot be reached the peer rows are skipped and the
dstream row still runs.

    pytest benches/bench_peers.py --benchmark-only
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from benches.conftest import SMOKE, record, rounds, scale, warmups
from benches.peers import envs
from benches.peers.rows import make_row
from benches.procs import script, stats, timed, write_project

ROWS = scale(100_000)
PEERS = Path(__file__).parent / "peers"


def check_rows(path: Path) -> None:
    """Every row arrived, in order, equal to what was produced (whatever the spacing)."""
    with path.open("rb") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == ROWS, f"{path}: {len(lines)} rows, expected {ROWS}"
    picks = range(ROWS) if SMOKE else (0, ROWS // 2, ROWS - 1)
    for i in picks:
        assert orjson.loads(lines[i]) == make_row(i + 1), (i, lines[i][:200])


def executable(path: Path, command: str) -> str:
    path.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    path.chmod(0o755)
    return str(path)


def run_dstream(directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True)
    executable(directory / "rows.sh", f"'{sys.executable}' '{PEERS / 'dstream_rows.py'}'")
    out = directory / "out" / "rows.jsonl"
    # paths relative to the project (the providers run there): every round the same text
    write_project(
        directory,
        "rows",
        "./rows.sh",
        f"      row_count = {ROWS}",
        "dstream-file",
        '      path = "out/rows.jsonl"\n      format = "data"',
    )
    result = timed([script("dstream"), "run", "rows", "-q", "--json"], directory, tree=True)
    task = json.loads(result["stdout"])["tasks"][0]
    assert task["counters"]["data_frames"] == ROWS and task["last_checkpoint"] == {"id": ROWS}
    check_rows(out)
    # dstream's own timer (pump start to end): the rate once the three processes are up.
    result["steady_rows_per_s"] = ROWS / task["duration_seconds"]
    return result


def singer_files(directory: Path) -> tuple[str, str, Path]:
    (directory / "out").mkdir(parents=True, exist_ok=True)
    tap = executable(directory / "tap-rows.sh", f"'{envs.ensure('tap')}' '{PEERS / 'tap_rows.py'}'")
    target = str(envs.ensure("target").parent / "target-jsonl")
    (directory / "tap.json").write_text(json.dumps({"row_count": ROWS}))
    (directory / "target.json").write_text(
        json.dumps({"destination_path": str(directory / "out"), "do_timestamp_file": False})
    )
    return tap, target, directory / "out" / "rows.jsonl"


def run_singer_pipe(directory: Path) -> dict[str, Any]:
    tap, target, out = singer_files(directory)
    shell = f"'{tap}' --config tap.json | '{target}' --config target.json"
    result = timed(["bash", "-c", shell], directory, tree=True)
    check_rows(out)
    return result


MELTANO_YML = """version: 1
default_environment: bench
project_id: dstream-bench
send_anonymous_usage_stats: false
environments:
- name: bench
plugins:
  extractors:
  - name: tap-rows
    namespace: tap_rows
    executable: {tap}
    config: {{row_count: {rows}}}
    settings: [{{name: row_count, kind: integer}}]
  loaders:
  - name: target-jsonl
    namespace: target_jsonl
    executable: {target}
    config: {{destination_path: {out}, do_timestamp_file: false}}
    settings: [{{name: destination_path}}, {{name: do_timestamp_file, kind: boolean}}]
"""


def run_meltano(directory: Path) -> dict[str, Any]:
    tap, target, out = singer_files(directory)
    (directory / "meltano.yml").write_text(
        MELTANO_YML.format(tap=tap, target=target, rows=ROWS, out=out.parent)
    )
    meltano = str(envs.ensure("meltano").parent / "meltano")
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = timed([meltano, "run", "tap-rows", "target-jsonl"], directory, env, tree=True)
    check_rows(out)
    return result


@pytest.fixture(scope="module")
def peers_available() -> str:
    """'' when the peers' venvs are ready, else why not. Smoke mode never builds them
    (a minute or two of pip): CI builds them ahead with `python -m benches.peers.envs`."""
    missing = [name for name in envs.REQUIREMENTS if not envs.ready(name)]
    if SMOKE and missing:
        return (
            f"peer venvs {', '.join(missing)} not built under {envs.peers_dir()} "
            "(`python -m benches.peers.envs` builds them); smoke mode does not build them"
        )
    try:
        for name in envs.REQUIREMENTS:
            envs.ensure(name)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return ""


def test_rows_against_singer_and_meltano(
    benchmark: Any, tmp_path: Path, peers_available: str
) -> None:
    runners: dict[str, Callable[[Path], dict[str, Any]]] = {"dstream": run_dstream}
    if not peers_available:
        runners = {"meltano": run_meltano, "singer pipe": run_singer_pipe, **runners}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    own_mb: list[float] = []
    steady: list[float] = []
    total_mb: dict[str, list[float]] = {name: [] for name in runners}
    numbers = iter(range(1000))

    def once() -> None:
        n = next(numbers)
        for name, run in runners.items():
            result = run(tmp_path / f"{name.replace(' ', '-')}-{n}")
            rates[name].append(ROWS / result["seconds"])
            total_mb[name].append(result["total_mb"])
            if name == "dstream":
                own_mb.append(result["root_mb"])
                steady.append(result["steady_rows_per_s"])

    benchmark.pedantic(once, rounds=rounds(3), iterations=1, warmup_rounds=warmups())
    group = f"peers {ROWS:,} rows -> jsonl"
    if peers_available:
        benchmark.extra_info["peers_skipped"] = peers_available
        warnings.warn(f"Singer/Meltano not measured: {peers_available}", stacklevel=1)
    labels = {
        "meltano": "meltano run (tap | target-jsonl)",
        "singer pipe": "tap | target-jsonl (shell)",
        "dstream": "dstream run (sdk input -> file)",
    }
    for name, values in rates.items():
        key = "baseline" if name == "meltano" else labels[name]
        record(group, key, stats(values, "rows/s", label=labels[name]))
    record(group, "dstream, own timer (from provider start)", stats(steady, "rows/s"))
    for name, values in total_mb.items():
        record(
            group,
            f"{name} RSS, all processes",
            stats(values, "MB", fmt=".1f", compare=False),
        )
    record(group, "dstream RSS, own process", stats(own_mb, "MB", fmt=".1f", compare=False))
    benchmark.extra_info.update({name: stats(v, "rows/s") for name, v in rates.items()})
