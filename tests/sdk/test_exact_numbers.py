"""Numbers a double cannot hold (PostgreSQL json/jsonb values: 123456789012345678901234567890,
1e400, 1e-400, 0.1000000000000000000000000001) through the SDK's output host and the
built-in outputs: accepted, handed to write() exactly, written back exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from dstream.sdk.encode import encode_into
from tests.sdk.conftest import DEADLINE, command, run
from tests.workspace import Workspace

# Numbers orjson rounds silently (all but the last four), and one it refuses (1e400).
ROUNDED = (
    b'{"big":123456789012345678901234567890,"tiny":1e-400,'
    b'"long":0.1000000000000000000000000001,"near":0.30000000000000001,"half":0.5,'
    b'"neg":-9223372036854775809,"max":18446744073709551615,"ns":1700000000000000000,'
    b'"list":[1E+2,-0.0,1.2345678901234567]}'
)
EXACT = ROUNDED.replace(b'"tiny"', b'"huge":1e400,"tiny"')
ORDINARY = b'{"half":0.5,"n":7,"id":"550e8400-e29b-41d4-a716-446655440000"}'
CHECKPOINT = b'{"checkpoint":{"seq":2}}'

SHOW_TYPES = """
from dstream.sdk import OutputProvider, run_provider


def show(value):
    if isinstance(value, list):
        return "[" + ",".join(show(v) for v in value) + "]"
    return type(value).__name__ + ":" + str(value)


class ShowTypes(OutputProvider):
    exact_numbers = {exact}

    async def write(self, batch):
        for envelope in batch:
            self.emit(" ".join(k + "=" + show(v) for k, v in envelope.data.items()))


