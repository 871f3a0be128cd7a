"""An oversized frame's message gives sizes that differ: a line one byte over a limit
of 1 MiB is not "1.0 MiB exceeds max_frame_size 1.0 MiB"."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "size, words",
    [
        (1048577, "frame of 1048577 B exceeds max_frame_size 1048576 B"),
        (3 * 1048576, "frame of 3.0 MiB exceeds max_frame_size 1.0 MiB"),
    ],
)
def test_the_sizes_in_the_message_differ(ws: Workspace, size: int, words: str) -> None:
    ws.script(
        "in.sh",
        f"""
        read -r command
        echo '{{"status":"ready","protocol":1}}'
        printf '{{"data":"%s"}}\\n' "$(head -c {size - 11} /dev/zero | tr '\\0' a)"
        """,
    )
    ws.script("out.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task("./in.sh", "./out.sh", settings='max_frame_size = "1MiB"')
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert words in done.stderr, done.stderr


# Sides of a frame longer than max_frame_size: the input writes it, or the output
# acknowledges a checkpoint that long (an acknowledgement is as long as its frame).
BIG_DATA_INPUT = """
read -r command
echo '{"status":"ready","protocol":1}'
printf '{"data":"%s"}\\n' "$(head -c 3000 /dev/zero | tr '\\0' a)"
"""
BIG_CHECKPOINT_INPUT = """
read -r command
echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
echo '{"data":1}'
printf '{"checkpoint":"%s"}\\n' "$(head -c 1000 /dev/zero | tr '\\0' b)"
"""
LONG_ACK_OUTPUT = """
read -r command
echo '{"status":"ready","protocol":1}'
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) printf '{"checkpoint":"%s"}\\n' "$(head -c 3000 /dev/zero | tr '\\0' b)" ;;
  esac
done
"""
ECHO_OUTPUT = 'read -r command\necho \'{"status":"ready","protocol":1}\'\ncat >/dev/null\n'


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "input_body, output_body",
    [(BIG_DATA_INPUT, ECHO_OUTPUT), (BIG_CHECKPOINT_INPUT, LONG_ACK_OUTPUT)],
    ids=["input", "output"],
)
def test_a_frame_over_the_limit_says_the_limit_can_be_raised(
    ws: Workspace, input_body: str, output_body: str
) -> None:
    """The input's frame was "fix the provider, or set invalid_frames...": nothing said
    that frames that large may be allowed, as the output's line said."""
    ws.script("in.sh", input_body)
    ws.script("out.sh", output_body)
    ws.task("./in.sh", "./out.sh", settings='max_frame_size = "2KiB"')
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    hints = [line for line in done.stderr.splitlines() if line.lstrip().startswith("hint:")]
    assert any("raise max_frame_size in the task" in hint for hint in hints), done.stderr
