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