run_provider(ShowTypes)
"""


def envelope(data: bytes, table: str = "t") -> bytes:
    return b'{"data":' + data + b',"metadata":{"TableName":"' + table.encode() + b'"}}'


def stream(*lines: bytes) -> bytes:
    return command({}, role="output") + b"".join(line + b"\n" for line in lines)


def run_script(path: Path, stdin: bytes) -> tuple[int, list[bytes], bytes]:
    import subprocess

    done = subprocess.run(
        [sys.executable, str(path)], input=stdin, capture_output=True, timeout=DEADLINE
    )
    return done.returncode, done.stdout.splitlines()[1:], done.stderr


def show_types(tmp_path: Path, exact: bool, *lines: bytes) -> list[bytes]:
    script = tmp_path / "show_types.py"
    script.write_text(SHOW_TYPES.format(exact=exact))
    code, shown, err = run_script(script, stream(*lines))
    assert code == 0, err
    return shown


SHOWN_ORDINARY = b"half=float:0.5 n=int:7 id=str:550e8400-e29b-41d4-a716-446655440000"
SHOWN_EXACT = (
    b"big=int:123456789012345678901234567890 tiny=JsonNumber:1e-400 "
    b"long=JsonNumber:0.1000000000000000000000000001 near=JsonNumber:0.30000000000000001 "
    b"half=float:0.5 neg=int:-9223372036854775809 max=int:18446744073709551615 "
    b"ns=int:1700000000000000000 list=[float:100.0,float:-0.0,float:1.2345678901234567]"
)


@pytest.mark.timeout(DEADLINE)
def test_an_output_asking_for_exact_numbers_gets_every_number_exactly(tmp_path: Path) -> None:
    lines = [envelope(ORDINARY), envelope(ROUNDED), CHECKPOINT, envelope(ORDINARY)]
    assert show_types(tmp_path, True, *lines) == [
        SHOWN_ORDINARY,
        SHOWN_EXACT,
        CHECKPOINT,
        SHOWN_ORDINARY,
    ]


@pytest.mark.timeout(DEADLINE)
def test_a_line_orjson_refuses_is_read_exactly_by_any_output(tmp_path: Path) -> None:
    """Beyond a double's range (1e400) stopped every output; now the line is accepted,
    read exactly, while other lines stay orjson's (rounded) for an output that did not
    ask for exact numbers."""
    huge = ROUNDED.replace(b'{"big"', b'{"huge":1e400,"big"')
    shown = show_types(tmp_path, False, envelope(huge), envelope(ROUNDED), CHECKPOINT)
    assert shown[0] == SHOWN_EXACT.replace(b"big=", b"huge=JsonNumber:1e400 big=")
    assert shown[1].startswith(b"big=float:1.2345678901234568e+29 tiny=float:0.0 long=float:0.1 ")
    assert shown[2] == CHECKPOINT


def test_a_json_number_is_a_decimal_with_its_text() -> None:
    import decimal

    from dstream.sdk import JsonNumber

    number = JsonNumber("1e400")
    assert isinstance(number, decimal.Decimal)
    assert number == decimal.Decimal("1E+400") and str(number) == "1e400"
    assert repr(number) == "JsonNumber('1e400')"


@pytest.mark.timeout(DEADLINE)
def test_what_is_not_json_is_still_refused_with_exact_numbers_beside_it() -> None:
    for bad in (b'{"data":[NaN,1e-400]}', b'{"data":["\\ud800",1e400]}', b'{"data":[1e400,]}'):
        result = run("console", stream(bad))
        assert result.returncode == 1, bad
        assert "not valid JSON" in result.stderr.decode(), result.stderr


@pytest.mark.timeout(DEADLINE)
@pytest.mark.parametrize("fmt", ["simple", "json", "structured"])
def test_console_prints_the_numbers_as_received(fmt: str) -> None:
    data = b'{"big":123456789012345678901234567890,"tiny":1e-400}'
    result = run("console", command({"format": fmt}) + envelope(data) + b"\n")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    for number in ("123456789012345678901234567890", "1e-400"):
        assert f": {number}" in text or f":{number}" in text, text


@pytest.mark.timeout(DEADLINE)
@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("out.jsonl", "envelope"),
        ("out/{TableName}.jsonl", "envelope"),
        ("out.jsonl", "data"),
        ("out/{TableName}.jsonl", "data"),
    ],
)
def test_file_output_writes_the_numbers_as_received(tmp_path: Path, path: str, fmt: str) -> None:
    lines = [envelope(ROUNDED), envelope(EXACT), envelope(ORDINARY), CHECKPOINT]
    result = run(
        "file",
        command({"path": path, "format": fmt}, role="output")
        + b"".join(line + b"\n" for line in lines),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    written = (tmp_path / path.replace("{TableName}", "t")).read_bytes().splitlines()
    if fmt == "envelope":
        assert written == [envelope(ROUNDED), envelope(EXACT), envelope(ORDINARY)]
    else:
        # The data as orjson writes it: the exact numbers verbatim, a double's shortest form.
        assert written == [
            ROUNDED.replace(b"1E+2", b"100.0"),
            EXACT.replace(b"1E+2", b"100.0"),
            ORDINARY,
        ]


def test_the_input_encoder_writes_exact_numbers_back_as_numbers() -> None:
    import decimal

    from dstream.sdk import Envelope, JsonNumber

    parts: list[bytes] = []
    encode_into(
        parts,
        Envelope(
            {"big": 10**30, "huge": JsonNumber("1e400"), "price": decimal.Decimal("1.50")},
            {"TableName": "t", "n": -(2**70)},
        ),
    )
    assert parts == [
        b'{"data":{"big":1000000000000000000000000000000,"huge":1e400,"price":"1.50"},'
        b'"metadata":{"TableName":"t","n":-1180591620717411303424}}\n'
    ]
    parts = []
    encode_into(parts, [{"data": 10**20, "metadata": {}}, {"data": JsonNumber("-0.10")}])
    assert parts == [b'{"data":100000000000000000000,"metadata":{}}\n', b'{"data":-0.10}\n']


def test_dump_json_keeps_exact_numbers_and_orjsons_bytes_for_the_rest() -> None:
    from dstream.sdk import JsonNumber, dump_json

    value = {"b": [10**25, JsonNumber("1e-400")], "a": {"x": 1.5, "y": "s"}}
    assert dump_json(value) == b'{"b":[10000000000000000000000000,1e-400],"a":{"x":1.5,"y":"s"}}'
    assert dump_json(value, sort_keys=True) == (
        b'{"a":{"x":1.5,"y":"s"},"b":[10000000000000000000000000,1e-400]}'
    )
    ordinary = {"b": 1, "a": [1.5, None, True]}
    assert dump_json(ordinary, sort_keys=True) == orjson.dumps(
        ordinary, option=orjson.OPT_SORT_KEYS
    )
    assert dump_json(value, indent=True).startswith(b'{\n  "b": [\n    10000000000000000000000000,')


@pytest.mark.timeout(DEADLINE)
def test_exact_lines_among_many_across_read_chunks(tmp_path: Path) -> None:
    """Thousands of lines (several of the host's reads, so lines straddle chunk ends):
    every exact number arrives exact, every ordinary line as orjson reads it."""
    lines = []
    for n in range(20000):
        if n % 7 == 3:
            lines.append(envelope(b'{"n":%d,"v":1%019d.5,"w":-1e-4%02d}' % (n, n, n % 100)))
        else:
            lines.append(envelope(b'{"n":%d,"pad":"%s","v":%d.25}' % (n, b"x" * (n % 90), n)))
        if n % 1000 == 999:
            lines.append(b'{"checkpoint":%d}' % n)
    result = run(
        "file",
        command({"path": "out.jsonl", "format": "data"}, role="output")
        + b"".join(line + b"\n" for line in lines),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "out.jsonl").read_bytes().splitlines()
    data = [line for line in lines if line.startswith(b'{"data":')]
    expected = [line[len(b'{"data":') : line.index(b',"metadata"')] for line in data]
    assert len(written) == 20000
    assert written == expected, written[:4]


@pytest.mark.parametrize(
    ("text", "inexact"),
    [
        (b'{"a":12345678901234567890123}', [5]),
        (b'{"a":[1, -9223372036854775809]}', [9]),
        (b'{"a":-9223372036854775808,"b":18446744073709551615}', []),
        (b'{"a":1700000000000000000}', []),  # 19 digits: a 64-bit integer
        (b'{"a":12345678.123456789}', [5]),  # 17 significant digits
        (b'{"a":1.2345678901234567}', []),  # 17 digits a double holds
        (b'{"a":1.0000000000000000}', []),
        (b'{"a": 0.1000000000000000000000000001}', [6]),
        (b'{"a":1e-400,"b":1E-300,"c":5e-324}', [5]),
        (b'{"a":"12345678901234567890123","b":"x,123456789012345678901"}', []),
        (b'{"id":"550e8400-e29b-41d4-a716-446655440000","h":"0e-100ab"}', []),
        (b'{"a":"1e-400"}', []),
    ],
)
def test_which_numbers_orjson_would_change(text: bytes, inexact: list[int]) -> None:
    from dstream.sdk.exact import inexact_offsets

    assert inexact_offsets(text, 0, len(text)) == inexact


EXACT_INPUT = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
echo '{"data":%s,"metadata":{"TableName":"t"}}'
echo '{"data":%s,"metadata":{"TableName":"t"}}'
"""


@pytest.mark.timeout(DEADLINE * 2)
def test_through_dstream_the_file_output_writes_the_numbers_as_received(ws: Workspace) -> None:
    ws.script("input.sh", EXACT_INPUT % (ROUNDED.decode(), EXACT.decode()))
    ws.config(
        """
        task "t" {
          input { provider_path = "./input.sh" }
          output {
            provider_path = "dstream-file"
            config {
              path = "out.jsonl"
              format = "data"
            }
          }
        }
        """
    )
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    written = (ws.root / "out.jsonl").read_bytes().splitlines()
    assert written == [ROUNDED.replace(b"1E+2", b"100.0"), EXACT.replace(b"1E+2", b"100.0")]
