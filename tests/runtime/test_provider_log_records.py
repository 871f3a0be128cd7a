"""A provider's structured stderr record is shown like its plain lines: every physical
line with the provider's prefix (a `msg` holding a newline cannot print a line that
looks like dstream's own), and its fields as JSON."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace, log_records

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


# Records that name a task and role of their own, and a msg that is no string.
SPOOFING: list[dict[str, object]] = [
    {"level": "info", "msg": "with task", "task": "spoof", "role": "spoof", "x": 1},
    {"level": "info", "msg": {"nested": True}},
    {"level": "info", "msg": [1, "two"]},
]


def _logging_input(ws: Workspace, records: list[dict[str, object]]) -> None:
    """Task "t": an input that writes `records` on stderr as JSON lines, then its
    handshake and one envelope, into an output that reads to the end."""
    ws.python_script(
        "in.sh",
        f"""
        import json, sys
        sys.stdin.readline()
        for record in {records!r}:
            sys.stderr.write(json.dumps(record) + "\\n")
        sys.stderr.flush()
        print('{{"status":"ready","protocol":1}}')
        print('{{"data":1}}')
        """,
    )
    ws.script("out.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task("./in.sh", "./out.sh")


@pytest.mark.timeout(120)
def test_dstreams_own_fields_win_over_a_providers_in_json_logs(ws: Workspace) -> None:
    """docs/operations.md, "Logs": a record's `task` and `role` are dstream's, the
    provider's own kept as `provider_task`, `provider_role`; a `msg` that is no string
    is shown as JSON (it was Python's repr: `{'nested': True}`)."""
    _logging_input(ws, SPOOFING)
    done = ws.run("run", "t", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    records = {r["msg"]: r for r in log_records(done.stderr)}
    spoof = records["with task"]
    assert (spoof["task"], spoof["role"]) == ("t", "input"), spoof
    assert (spoof["provider_task"], spoof["provider_role"], spoof["x"]) == ("spoof", "spoof", 1)
    assert '{"nested":true}' in records, records
    assert '[1,"two"]' in records, records
    text = ws.run("run", "t")
    assert "input: with task provider_task=spoof provider_role=spoof x=1\n" in text.stderr
    assert 'input: {"nested":true}\n' in text.stderr, text.stderr


@pytest.mark.timeout(120)
def test_a_providers_own_provider_task_field_is_kept_beside_its_task(ws: Workspace) -> None:
    """A record with both `task` and `provider_task` lost the second: the renamed `task`
    overwrote it. A renamed field takes a name the record does not hold
    (`provider_provider_task`), so no field of the provider's is dropped."""
    _logging_input(
        ws, [{"level": "info", "msg": "both", "task": "a", "provider_task": "b", "role": "c"}]
    )
    done = ws.run("run", "t", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    shown = next(r for r in log_records(done.stderr) if r["msg"] == "both")
    assert (shown["task"], shown["role"]) == ("t", "input"), shown
    assert shown["provider_task"] == "b", shown
    assert shown["provider_provider_task"] == "a", shown
    assert shown["provider_role"] == "c", shown


@pytest.mark.timeout(120)
def test_a_providers_time_and_ts_fields_are_kept(ws: Workspace) -> None:
    """Both were dropped, against "no field of a provider's is dropped": `time` clashes
    with the record's own, so it is kept as `provider_time`; `ts` with nothing dstream
    writes, so it is kept as it is."""
    _logging_input(ws, [{"level": "info", "msg": "has ts", "ts": 1, "time": "2020"}])
    done = ws.run("run", "t", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    shown = next(r for r in log_records(done.stderr) if r["msg"] == "has ts")
    assert (shown["ts"], shown["provider_time"]) == (1, "2020"), shown
    assert shown["time"] != "2020" and shown["time"].endswith("Z"), shown  # dstream's own
    text = ws.run("run", "t")
    assert "input: has ts ts=1 provider_time=2020\n" in text.stderr, text.stderr
