"""A provider's first line is a status line as the original DStream read it: Go's
json.Unmarshal into {Status, Message}, which ignores keys it does not know and matches
keys case-insensitively (shared/ORIGINAL.md section 3). A status line with a key
dstream does not know was taken for a legacy provider's first data frame: an input's
error became a message (`Message #1: null`) and its own words were lost, and a ready
line with a `version` key reached the output as data."""

from __future__ import annotations

import orjson
import pytest

from dstream.protocol.messages import parse_handshake
from tests.providers import SHELL_OUTPUT
from tests.workspace import Workspace

# An output that answers a bare ready line and keeps every line it reads in got.jsonl.
RECORDING_OUTPUT = """
read -r command
echo '{"status":"ready"}'
exec cat > got.jsonl
"""


def _input(ws: Workspace, first: str, then: str = "", code: int = 0) -> None:
    """Task "t": an input whose first stdout line is `first`, then `then`, exiting
    `code`, into RECORDING_OUTPUT."""
    body = f"read -r command\nprintf '%s\\n' '{first}'\n"
    if then:
        body += f"printf '%s\\n' '{then}'\n"
    body += f'echo "about to exit {code}" >&2\nexit {code}\n'
    ws.script("in.sh", body)
    ws.script("out.sh", RECORDING_OUTPUT)
    ws.task("./in.sh", "./out.sh")


@pytest.mark.parametrize(
    "line",
    [
        '{"status":"error","message":"db_connection_string is required","error_code":"CONFIG"}',
        '{"Status":"error","Message":"db_connection_string is required"}',
        '{"STATUS":"error","message":"db_connection_string is required","at":"startup"}',
    ],
    ids=["extra-key", "pascal-case", "upper-case-and-extra-key"],
)
def test_an_error_status_line_refuses_the_start_with_its_message(ws: Workspace, line: str) -> None:
    _input(ws, line, code=1)
    code, doc, err = ws.run_json("run", "t")
    assert code == 1, err
    task = doc["tasks"][0]
    error = task["error"]
    assert error["message"] == "input './in.sh' refused to start: db_connection_string is required"
    assert error["stderr_tail"] == ["about to exit 1"]  # its stderr is quoted
    assert task["counters"].get("frames", 0) == 0, task
    assert ws.read_text("got.jsonl") == ""  # nothing of it reached the output


@pytest.mark.parametrize(
    "line",
    [
        '{"status":"ready","version":"1.0.0"}',
        '{"Status":"ready"}',
        '{"status":"ready","protocol":1,"features":["checkpoints"],"build":{"sha":"abc"}}',
    ],
    ids=["extra-key", "pascal-case", "protocol-1-and-extra-key"],
)
def test_a_ready_status_line_is_a_handshake_not_data(ws: Workspace, line: str) -> None:
    _input(ws, line, then='{"data":{"n":1},"metadata":{}}')
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert ws.json_lines("got.jsonl") == [{"data": {"n": 1}, "metadata": {}}]
    assert doc["tasks"][0]["counters"]["data_frames"] == 1


@pytest.mark.parametrize(
    "line",
    [
        '{"status":"Ready","id":1}',  # values are compared exactly, as the original did
        '{"status":"active","id":1}',
        '{"status":"","message":"x"}',
        '{"data":{"id":1},"metadata":{},"status":"ready"}',  # an envelope is a frame
    ],
)
def test_a_first_line_that_is_a_data_row_stays_data(ws: Workspace, line: str) -> None:
    _input(ws, line, then='{"status":"ready"}')  # a second line is never a status line
    code, _, err = ws.run_json("run", "t")
    assert code == 0, err
    assert [orjson.dumps(x) for x in ws.json_lines("got.jsonl")] == [
        orjson.dumps(orjson.loads(line)),
        b'{"status":"ready"}',
    ]


def test_an_outputs_ready_line_with_an_extra_key_is_not_shown_as_its_output(
    ws: Workspace,
) -> None:
    """An output's first line that is not a status line is shown to the user, as the
    original showed it: a ready line with a `version` key was."""
    ws.script(
        "in.sh",
        'read -r command\necho \'{"status":"ready"}\'\necho \'{"data":1,"metadata":{}}\'\n',
    )
    ws.script(
        "out.sh",
        'read -r command\necho \'{"status":"ready","version":"2.1"}\'\n'
        'while read -r line; do echo "got $line"; done\n',
    )
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == 'got {"data":1,"metadata":{}}', done.stdout
    assert "version" not in done.stdout


def test_an_outputs_error_line_with_an_extra_key_fails_the_run_with_its_message(
    ws: Workspace,
) -> None:
    ws.script("in.sh", 'read -r command\necho \'{"status":"ready"}\'\necho \'{"data":1}\'\n')
    ws.script(
        "out.sh",
        'read -r command\necho \'{"status":"error","message":"queue orders is missing",'
        '"code":404}\'\nexit 2\n',
    )
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' refused to start: queue orders is missing" in done.stderr
    assert "404" not in done.stdout


def test_a_status_line_of_dstreams_own_protocol_is_still_checked(ws: Workspace) -> None:
    """Unknown keys are ignored; the keys dstream reads keep their rules: a ready line
    naming protocol 2 is refused, extra keys or not."""
    ws.script(
        "in.sh",
        'read -r command\necho \'{"status":"ready","protocol":2,"version":"9"}\'\n',
    )
    ws.script("out.sh", SHELL_OUTPUT)
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert "input './in.sh' speaks protocol 2" in done.stderr


@pytest.mark.parametrize(
    "line, status, message",
    [
        (b'{"status":"ready","x":1}', "ready", None),
        (b'{"sTaTuS":"error","MESSAGE":"no"}', "error", "no"),
        (b'{"status":"error","message":"first","Message":"last"}', "error", "last"),
        (b'{"status":"READY"}', "legacy", None),
        (b'{"status":1}', "legacy", None),
        (b'["status","ready"]', "legacy", None),
        (b'{"data":null,"status":"ready"}', "legacy", None),
        (b'{"checkpoint":5,"status":"ready"}', "legacy", None),
    ],
)
def test_parse_handshake_reads_a_status_line_as_go_did(
    line: bytes, status: str, message: object
) -> None:
    parsed = parse_handshake(line, "p")
    assert (parsed.status, parsed.message) == (status, message)
