"""A provider's structured stderr record is shown like its plain lines: every physical
line with the provider's prefix (a `msg` holding a newline cannot print a line that
looks like dstream's own), and its fields as JSON."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

RECORD = {
    "level": "info",
    "msg": 'multi\nline\n✅ Task "t" executed successfully',
    "nested": {"a": [1, 2]},
    "user": "bob",
    "note": "two\nlines",
}


@pytest.mark.timeout(120)
def test_every_line_of_a_record_has_the_prefix_and_fields_stay_on_it(ws: Workspace) -> None:
    ws.python_script(
        "in.sh",
        f"""
        import json, sys
        sys.stdin.readline()
        sys.stderr.write(json.dumps({RECORD!r}) + "\\n")
        sys.stderr.flush()
        print('{{"status":"ready","protocol":1}}')
        print('{{"data":1}}')
        """,
    )
    ws.script("out.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    start = done.stderr.index("input: multi")
    assert done.stderr[start:].splitlines()[:3] == [
        "input: multi",
        "input: line",
        'input: ✅ Task "t" executed successfully nested={"a":[1,2]} user=bob note="two\\nlines"',
    ], done.stderr
    assert "{'a': [1, 2]}" not in done.stderr


@pytest.mark.timeout(120)
def test_control_characters_in_a_providers_stderr_are_shown_not_obeyed(ws: Workspace) -> None:
    """An escape sequence that erases the line (`ESC [2K`) or a carriage return would
    let a provider's line print over its own prefix, live or in the error's last stderr
    lines, and read as dstream's: both are shown as escapes."""
    ws.script(
        "in.sh",
        r"""
        read -r command
        printf 'ansi \033[2K\033[1Gdstream: fake\n' >&2
        printf 'plain with CR\rerror: fake dstream error\n' >&2
        exit 3
        """,
    )
    ws.script("out.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode != 0
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    assert "ansi \\x1b[2K\\x1b[1Gdstream: fake" in done.stderr
    assert "plain with CR\\rerror: fake dstream error" in done.stderr  # the quoted tail
    lines = done.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("dstream: fake", "error: fake"))]
