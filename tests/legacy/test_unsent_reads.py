"""Frames dstream read from an original (legacy, no-handshake) input that the output
never took: an output that refused to start. Such an input records its own position
once it wrote a batch (the SQL Server ingester, /work/shared/ORIGINAL.md section 6), so
the run must say what was read and not delivered, never drop it silently."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

ENVELOPE = '{"data":{"id":%d},"metadata":{"TableName":"Persons"}}'
NOTE = "3 frames (Persons: 3) were read and not delivered: the output refused to start"


def _task(ws: Workspace) -> None:
    """A legacy input that writes 3 envelopes and exits 0; an output that refuses."""
    lines = "\n".join(f"echo '{ENVELOPE % n}'" for n in range(3))
    ws.script("in.sh", f"#!/bin/sh\n{lines}\nexit 0\n")
    ws.script(
        "out.sh",
        "#!/bin/sh\nread -r line\nsleep 0.3\n"
        """echo '{"status":"error","message":"cannot connect: bad password"}'\nexit 2\n""",
    )
    ws.config(
        'task "t" {\n  input { provider_path = "./in.sh" }\n'
        '  output { provider_path = "./out.sh" }\n}\n'
    )


@pytest.mark.timeout(60)
def test_a_refused_run_says_what_it_read_from_a_legacy_input(ws: Workspace) -> None:
    _task(ws)
    done = ws.run("run", "t")
    assert done.returncode != 0, done.stderr
    assert f"note     input './in.sh': {NOTE}" in done.stderr, done.stderr
    assert "may not send them again" in done.stderr, done.stderr


@pytest.mark.timeout(60)
def test_a_refused_run_notes_what_it_read_in_its_json(ws: Workspace) -> None:
    _task(ws)
    code, doc, err = ws.run_json("run", "t")
    assert code != 0, err
    task = doc["tasks"][0]
    assert task["error"]["error"] == "ProviderRefused", task
    assert any(NOTE in note for note in task["notes"]), task
