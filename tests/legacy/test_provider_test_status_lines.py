"""`dstream provider test` reads a provider's first line by the rule a run reads it
(parse_handshake): a status line whose keys are in another case (Go's json.Unmarshal
matched them so) is a handshake, not a legacy provider's first data frame."""

from __future__ import annotations

import pytest

from dstream.kit.harness import Line
from dstream.kit.probe import Transcript
from tests.workspace import Workspace, json_document


@pytest.mark.parametrize(
    "line, status",
    [
        (b'{"Status":"ready"}', {"Status": "ready", "status": "ready"}),
        (
            b'{"STATUS":"error","Message":"no db"}',
            {"STATUS": "error", "Message": "no db", "status": "error", "message": "no db"},
        ),
        (b'{"status":"Ready"}', None),  # values are compared exactly, as in a run
        (b'{"data":{},"status":"ready"}', None),  # an envelope is a frame
        (b'{"status":"active","id":1}', None),
    ],
)
def test_a_first_line_is_a_status_line_as_a_run_reads_it(line: bytes, status: object) -> None:
    transcript = Transcript(first=Line(line, 0))
    assert transcript.status_line == status
    assert transcript.legacy is (status is None)


def test_a_pascal_case_ready_line_passes_the_handshake_check(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh",
        'read -r command\necho \'{"Status":"ready"}\'\necho \'{"data":{"n":1},"metadata":{}}\'\n',
    )
    done = ws.run(
        "provider", "test", str(provider), "--role", "input", "--check", "handshake", "--json"
    )
    [check] = json_document(done)["checks"]
    assert (check["status"], check["reason"]) == ("pass", "ready, features: none"), check
