"""A provider of protocol 1 that prints a line on stdout before its handshake: its
first line makes it a legacy provider (docs/protocol.md, section 2: only the first line
is read as a handshake), so its ready line is delivered to the output as a record. The
contract keeps that, and the run says so, once, naming the fix."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

READY = '{"status":"ready","protocol":1,"features":["checkpoints"]}'
FILE_OUTPUT = """
  output {
    provider_path = "dstream-file"
    config { path = "out.jsonl" }
  }
"""


def _task(ws: Workspace, *stdout: str) -> None:
    lines = "".join(f"echo '{line}'\n" for line in stdout)
    ws.script("in.sh", "read -r command\n" + lines)
    ws.config(f'task "t" {{\n  input {{ provider_path = "./in.sh" }}\n{FILE_OUTPUT}}}\n')


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "a status line, not data" in line]


@pytest.mark.timeout(120)
def test_a_ready_line_after_a_banner_is_delivered_with_a_warning(ws: Workspace) -> None:
    data = '{"data":{"n":1},"metadata":{}}'
    _task(ws, "Starting sh-src...", READY, data, READY)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert "input: Starting sh-src..." in done.stderr  # the banner: the input's log
    assert [row.get("status") for row in ws.json_lines("out.jsonl")] == ["ready", None, "ready"]
    [warning] = _warnings(done.stderr)  # once, however many there are
    assert "input './in.sh'" in warning and "offset 19" in warning, warning
    assert "'Starting sh-src...'" in warning, warning
    assert "delivered to the output as a record" in warning, warning
    assert "write nothing on stdout before the ready line" in warning, warning


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "lines",
    [
        ['{"data":{"n":1},"metadata":{}}', '{"status":"ready"}'],  # no "protocol": data
        ['{"status":"shipped","protocol":1}', '{"status":"active","id":2}'],
        [READY, '{"data":{"n":1},"metadata":{}}'],  # the handshake itself
    ],
    ids=["bare-ready-record", "other-status-values", "a-protocol-input"],
)
def test_other_lines_with_a_status_get_no_warning(ws: Workspace, lines: list[str]) -> None:
    _task(ws, *lines)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert not _warnings(done.stderr), done.stderr


@pytest.mark.timeout(120)
def test_a_byte_order_mark_before_an_original_inputs_first_data_line_is_not_data(
    ws: Workspace,
) -> None:
    """.NET's console may write a UTF-8 BOM first (docs/protocol.md, section 2: it is
    ignored before the first line). Before an original input's first data line it made
    that line a log line: the frame was lost and the run exited 0."""
    script = r"""cat > /dev/null
printf '\357\273\277{"data":{"a":1},"metadata":{}}\n{"data":{"a":2},"metadata":{}}\n'
"""
    ws.script("in.sh", script)
    ws.config(f'task "t" {{\n  input {{ provider_path = "./in.sh" }}\n{FILE_OUTPUT}}}\n')
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert [row["data"]["a"] for row in ws.json_lines("out.jsonl")] == [1, 2], done.stderr
    assert "stdout lines of the legacy input, logged" not in done.stderr


# An output of protocol 1 that prints a banner before its handshake, then acknowledges
# every checkpoint.
BANNER_OUTPUT = r"""
read -r command
echo 'connecting to sink...'
echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
while IFS= read -r line; do
  case "$line" in '{"checkpoint"'*) printf '%s\n' "$line" ;; esac
done
"""


@pytest.mark.timeout(120)
def test_an_outputs_ready_line_after_a_banner_gets_the_same_warning(ws: Workspace) -> None:
    """Such an output was told "it wrote no handshake", though it wrote one, on its
    second line: it gets the input's precise warning, naming the banner and the fix."""
    data = '{"data":{"n":1},"metadata":{}}'
    lines = "".join(f"echo '{line}'\n" for line in (READY, data, '{"checkpoint":1}', data))
    ws.script("in.sh", "read -r command\n" + lines)
    ws.script("out.sh", BANNER_OUTPUT)
    ws.task("./in.sh", "./out.sh")
    for _ in (1, 2):  # the second knows the output from the first (describe cache)
        done = ws.run("run", "t")
        assert done.returncode == 0, done.stderr
        assert "wrote no handshake" not in done.stderr, done.stderr
        [warning] = [line for line in done.stderr.splitlines() if "a status line" in line]
        assert "output './out.sh'" in warning and "stdout line 2" in warning, warning
        assert "first stdout line ('connecting to sink...') was not its handshake" in warning
        assert "envelopes only" in warning, warning
        assert "write nothing on stdout before the ready line" in warning, warning
