"""Start-up with an original-DStream output: the time from starting `dstream run` to the
first envelope's arrival in the output, for three outputs behind the same trivial `sh`
input (protocol 1), each against the same two scripts piped by the shell (the
providers' own start), all in the same rounds:

- native: a protocol-1 output (`{"status":"ready","protocol":1}`, bench_startup's SINK);
- original: as the original .NET SDK's host does (shared/ORIGINAL.md, section 3): it
  reads its command line, then writes a bare `{"status":"ready"}`;
- silent: an original output that writes no handshake at all (SDK 0.1.1, a Go output).

Before the pump starts, a run waits for the first line of an output the describe cache
saw answer (runtime/legacy.py `_wait_for`, up to the task's start_timeout): native and
original are waited for, silent (remembered as writing none) is not. The wait is on a
start that cannot be warm (DSTREAM_WARM_START=0, the "cold" rows); a repeated unchanged
run starts warm (dstream/warm) and adopts a pump that began before it could wait: both
are measured. Each run is primed once first, untimed: its dstream.hcl parsed, its
output in the describe cache, as for every run of an unchanged file after the first.

    pytest benches/bench_legacy_output.py --benchmark-only
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from benches.bench_startup import (
    COLD,
    COMMAND,
    RUNS,
    SINK,
    sh_project,
    sink_script,
    until_arrival,
)
from benches.conftest import record, rounds
from benches.procs import script, stats

# The original host reads its command line first and only then writes its ready line
# (ORIGINAL.md section 3, steps 2 and 6); SINK writes its handshake at once.
ORIGINAL_SINK = sink_script("read -r command", r"""printf '%s\n' '{"status":"ready"}'""")
SILENT_SINK = sink_script("read -r command")
# The original CLI's command line: no protocol, no task (ORIGINAL.md section 3).
ORIGINAL_COMMAND = '{"command":"run","config":{}}'
OUTPUTS = {
    "native": (SINK, COMMAND),
    "original": (ORIGINAL_SINK, ORIGINAL_COMMAND),
    "silent": (SILENT_SINK, ORIGINAL_COMMAND),
}
# The measured runs of each output: the shell pipe, dstream run (warm from the second
# run on), dstream run that cannot start warm.
KINDS = ("direct", "dstream", "cold")


def test_output_kind_to_first_envelope(benchmark: Any, tmp_path: Path) -> None:
    dstream = [script("dstream"), "run", "-q"]
    runs: dict[str, Callable[[], tuple[float, float]]] = {}
    for output, (sink, command) in OUTPUTS.items():
        directory = tmp_path / output
        fifo, direct = sh_project(directory, sink, command)

        def each(
            argv: list[str], env: dict[str, str], where: Path = directory, fifo: Path = fifo
        ) -> Callable[[], tuple[float, float]]:
            return lambda: until_arrival(argv, where, fifo, env)

        runs[f"{output} direct"] = each(["sh", "-c", direct], {})
        runs[f"{output} dstream"] = each(dstream, {})
        runs[f"{output} cold"] = each(dstream, COLD)
        # The silent output's first run waits out OUTPUT_HANDSHAKE_WAIT, then it is
        # remembered as writing no handshake; the others' first runs fill the caches.
        runs[f"{output} cold"]()
        runs[f"{output} dstream"]()
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}

    def once() -> None:
        for _ in range(RUNS):
            for name, run in runs.items():  # interleaved: every kind sees the same load
                seconds, used = run()
                wall[name].append(seconds)
                cpu[name].append(used)

    # No warm-up round: each run was primed above (a warm-up's figures would be kept).
    benchmark.pedantic(once, rounds=rounds(1), iterations=1)
    group = "start-up: original-DStream output to first envelope"
    for figures, prefix in ((wall, ""), (cpu, "CPU: ")):
        for name, values in rows(figures).items():
            entry = stats(values, "ms", 1e-3, fmt=".1f", compare=False)
            record(group, prefix + name, entry)
            benchmark.extra_info[prefix + name] = entry


def rows(figures: dict[str, list[float]]) -> dict[str, list[float]]:
    """Each output's own start (the shell pipe), and what dstream adds to it in the same
    round; then the original output's added time less the native one's, and less the
    silent one's (not waited for): what the wait for its bare ready line costs."""

    def added(output: str, kind: str) -> list[float]:
        return [d - b for d, b in zip(figures[f"{output} {kind}"], figures[f"{output} direct"])]

    out: dict[str, list[float]] = {}
    for output in OUTPUTS:
        out[f"{output}: sh | sh (providers' own start)"] = figures[f"{output} direct"]
        out[f"{output}: added by dstream run"] = added(output, "dstream")
        out[f"{output}: added by dstream run, warm start off"] = added(output, "cold")
    for kind, label in (("dstream", ""), ("cold", ", warm start off")):
        original = added("original", kind)
        for other in ("native", "silent"):
            delta = [o - n for o, n in zip(original, added(other, kind))]
            out[f"original less {other}, added by dstream run{label}"] = delta
    return out
