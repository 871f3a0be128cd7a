"""Instructions per frame under callgrind: a figure that stays put on a noisy 2-core
machine where wall-clock throughput swings by 2x. Each workload runs twice, on N and 2N
frames; (Ir(2N) - Ir(N)) / N cancels interpreter start-up and imports.

    python -m benches.instructions [--frames 20000] [--top]

Needs valgrind. `--top` prints callgrind_annotate's top functions of the 2N run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from benches.conftest import envelope_file
from benches.procs import script
from benches.relays import PUMP, PY_LINES

ENCODE = """
import os, sys
from benches.bench_sdk import ROWS, BATCH
from dstream.sdk.encode import encode_into
import orjson
n = int(sys.argv[1]); plain = sys.argv[2] == "plain"
fd = os.open(os.devnull, os.O_WRONLY)
dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
for _ in range(n // BATCH):
    if plain:
        os.write(fd, b"".join([dumps(r, option=opt) for r in ROWS]))
    else:
        parts = []
        encode_into(parts, ROWS)
        os.write(fd, b"".join(parts))
"""


INPUT_RUN = """
import sys
import benches.bench_sdk as b
b.COUNT = int(sys.argv[1])
b.encode_sdk(b.Rows)
"""


OUTPUT_RUN = """
import sys
from pathlib import Path
import benches.bench_sdk as b
from benches.conftest import envelope_file
b.COUNT = int(sys.argv[1])
source = envelope_file(Path(sys.argv[2]), b.COUNT, 200)
if sys.argv[3] == "plain":
    b.decode_plain(source)
else:
    b.decode_sdk(source, b.Counted)
"""


# schema-qualified names: a name of 8 to 16 bytes is two 8-byte words to the table
# counts' recent names, a shorter one (`t0`..`t3`) smaller loads. All of one length, as
# `t0`..`t3` are, so the row differs from the short names' in that path only: names of
# several lengths in turn also cost the fast walk its memory of the value's length.
LONGER_TABLES = (b"public.orders", b"public.people", b"sales.invoice", b"sales.returns")
# a change stream of several tables: names of 11 to 16 bytes in turn, so the length
# the fast walk remembers for the `TableName` value is another one on every frame
ROTATING_TABLES = (b"public.orders", b"public.customers", b"sales.items", b"sales.invoices")


# values that never have a shape (null, true, a fraction, a sign, an escape): before
# their places rested, each paid `Shape::of` out of line on every frame
UNFIT_VALUES = {"deleted": None, "paid": True, "price": 12.5, "delta": -3, "note": "a\nb"}


def pump_counting_tables() -> str:
    """PUMP with each frame's table counted, as `dstream run` pumps a change stream."""
    plain = "count_tables=False"
    if plain not in PUMP:
        raise RuntimeError(f"benches.relays.PUMP no longer sets {plain}: update this bench")
    return PUMP.replace(plain, "count_tables=True")


def tables_file(directory: Path, count: int, size: int, names: tuple[bytes, ...], tag: str) -> Path:
    """[`envelope_file`]'s envelopes with `names` in place of `t0`..`t3`."""
    path = directory / f"envelopes-{count}x{size}-{tag}-tables.jsonl"
    if not path.exists():
        text = envelope_file(directory, count, size).read_bytes()
        for k, name in enumerate(names):
            short = b'"TableName":"t%d"' % k
            if short not in text:
                raise RuntimeError(f"envelope_file no longer names table t{k}: update this bench")
            text = text.replace(short, b'"TableName":"%s"' % name)
        path.write_bytes(text)
    return path


def unfit_file(directory: Path, count: int, size: int) -> Path:
    """[`envelope_file`]'s envelopes of about `size` bytes with [`UNFIT_VALUES`] in `data`."""
    path = directory / f"envelopes-{count}x{size}-unfit.jsonl"
    if not path.exists():
        row = {"data": {"id": 0, **UNFIT_VALUES, "pad": ""}, "metadata": {"TableName": "t0"}}
        pad = "x" * max(0, size - len(orjson.dumps(row)) - 6)
        with path.open("wb") as out:
            for i in range(count):
                row = {"data": {"id": i, **UNFIT_VALUES, "pad": pad}}
                row["metadata"] = {"TableName": f"t{i % 4}"}
                out.write(orjson.dumps(row) + b"\n")
    return path


def counter_file(directory: Path, count: int) -> Path:
    """`count` envelopes as `dstream-counter` writes them at full speed (~145 B, a
    checkpoint line every 1,000; its handshake line first): what issue 22's
    counter -> null run pumps."""
    path = directory / f"counter-{count}.jsonl"
    if not path.exists():
        command = json.dumps({"command": "run", "config": {"interval": 0, "max_count": count}})
        with path.open("wb") as out:
            proc = subprocess.run(
                [script("dstream-counter")],
                input=command.encode() + b"\n",
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        if proc.returncode != 0:
            path.unlink()
            stderr = proc.stderr.decode(errors="replace")[-1500:]
            raise RuntimeError(f"dstream-counter failed (exit {proc.returncode}): {stderr}")
    return path


def python_path() -> str:
    """The benches' directory, then the caller's PYTHONPATH: `PYTHONPATH=/tmp/old/python`
    measures another build's package against the same workloads."""
    return os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)


def callgrind(
    argv: list[str],
    stdin: Path | None,
    out: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Total Ir of one run (the traced process only, not its children)."""
    with open(stdin or os.devnull, "rb") as source, open(os.devnull, "wb") as sink:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            stdin=source,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=cwd,
            # a fixed hash seed: dict and set layouts otherwise move the counts by ~5 %
            env={**(env or {**os.environ, "PYTHONPATH": python_path()}), "PYTHONHASHSEED": "0"},
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"callgrind failed for {argv}: {proc.stderr[-1500:]}")
    return int(found.group(1))


def per_frame(name: str, argv_for: object, frames: int, work: Path, top: bool) -> float:
    runs = []
    for n in (frames, 2 * frames):
        argv, stdin = argv_for(n)  # type: ignore[operator]
        runs.append(callgrind(argv, stdin, work / f"{name}-{n}.out"))
    ir = (runs[1] - runs[0]) / frames
    print(f"{name:<34} {ir:10,.0f} Ir/frame")
    if top:
        annotated = subprocess.run(
            ["callgrind_annotate", str(work / f"{name}-{2 * frames}.out")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        print("\n".join(annotated.splitlines()[:40]))
    return ir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--top", action="store_true")
    parser.add_argument("--only", help="run workloads whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        py = sys.executable

        def relay(code: str, size: int) -> object:
            return lambda n: ([py, "-c", code], envelope_file(work, n, size))

        workloads = {
            "pump validating, 200 B": relay(PUMP.format(validate=True, zero_copy=False), 200),
            # what `dstream run` adds for a change stream: each frame's table counted
            "pump validating, 200 B, tables counted": relay(
                pump_counting_tables().format(validate=True, zero_copy=False), 200
            ),
            "pump validating, 200 B, longer tables counted": lambda n: (
                [py, "-c", pump_counting_tables().format(validate=True, zero_copy=False)],
                tables_file(work, n, 200, LONGER_TABLES, "longer"),
            ),
            "pump validating, 200 B, rotating tables": lambda n: (
                [py, "-c", PUMP.format(validate=True, zero_copy=False)],
                tables_file(work, n, 200, ROTATING_TABLES, "rotating"),
            ),
            "pump validating, 200 B, rotating tables counted": lambda n: (
                [py, "-c", pump_counting_tables().format(validate=True, zero_copy=False)],
                tables_file(work, n, 200, ROTATING_TABLES, "rotating"),
            ),
            "pump validating, 200 B, unfit values": lambda n: (
                [py, "-c", PUMP.format(validate=True, zero_copy=False)],
                unfit_file(work, n, 200),
            ),
            "pump validating, counter envelopes": lambda n: (
                [py, "-c", PUMP.format(validate=True, zero_copy=False)],
                counter_file(work, n),
            ),
            "pump passthrough, 200 B": relay(PUMP.format(validate=False, zero_copy=False), 200),
            "python line relay, 200 B": relay(PY_LINES, 200),
            "pump validating, 4 KiB": relay(PUMP.format(validate=True, zero_copy=False), 4096),
            "sdk encode_into (dict rows)": lambda n: ([py, "-c", ENCODE, str(n), "sdk"], None),
            "plain orjson loop (dict rows)": lambda n: ([py, "-c", ENCODE, str(n), "plain"], None),
            "sdk InputRun (dict rows)": lambda n: ([py, "-c", INPUT_RUN, str(n)], None),
            "sdk OutputRun write(batch), 200 B": lambda n: (
                [py, "-c", OUTPUT_RUN, str(n), str(envelope_file(work, n, 200).parent), "sdk"],
                None,
            ),
            "plain orjson.loads loop, 200 B": lambda n: (
                [py, "-c", OUTPUT_RUN, str(n), str(envelope_file(work, n, 200).parent), "plain"],
                None,
            ),
        }
        for name, argv_for in workloads.items():
            if args.only and args.only not in name:
                continue
            per_frame(name, argv_for, args.frames, work, args.top)


if __name__ == "__main__":
    main()
