"""A provider's own words in dstream's lines: the message of its handshake refusal
(input or output) is quoted in `run`'s error, in the note of `plan`, `status` and
`destroy`, and in `provider test`'s table, and a line break, carriage return or escape
sequence in it is shown as an escape (`\\n`, `\\x1b`), as its stderr lines are
(docs/protocol.md, sections 2 and 6): it cannot print a line that passes for one of
dstream's (`✅ Task "t" executed successfully`, `error: ...`) nor hide the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.workspace import Workspace

FAKE = '✅ Task "t" executed successfully'
MESSAGE = f"boom\n{FAKE}\x1b[8m\r\nerror: fake line"
# Answers its command line with a refusal whose message holds line breaks and escapes.
REFUSING = f"""
import json, sys
sys.stdin.readline()
print(json.dumps({{"status": "error", "message": {MESSAGE!r}}}), flush=True)
sys.exit(1)
"""
COUNTER = """
    provider_path = "dstream-counter"
    config { max_count = 1 }
"""


def _task(ws: Workspace, role: str) -> None:
    ws.python_script("refusing.py", REFUSING)
    refusing = 'provider_path = "./refusing.py"'
    ws.config(
        f"""
        task "t" {{
          input {{ {refusing if role == "input" else COUNTER} }}
          output {{ {refusing if role == "output" else 'provider_path = "dstream-null"'} }}
        }}
        """
    )


@pytest.mark.parametrize("role", ["input", "output"])
def test_a_refusal_s_message_is_shown_escaped(ws: Workspace, role: str) -> None:
    _task(ws, role)
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    text = done.stdout_bytes + done.stderr_bytes
    assert b"\x1b" not in text and b"\r" not in text, text
    lines = done.stderr.splitlines()
    assert not [line for line in lines if line.startswith((FAKE, "error: fake"))], lines
    said = f"refused to start: boom\\n{FAKE}\\x1b[8m\\r\\nerror: fake line"
    assert any(line.startswith("error: ") and said in line for line in lines), lines


@pytest.mark.parametrize(
    "command",
    [("plan", "t"), ("status", "t"), ("destroy", "t"),
     ("provider", "test", "--role", "input", "./refusing.py")],
)  # fmt: skip
def test_a_refusal_quoted_by_another_command_is_shown_escaped(
    ws: Workspace, command: tuple[str, ...]
) -> None:
    _task(ws, "input")
    done = ws.run(*command)
    text = done.stdout_bytes + done.stderr_bytes
    assert b"\x1b" not in text and b"\r" not in text, text
    lines = (done.stdout + done.stderr).splitlines()
    assert not [line for line in lines if line.startswith((FAKE, "error: fake"))], lines
    assert any(f"boom\\n{FAKE}\\x1b[8m" in line for line in lines), lines


def test_a_refusal_s_message_is_kept_as_sent_in_json(ws: Workspace) -> None:
    """JSON escapes what it holds itself: the document has the message as sent."""
    _task(ws, "input")
    done = ws.run("run", "t", "--json")
    assert done.returncode == 1, done.stderr
    assert MESSAGE in list(_strings(json.loads(done.stdout))), done.stdout


def _strings(value: object) -> Iterator[str]:
    """Every string a JSON document holds, its messages' text among them."""
    if isinstance(value, str):
        yield value.partition("refused to start: ")[2] or value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_an_invalid_frame_s_excerpt_stays_on_a_line_of_its_own(ws: Workspace) -> None:
    """dstream's own line breaks are kept: an invalid frame's error quotes the frame's
    beginning on a line of its own (escaping every error for the refusal above had
    shown it as `...\\n  frame begins: ...` on the error's line), and the frame's own
    control characters stay escaped there."""
    ws.python_script(
        "broken.py",
        """
        import sys
        sys.stdin.readline()
        sys.stdout.write('{"status":"ready","protocol":1}\\n{"data":"\\x1b[8m",\\n')
        """,
    )
    ws.config(
        """
        task "t" {
          input { provider_path = "./broken.py" }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert b"\x1b" not in done.stderr_bytes, done.stderr
    lines = done.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("error: invalid frame"))
    assert "frame begins" not in lines[error], lines
    assert lines[error + 1].startswith("  frame begins: "), lines
