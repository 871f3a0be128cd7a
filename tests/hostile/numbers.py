"""What the number rows of tests/hostile/cases.py write and check: an input that keeps
the command line it was started with, and configs holding integers beyond 64 bits (which
must reach it exactly) or numbers beyond a double (which must stop `run` before it
starts anything)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BIG = 2**64 + 1  # one past the largest integer orjson writes
# An input that keeps the line of its run command (not a describe probe's) in
# config.json and sends one envelope.
RECORDING_INPUT = (
    "import json, sys\nline = sys.stdin.readline()\n"
    "if json.loads(line).get('command') == 'run':\n"
    "    open('config.json', 'w').write(line)\n"
    'print(\'{"status":"ready"}\')\nprint(\'{"data":1}\')\n'
)
BIG_INPUT = (
    f'provider_path = "./in.py"\n config {{\n big = {BIG}\n neg = -9223372036854775809\n'
    f' via_local = local.big\n template = "${{{BIG}}}"\n decoded = jsondecode("{BIG}")\n }}'
)
BIG_LOCALS = f"locals {{ big = {BIG} }}\n"
BIG_RECEIVED = dict(big=BIG, neg=-(2**63) - 1, via_local=BIG, template=BIG, decoded=BIG)
NUMBER_VARIABLE = 'variable "n" { type = number }\n'


def x_input(expr: str) -> str:
    """The recording input, its config holding `x = expr`."""
    return f'provider_path = "./in.py"\n config {{\n x = {expr}\n }}'


def received_exactly(root: Path) -> None:
    """The input got BIG_RECEIVED, read with stdlib json (integers exact)."""
    line = (root / "config.json").read_text()
    assert json.loads(line)["config"] == BIG_RECEIVED, line


def nothing_received(root: Path) -> None:
    assert not (root / "config.json").exists(), "the provider was started"


@dataclass(frozen=True)
class OutOfRange:
    """A row whose `x = expr` in the recording input's config `run` must refuse (exit 2)
    before it starts anything, with an error matching `names`."""

    name: str
    expr: str
    names: str
    prelude: str = ""  # dstream.hcl text before the task
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()  # after `run t`


LOCATION = r"dstream\.hcl:\d+:\d+"
RANGE = LOCATION + r": .*out of range \(beyond ±1\.8e308"
OUT_OF_RANGE = [
    OutOfRange("literal", "1e400", r"dstream\.hcl:7:6: number 1e400 is out of range"),
    OutOfRange("jsondecode", 'jsondecode("[1e400]")', RANGE),
    OutOfRange("arithmetic", "1e308 * 10", RANGE),
    OutOfRange("nan", 'jsondecode("NaN")', LOCATION + ": .*NaN"),
    OutOfRange("long-integer", "1" * 5000, LOCATION + ": integer 1.* has more than"),
    OutOfRange(
        "env",
        "var.n",
        r"DSTREAM_VAR_n: .*dstream\.hcl:1:1.* out of range",
        prelude=NUMBER_VARIABLE,
        env={"DSTREAM_VAR_n": "1e400"},
    ),
    OutOfRange(
        "var-file",
        "var.n",
        r"vars\.json:1:7: .*out of range",
        prelude=NUMBER_VARIABLE,
        files={"vars.json": '{"n": 1e400}'},
        options=("--var-file", "vars.json"),
    ),
]
