"""The hostile-input corpus: one row per attack a careless user or a broken provider can
make, and what dstream must do about it. tests/hostile/test_corpus.py runs each row as a
real `dstream` process under a memory cap and a timeout.

A row says what is written into a fresh directory (`config` becomes dstream.hcl, `files`
the rest; a name ending in .py becomes an executable Python script), the command line,
the exit status it must end with, and a regular expression the error output must match:
the file:line:col of the configuration, or the provider's name.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from dstream.errors import ExitCode
from tests.hostile.effects import (
    acked_within_written,
    all_written,
    block_docker,
    corrupt_state,
    dead_letter_is_text,
    expect_state,
    fifo,
    nothing_stored,
    regular_file_as_dir,
)
from tests.hostile.numbers import (
    BIG,
    BIG_INPUT,
    BIG_LOCALS,
    OUT_OF_RANGE,
    RANGE,
    RECORDING_INPUT,
    OutOfRange,
    nothing_received,
    received_exactly,
    x_input,
)

RUN = ("run", "t")
DEAD_LETTER_UNDER_FILE = 'invalid_frames = "dead_letter"\n dead_letter_path = "plain/dead.jsonl"'
LOCATION = r"dstream\.hcl:\d+:\d+"


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...] = ("lint",)
    config: str = ""
    files: Mapping[str, Union[str, bytes]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    exit: int = ExitCode.USAGE
    names: Optional[str] = LOCATION  # None: the run succeeds, nothing to name
    setup: Optional[Callable[[Path], None]] = None
    check: Optional[Callable[[Path], None]] = None  # the job's effect, after the exit
    fsize: Optional[int] = None  # RLIMIT_FSIZE of dstream and its providers (bytes)
    signal: Optional[int] = None  # sent once out.jsonl exists
    raw_config: Optional[bytes] = None  # dstream.hcl as bytes (encodings)


def task(output: str = "", settings: str = "", inp: str = "") -> str:
    """Task "t": `inp` (default a 20-envelope counter) into dstream-file out.jsonl."""
    inp = inp or (
        'provider_path = "dstream-counter"\n'
        "    config {\n max_count = 20\n interval = 0\n checkpoint_every = 5\n }"
    )
    out = output or 'provider_path = "dstream-file"\n    config { path = "out.jsonl" }'
    return (
        'state { path = "state" }\n'
        'task "t" {\n'
        f"  {settings}\n"
        f"  input {{\n    {inp}\n  }}\n"
        f"  output {{\n    {out}\n  }}\n"
        "}\n"
    )


def with_config(expr: str) -> str:
    """A task whose output config holds `x = expr` (evaluated, never used). Linted only:
    the output is not installed, so no schema of its own refuses `x` (that would hide
    whether `expr` itself was refused)."""
    return task(output=f'provider_path = "./not-installed"\n    config {{\n x = {expr}\n }}')


def script(first_lines: list[str], data: int = 3) -> str:
    """An input that reads its command, writes `first_lines` then `data` envelopes."""
    lines = [*first_lines, *(f'{{"data":{i}}}' for i in range(data))]
    return "import sys\nsys.stdin.readline()\n" + "".join(
        f"sys.stdout.write({line!r} + '\\n')\n" for line in lines
    )


INPUT_PY = 'provider_path = "./in.py"'
OUTPUT_PY = 'provider_path = "./out.py"'
OUT_FILE = 'provider_path = "dstream-file"\n    config { path = "out.jsonl" }'
DEEP = 10_000
JSON_DEEP = "[" * 100_000 + "]" * 100_000
JSON_DEEP_ENV = "[" * 60_000 + "]" * 60_000  # an environment string holds 128 KiB at most
COUNTER_FOREVER = 'provider_path = "dstream-counter"\n config {\n interval = 5\n max_count = 0\n }'
COUNTER_5000 = (
    'provider_path = "dstream-counter"\n'
    " config {\n max_count = 5000\n interval = 0\n checkpoint_every = 100\n }"
)
FEATURES_STRING_OUTPUT = (
    "import sys\nsys.stdin.readline()\n"
    'print(\'{"status":"ready","features":"checkpoints"}\', flush=True)\n'
    "sys.stdin.read()\n"
)


def acking_output(ack: str) -> str:
    """An output that shakes hands, keeps data, and answers every checkpoint with `ack`."""
    return (
        'import sys\nsys.stdin.readline()\nprint(\'{"status":"ready","protocol":1}\', '
        "flush=True)\nfor line in sys.stdin:\n"
        "    if line.startswith('{\"checkpoint\"'):\n"
        f"        print({ack!r}, flush=True)\n"
    )


def big_frame() -> str:
    return script(['{"data":"' + "x" * 2_000_000 + '"}'])


def out_of_range(row: OutOfRange) -> Case:
    config = row.prelude + task(inp=x_input(row.expr))
    files = {"in.py": RECORDING_INPUT, **row.files}
    return Case(f"number-{row.name}", (*RUN, *row.options), config, files, row.env,
                names=row.names, check=nothing_received)  # fmt: skip


BIG_CONFIG = task(inp=BIG_INPUT) + BIG_LOCALS


CASES: list[Case] = [
    # -- parser limits --------------------------------------------------------------------
    Case("deep-list", config=with_config("[" * DEEP + "]" * DEEP)),
    Case("deep-object", config=with_config("{a = " * DEEP + "1" + "}" * DEEP)),
    Case("deep-blocks", config=task(output=OUT_FILE + "\n" + "x {\n" * DEEP + "}\n" * DEEP)),
    Case("deep-parentheses", config=with_config("(" * DEEP + "1" + ")" * DEEP)),
    Case("deep-calls", config=with_config("upper(" * DEEP + '"a"' + ")" * DEEP)),
    Case("deep-templates", config=with_config('"${' * DEEP + '"a"' + '}"' * DEEP)),
    Case("deep-operators", config=with_config("1" + " + 1" * DEEP)),
    Case("deep-negation", config=with_config("!" * DEEP + "true")),
    Case("deep-conditional", config=with_config("true ? " * DEEP + "1" + " : 2" * DEEP)),
    Case(
        "deep-local-chain",
        config=task()
        + "locals {\n"
        + "".join(f"  l{i} = local.l{i + 1}\n" for i in range(3000))
        + "  l3000 = 1\n}\n",
    ),
    Case("deep-jsondecode", config=with_config(f'jsondecode("{JSON_DEEP}")')),
    Case(
        "deep-jsondecode-env",
        config='variable "x" { type = string }\n' + with_config("jsondecode(var.x)"),
        env={"DSTREAM_VAR_x": JSON_DEEP_ENV},
    ),
    Case(
        "deep-list-env",
        config='variable "x" { type = list }\n' + with_config("var.x"),
        env={"DSTREAM_VAR_x": "[" * DEEP + "]" * DEEP},
        names="DSTREAM_VAR_x",
    ),
    Case(
        "deep-var-file-json",
        argv=("lint", "--var-file", "vars.json"),
        config='variable "x" {}\n' + with_config("var.x"),
        files={"vars.json": '{"x": ' + JSON_DEEP + "}"},
        names=r"vars\.json:\d+:\d+",
    ),
    Case(
        "deep-var-file-hcl",
        argv=("lint", "--var-file", "vars.hcl"),
        config='variable "x" {}\n' + with_config("var.x"),
        files={"vars.hcl": "x = " + "[" * DEEP + "]" * DEEP + "\n"},
        names=r"vars\.hcl:\d+:\d+",
    ),
    Case("huge-string", config=with_config('"' + "a" * 50_000_000 + '"')),
    Case("huge-format-width", config=with_config('format("%999999999999d", 1)')),
    Case("huge-format-precision", config=with_config('format("%.999999999f", 1)')),
    Case(
        "string-doubling",
        config=task()
        + 'locals {\n  s0 = "abcdefgh"\n'
        + "".join(f'  s{i + 1} = "${{local.s{i}}}${{local.s{i}}}"\n' for i in range(40))
        + "}\n",
    ),
    Case("file-dev-zero", config=with_config('file("/dev/zero")')),
    Case("file-fifo", config=with_config('file("a-fifo")'), setup=fifo),
    Case("file-directory", config=with_config('file(".")')),
    # The `regex` engine answers this one at once (Python's `re` ran for minutes).
    Case(
        "catastrophic-regex",
        config=with_config('replace("' + "a" * 40 + '!", "/(a+)+$/", "x")'),
        exit=ExitCode.OK,
        names=None,
    ),
    Case("backtracking-regex", config=with_config(f'replace("{"a" * 60}!", "/(a|aa)+$/", "x")')),
    Case("invalid-utf8", raw_config=task().encode().replace(b"dstream-file", b"dstream-\xfffile")),
    Case("bom-accepted", raw_config=b"\xef\xbb\xbf" + task().encode(), exit=0, names=None),
    # -- values that used to crash the task thread (and exit 0) ---------------------------
    Case("env-key-equals", argv=RUN, config=task(output=OUT_FILE + '\nenv = {"A=B" = "x"}')),
    Case("env-key-nul", config=task(output=OUT_FILE + '\nenv = {"A\\u0000B" = "x"}')),
    Case("env-value-nul", config=task(output=OUT_FILE + '\nenv = {A = "x\\u0000y"}')),
    Case("env-key-empty", argv=RUN, config=task(output=OUT_FILE + '\nenv = {"" = "x"}')),
    Case("frame-size-overflow", argv=RUN, config=task(settings="max_frame_size = " + "9" * 23)),
    Case("frame-size-units-overflow", config=task(settings='max_frame_size = "99999999999999GiB"')),
    Case("stop-grace-overflow", argv=RUN, config=task(settings=f'stop_grace = "{"9" * 20}h"')),
    Case("start-timeout-infinite", config=task(settings="start_timeout = 1e400")),
    Case("commit-interval-infinite", argv=RUN, config=task(settings="commit_interval = 1e400")),
    Case("backoff-overflow", config=task(settings='restart { backoff = "99999999999999999999h" }')),
    Case(
        "dead-letter-under-file",
        argv=("run", "t"),
        config=task(settings=DEAD_LETTER_UNDER_FILE),
        setup=regular_file_as_dir,
    ),
    Case(
        "commit-interval-zero",
        argv=("run", "t"),
        config=task(settings='commit_interval = "0"'),
        exit=ExitCode.OK,
        names=None,
        check=all_written,
    ),
    # -- numbers ---------------------------------------------------------------------------
    Case(
        "number-big-integers-run",
        RUN,
        BIG_CONFIG,
        files={"in.py": RECORDING_INPUT},
        exit=ExitCode.OK,
        names=None,
        check=received_exactly,
    ),
    Case("number-big-integers-show", ("show", "t"), BIG_CONFIG, exit=0, names=f'"big": {BIG}'),
    Case(
        "number-big-integers-show-json",
        ("show", "t", "--json"),
        BIG_CONFIG,
        exit=0,
        names=r'"neg": -9223372036854775809',
    ),
    *map(out_of_range, OUT_OF_RANGE),
    Case("number-show-refused", ("show", "t"), with_config("-1e400"), names=RANGE),
    # -- handshakes -------------------------------------------------------------------------
    Case(
        "features-number",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": script(['{"status":"ready","features":5}'])},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "features-string-output",
        argv=("run", "t"),
        config=task(output=OUTPUT_PY),
        files={"out.py": FEATURES_STRING_OUTPUT},
        exit=ExitCode.FAILURE,
        names=r"out\.py",
    ),
    Case(
        "features-not-strings",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": script(['{"status":"ready","features":[1, null, {}]}'])},
        exit=ExitCode.OK,
        names=None,
    ),
    Case(
        "handshake-error",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": script(['{"status":"error","message":"no database"}'])},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "provider-exits-before-handshake",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": "import sys\nsys.exit(3)\n"},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "provider-not-executable",
        argv=("run", "t"),
        config=task(inp='provider_path = "./missing-provider"'),
        names="missing-provider",
    ),
    # -- frames -----------------------------------------------------------------------------
    Case(
        "frame-not-json",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": script(["{not json"])},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "frame-not-object",
        argv=("run", "t"),
        config=task(inp=INPUT_PY),
        files={"in.py": script(['{"status":"ready"}', "[1,2]"])},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "frame-too-large",
        argv=("run", "t"),
        config=task(inp=INPUT_PY, settings='max_frame_size = "1MiB"'),
        files={"in.py": big_frame()},
        exit=ExitCode.FAILURE,
        names=r"in\.py",
    ),
    Case(
        "frame-too-large-dead-lettered-as-text",
        argv=RUN,
        config=task(
            inp=INPUT_PY,
            settings='max_frame_size = "1MiB"\n invalid_frames = "dead_letter"\n'
            ' dead_letter_path = "dead.jsonl"',
        ),
        files={"in.py": script(['{"data":"' + "é" * 1_000_000 + '"}'])},
        exit=ExitCode.OK,
        names=None,
        check=dead_letter_is_text,
    ),
    # -- acknowledgements ---------------------------------------------------------------------
    Case(
        "ack-big-integer",
        argv=("run", "t"),
        config=task(inp=INPUT_PY, output=OUTPUT_PY),
        files={
            "in.py": script(['{"status":"ready"}', '{"checkpoint":18446744073709551617}']),
            "out.py": acking_output('{"checkpoint":18446744073709551617}'),
        },
        exit=ExitCode.OK,
        names=None,
        check=expect_state("18446744073709551617"),
    ),
    Case(
        "ack-extra-keys",
        argv=("run", "t"),
        config=task(inp=INPUT_PY, output=OUTPUT_PY),
        files={
            "in.py": script(['{"status":"ready"}', '{"checkpoint":7}']),
            "out.py": acking_output('{"checkpoint":7,"note":"flushed"}'),
        },
        exit=ExitCode.OK,
        names=None,
        check=expect_state('"checkpoint": 7'),
    ),
    Case(
        "ack-never-sent",
        argv=("run", "t"),
        config=task(inp=INPUT_PY, output=OUTPUT_PY),
        files={
            "in.py": script(['{"status":"ready"}', '{"checkpoint":7}']),
            "out.py": acking_output('{"checkpoint":8}'),
        },
        exit=ExitCode.FAILURE,
        names=r"out\.py",
        check=nothing_stored,
    ),
    # -- signals --------------------------------------------------------------------------------
    Case(
        "sigterm-mid-stream",
        argv=("run", "t"),
        config=task(inp=COUNTER_FOREVER),
        signal=signal.SIGTERM,
        exit=ExitCode.TERMINATED,
        names=None,
        check=acked_within_written,
    ),
    Case(
        "sigint-mid-stream",
        argv=("run", "t"),
        config=task(inp=COUNTER_FOREVER),
        signal=signal.SIGINT,
        exit=ExitCode.INTERRUPTED,
        names=None,
        check=acked_within_written,
    ),
    # -- state ----------------------------------------------------------------------------
    Case(
        "state-list-one-corrupt",
        argv=("state", "list"),
        config=task(),
        setup=corrupt_state,
        exit=ExitCode.FAILURE,
        names=r"(?s)(?=.*\bgood\b)(?=.*bad\.json)",
    ),
    Case(
        "state-show-corrupt",
        argv=("state", "show", "bad"),
        config=task(),
        setup=corrupt_state,
        exit=ExitCode.FAILURE,
        names=r"bad\.json",
    ),
    # -- full disk and missing extras -------------------------------------------------------------
    Case(
        "disk-full-dev-full",
        argv=("run", "t"),
        config=task(output='provider_path = "dstream-file"\n config { path = "/dev/full" }'),
        exit=ExitCode.FAILURE,
        names="dstream-file",
        check=nothing_stored,
    ),
    Case(
        "file-size-limit",
        argv=("run", "t"),
        config=task(inp=COUNTER_5000),
        fsize=16 * 1024,
        exit=ExitCode.FAILURE,
        names="dstream-file",
        check=acked_within_written,
    ),
    Case(
        "image-without-docker-extra",
        argv=("run", "t"),
        config=task(inp='provider_image = "example.invalid/provider:1"'),
        setup=block_docker,
        env={"PYTHONPATH": "noextra"},
        exit=ExitCode.USAGE,
        names=r"provider_image|example\.invalid",
    ),
]
