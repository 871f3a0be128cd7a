"""Start-up: `dstream --help`; the time from starting `dstream run demo` (the built-in
demo: counter -> console, no dstream.hcl) to its first envelope on stdout; and the time
from starting `dstream run` to the first envelope of a trivial `sh` input arriving in an
output, against the same two scripts piped by the shell (the providers' own start).

All through the console script itself, never a pyenv shim. The demo runs in an empty
directory with DSTREAM_CONFIG unset, as a new user would first run it; it is stopped
with SIGINT (by PID) once the first envelope is out.

    pytest benches/bench_startup.py --benchmark-only

DSTREAM_BENCH_OTHER_TREE=DIR adds, in the same rounds, `dstream run` importing the
`dstream` package from DIR (another checkout's python/ directory, with a _core built or
copied into it): a before/after comparison of start-up on one loaded machine.
"""

from __future__ import annotations

import ast
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from benches.conftest import SMOKE, record, rounds, warmups
from benches.procs import clean_env, first_line, script, stats, write_project

RUNS = 3 if SMOKE else 20
OTHER_TREE = os.environ.get("DSTREAM_BENCH_OTHER_TREE", "")


def test_help(benchmark: Any) -> None:
    times: list[float] = []

    def once() -> None:
        for _ in range(RUNS):
            started = time.perf_counter()
            proc = subprocess.run([script("dstream"), "--help"], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
            assert b"usage" in proc.stdout.lower() and b"run" in proc.stdout

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    record("start-up", "dstream --help", stats(times, "ms", 1e-3, compare=False))
    benchmark.extra_info["help_ms"] = stats(times, "ms", 1e-3, compare=False)


def first_envelope(directory: Path) -> float:
    return first_line(["run", "demo"], directory, b"[seq 1] ")  # the console's first envelope


def test_first_envelope_of_demo(benchmark: Any, tmp_path: Path) -> None:
    times: list[float] = []

    def once() -> None:
        for _ in range(max(1, RUNS // 2)):
            times.append(first_envelope(tmp_path))

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    record("start-up", "first envelope of run demo", stats(times, "ms", 1e-3, compare=False))
    benchmark.extra_info["first_envelope_ms"] = stats(times, "ms", 1e-3, compare=False)


# A protocol-1 input in plain sh: its handshake, one data envelope (docs/protocol.md
# sections 2 and 3), exit.
SH_INPUT = """#!/bin/sh
printf '%s\\n' '{"status":"ready","protocol":1}' '{"data":1,"metadata":{}}'
"""
# An output's reading: it reports the arrival of the first data envelope on a FIFO, then
# reads to EOF. Builtins only (no fork before the report): `read` until a line with
# "data" (the command line and, piped directly, the input's handshake are not).
SINK_LOOP = """while IFS= read -r line; do
  case $line in
    *'"data"'*) printf '%s\\n' "$line" > {fifo}; exec cat > /dev/null ;;
  esac
done
"""


def sink_script(*first: str) -> str:
    """An output in sh: its `first` lines, then SINK_LOOP."""
    return "\n".join(["#!/bin/sh", *first, SINK_LOOP])


# A protocol-1 output: its handshake at once.
SINK = sink_script(r"""printf '%s\n' '{"status":"ready","protocol":1}'""")
COMMAND = '{"command":"run","config":{},"protocol":1,"task":"first","role":"output"}'
COLD = {"DSTREAM_WARM_START": "0"}  # every run starts as the first one after an edit


def sh_project(directory: Path, sink_text: str = SINK, command: str = COMMAND) -> tuple[Path, str]:
    """The two scripts, the FIFO the output reports on and a dstream.hcl wiring them;
    and the shell pipe of the same two, the output given `command` first (the line
    dstream would write it). `sink_text`: another output reporting on `{fifo}` as SINK
    does (benches/bench_legacy_output.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    fifo = directory / "arrived"
    if not fifo.exists():
        os.mkfifo(fifo)
    source, sink = directory / "input.sh", directory / "output.sh"
    source.write_text(SH_INPUT)
    sink.write_text(sink_text.replace("{fifo}", f"'{fifo}'"))
    for path in (source, sink):
        path.chmod(0o755)
    write_project(directory, "first", str(source), "", str(sink), "")
    direct = f"{{ echo '{command}'; '{source}'; }} | '{sink}'"
    return fifo, direct


def until_arrival(
    argv: list[str], directory: Path, fifo: Path, extra_env: Optional[dict[str, str]] = None
) -> tuple[float, float]:
    """Seconds from starting `argv` to the first envelope's arrival in the output (the
    FIFO opened before the start, non-blocking, so a run that fails cannot hang here),
    and the CPU seconds (user + system) of the whole run, its providers included: the
    figure a loaded machine does not inflate by waiting."""
    seconds, cpu, _ = arrival(argv, directory, fifo, extra_env)
    return seconds, cpu


def arrival(
    argv: list[str], directory: Path, fifo: Path, extra_env: Optional[dict[str, str]] = None
) -> tuple[float, float, bytes]:
    """`until_arrival`, and the run's stderr."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=directory, env={**clean_env(), **(extra_env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        ready, _, _ = select.select([fd], [], [], 30)
        seconds = time.perf_counter() - started
        cpu, code, err = reap(proc)
        assert code == 0, err.decode(errors="replace")[-2000:]
        assert ready and os.read(fd, 4096).startswith(b'{"data":1'), "no envelope arrived"
    finally:
        os.close(fd)
    return seconds, cpu, err


def reap(proc: subprocess.Popen[bytes]) -> tuple[float, int, bytes]:
    """Wait for `proc` (its stderr read to EOF): CPU seconds of it and of the children
    it waited for, its exit code, its stderr."""
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, proc.returncode, err


# The standard modules any Python command line that starts processes imports (and
# the console script's own `re`): the floor under dstream's start beyond the interpreter.
STDLIB_FLOOR = "import re, argparse, subprocess, threading, signal, json"

# Runs a console script as its shebang would, with `paths` appended to sys.path where
# site would have put them (after the standard library: lookups of stdlib modules do not
# search them first, as they would from PYTHONPATH).
AS_SCRIPT = (
    "import sys; sys.path += {paths!r}; sys.argv = {argv!r}; "
    "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'), {{'__name__': '__main__'}})"
)


def without_site_hooks(argv: list[str], first: str = "") -> list[str]:
    """`argv` (a console script and its arguments) run by `python -S`, with this
    interpreter's site-packages and .pth entries on its sys.path: the same modules found,
    without executing the .pth hooks of the machine's site-packages. This sandbox's CA
    hook imports certifi, pathlib and importlib.resources at every start (~60 ms, ~115 M
    instructions); a user's machine has no such hook. `site` itself is left out too,
    a few instructions of what a user's start pays. `first`: a directory searched before
    them (another tree's python/, as PYTHONPATH puts it)."""

    def path_of(*flags: str) -> list[str]:
        code = "import sys; print(repr(sys.path))"
        done = subprocess.run([sys.executable, *flags, "-c", code], env=clean_env(),
                              capture_output=True, text=True, check=True)  # fmt: skip
        return list(ast.literal_eval(done.stdout))

    bare = set(path_of("-S"))
    paths = [p for p in [first, *path_of()] if p and p not in bare]
    return [sys.executable, "-S", "-c", AS_SCRIPT.format(paths=paths, argv=argv)]


def edited(argv: list[str], directory: Path, fifo: Path) -> tuple[float, float]:
    """`until_arrival` of the first run after an edit: a comment no run has seen added
    to `directory`'s dstream.hcl first (untimed)."""
    with open(directory / "dstream.hcl", "a") as handle:
        handle.write(f"# edited {time.time_ns()}\n")
    return until_arrival(argv, directory, fifo)


WARM = b"started by a warm start"  # the runtime's debug line (runtime/warmplan.py)
# Where dstream/warm keeps the snapshot of `dstream ARGV[2:]` run in ARGV[1].
SNAPSHOT_PATH = (
    "import sys; from dstream.warm.key import snapshot_path; "
    "print(snapshot_path(sys.argv[1], sys.argv[2:]))"
)


class WarmMark:
    """Whether a run of the sh project started warm, told by the one mark a warm start
    leaves: its snapshot (dstream/warm) as it found it. A run that started as always
    keeps a new one at its end (runtime/pipeline.py `_remember`, an atomic rename: a new
    inode); a warm run keeps none. `calibrate` confirms that reading by the runtime's
    debug line, which the timed runs cannot give: DSTREAM_LOG_LEVEL is in the warm
    start's key, so a debug run starts warm only after another debug run."""

    def __init__(self, directory: Path, args: list[str]) -> None:
        where = subprocess.run(
            [sys.executable, "-c", SNAPSHOT_PATH, os.path.realpath(directory), *args],
            env=clean_env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        self.path = Path(where.stdout.strip())

    def kept(self) -> Optional[tuple[int, int]]:
        """The snapshot's identity, None when there is none."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def warm(self, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        """`run`'s figures, once it is shown to have started warm: the snapshot it found
        is unchanged by it. Otherwise the benchmark fails: its row would be a lie."""
        before = self.kept()
        figures = run()
        assert before is not None and self.kept() == before, (
            "a run of a row labelled warm started as always: order the round so that the "
            "run before it keeps a snapshot it can start from"
        )
        return figures

    def calibrate(self, argv: list[str], directory: Path, fifo: Path) -> None:
        """Two untimed debug runs: the second says it started warm, and only the first
        kept a snapshot (what `warm` reads)."""
        debug = {"DSTREAM_LOG_LEVEL": "debug"}
        _, _, first = arrival(argv, directory, fifo, debug)
        kept = self.kept()
        _, _, second = arrival(argv, directory, fifo, debug)
        assert WARM not in first and kept is not None, first.decode(errors="replace")
        assert WARM in second and self.kept() == kept, second.decode(errors="replace")


def test_sh_input_to_first_envelope(benchmark: Any, tmp_path: Path) -> None:
    """`dstream run` of a trivial sh input into an output that reports arrival, against
    the same scripts piped by the shell (the providers' own start), alternating; and the
    interpreter's own start (`python -c pass`, the floor under any Python CLI, and
    `python -S -c pass`: without site, whose .pth hooks belong to the machine). Wall
    time to the arrival, and CPU time of each whole run (a one-envelope run is all
    start-up): on a shared machine the CPU figures move less with the load.

    `dstream run` repeats an unchanged run, so from the second on it starts warm (its
    providers and pump from the first run's snapshot, dstream/warm); the same run with
    DSTREAM_WARM_START=0 is a start that cannot be warm, its dstream.hcl parsed before
    (a new directory, other arguments); "edited" is the first run after an edit of
    dstream.hcl: a comment added before each run, so neither the warm start nor the parse
    cache has seen the text (config/quickparse.py parses it, lark is not imported)."""
    fifo, direct_cmd = sh_project(tmp_path)
    dstream = [script("dstream"), "run", "-q"]
    floor_argv = [sys.executable, "-c", "pass"]
    bare_argv = [sys.executable, "-S", "-c", "pass"]
    no_hooks = (without_site_hooks(dstream), tmp_path, fifo)
    names = ("direct", "dstream", "floor", "bare", "stdlib", "nohooks", "cold", "cold -S",
             "edited", "other", "other -S")  # fmt: skip
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}

    def interpreter(argv: list[str]) -> tuple[float, float]:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=clean_env(), stderr=subprocess.PIPE)
        used, code, err = reap(proc)
        assert code == 0, err
        return time.perf_counter() - started, used

    mark = WarmMark(tmp_path, dstream[1:])
    mark.calibrate(dstream, tmp_path, fifo)
    # The order of each round: the other tree's runs keep a snapshot of its build, which
    # no run of this tree starts from, so "edited" (keeping one of this build for the
    # file as it now is) comes after them and the warm rows right after it; the cold
    # rows last, their file parsed before by this tree (its parse cache).
    runs: dict[str, Callable[[], tuple[float, float]]] = {
        "direct": lambda: until_arrival(["sh", "-c", direct_cmd], tmp_path, fifo),
        "floor": lambda: interpreter(floor_argv),
        "bare": lambda: interpreter(bare_argv),
        "stdlib": lambda: interpreter([sys.executable, "-S", "-c", STDLIB_FLOOR]),
    }
    if OTHER_TREE:
        other_env = {"PYTHONPATH": OTHER_TREE}
        runs["other"] = lambda: until_arrival(dstream, tmp_path, fifo, other_env)
        other_bare = (without_site_hooks(dstream, OTHER_TREE), tmp_path, fifo)
        runs["other -S"] = lambda: until_arrival(*other_bare)
    runs |= {
        "edited": lambda: edited(dstream, tmp_path, fifo),
        "dstream": lambda: mark.warm(lambda: until_arrival(dstream, tmp_path, fifo)),
        "nohooks": lambda: mark.warm(lambda: until_arrival(*no_hooks)),
        "cold": lambda: until_arrival(dstream, tmp_path, fifo, COLD),
        "cold -S": lambda: until_arrival(*no_hooks, COLD),
    }

    def once() -> None:
        for _ in range(RUNS):
            for name, run in runs.items():
                seconds, used = run()
                wall[name].append(seconds)
                cpu[name].append(used)

    benchmark.pedantic(once, rounds=rounds(1), iterations=1, warmup_rounds=warmups())
    group = "start-up: sh input to first envelope"
    for figures, kind in ((wall, ""), (cpu, "CPU: ")):
        added = [d - b for d, b in zip(figures["dstream"], figures["direct"])]
        beyond = [a - f for a, f in zip(added, figures["floor"])]
        rows = {
            "sh | sh (providers' own start)": figures["direct"],
            "dstream run": figures["dstream"],
            "added by dstream (same round)": added,
            "python -c pass (interpreter floor)": figures["floor"],
            "python -S -c pass (without site)": figures["bare"],
            "added by dstream beyond the floor": beyond,
            "python -S importing a command line's stdlib (re, argparse, subprocess, ...)": (
                figures["stdlib"]
            ),
            "dstream run by python -S (no site hooks)": figures["nohooks"],
            "added by dstream by python -S (no site hooks)": [
                d - b for d, b in zip(figures["nohooks"], figures["direct"])
            ],
            "added by dstream, warm start off (DSTREAM_WARM_START=0)": [
                d - b for d, b in zip(figures["cold"], figures["direct"])
            ],
            "added by dstream, warm start off, by python -S (no site hooks)": [
                d - b for d, b in zip(figures["cold -S"], figures["direct"])
            ],
            "added by dstream, first run after an edit of dstream.hcl": [
                d - b for d, b in zip(figures["edited"], figures["direct"])
            ],
        }
        if OTHER_TREE:
            other = [d - b for d, b in zip(figures["other"], figures["direct"])]
            rows[f"added by dstream from {OTHER_TREE}"] = other
            rows[f"added by dstream from {OTHER_TREE} by python -S (no site hooks)"] = [
                d - b for d, b in zip(figures["other -S"], figures["direct"])
            ]
        for name, values in rows.items():
            entry = stats(values, "ms", 1e-3, fmt=".1f", compare=False)
            record(group, kind + name, entry)
            benchmark.extra_info[kind + name] = entry


def test_instructions_of_a_start(benchmark: Any, tmp_path: Path) -> None:
    """The same start counted in instructions (callgrind, one run each, a fixed hash
    seed): a figure this shared 2-CPU machine's load does not move, where wall and CPU
    times swing by 2x. `dstream run -q` of the sh project (to its exit, the providers
    not counted: callgrind traces one process), against `python -c pass` and `python
    -S -c pass`; with DSTREAM_BENCH_OTHER_TREE, the same run of that tree. Each dstream
    is run once first, untraced, as the timed rounds are: its parse cache and provider
    descriptions warm, as for every run of an unchanged file after the first."""
    from benches.instructions import callgrind

    sh_project(tmp_path)
    # The FIFO's reader is the timed runs'; a run here opens it for writing only once
    # the output has a data line, so it needs a reader: one that drains it.
    fifo = tmp_path / "arrived"
    drain = subprocess.Popen(
        ["sh", "-c", f"while cat '{fifo}' > /dev/null; do :; done"], start_new_session=True
    )
    counts: dict[str, float] = {}
    argvs = {
        "python -c pass (interpreter floor)": ([sys.executable, "-c", "pass"], None),
        "python -S -c pass (without site)": ([sys.executable, "-S", "-c", "pass"], None),
        "python -S importing a command line's stdlib": (
            [sys.executable, "-S", "-c", STDLIB_FLOOR],
            None,
        ),
        "dstream run": ([sys.executable, script("dstream"), "run", "-q"], None),
        "dstream run by python -S (no site hooks)": (
            without_site_hooks([script("dstream"), "run", "-q"]),
            None,
        ),
        "dstream run, warm start off": (
            [sys.executable, script("dstream"), "run", "-q"],
            {**clean_env(), **COLD},
        ),
    }
    if OTHER_TREE:
        argvs[f"dstream run from {OTHER_TREE}"] = (
            [sys.executable, script("dstream"), "run", "-q"],
            {**clean_env(), "PYTHONPATH": OTHER_TREE},
        )
        argvs[f"dstream run from {OTHER_TREE} by python -S (no site hooks)"] = (
            without_site_hooks([script("dstream"), "run", "-q"], OTHER_TREE),
            None,
        )

    def once() -> None:
        for name, (argv, env) in argvs.items():
            if name.startswith("dstream"):
                subprocess.run(argv, cwd=tmp_path, env=env or clean_env(), check=True)
            out = tmp_path / "callgrind.out"
            counts[name] = callgrind(argv, None, out, cwd=tmp_path, env=env or clean_env()) / 1e6

    try:
        benchmark.pedantic(once, rounds=1, iterations=1)
    finally:
        os.killpg(drain.pid, signal.SIGKILL)
        drain.wait()
    floor = counts["python -c pass (interpreter floor)"]
    bare = counts["python -S -c pass (without site)"]
    group = "start-up: instructions (M, callgrind)"
    for name, value in counts.items():
        record(group, name, stats([value], "M Ir", fmt=".1f", compare=False))
        benchmark.extra_info[name] = value
        if name.startswith("dstream run"):
            under = bare if "python -S" in name else floor
            beyond = stats([value - under], "M Ir", fmt=".1f", compare=False)
            record(group, f"{name}: beyond the floor", beyond)
