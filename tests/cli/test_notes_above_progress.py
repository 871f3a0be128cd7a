"""With the live progress display on a terminal, every line dstream writes goes above
it, as log records do: the stop notice (written from the signal handler) and a
reload's notes (`resuming from it anyway (SIGHUP reload)`). Written straight to the
terminal, the display's next redraw (the cursor moved up over its own lines, each
erased) wiped them off the screen.

The run is a real `dstream run` on a pseudo-terminal; what the terminal shows in the
end is worked out from what it was sent (the cursor moves and erases rich's live
display uses)."""

from __future__ import annotations

import re
import signal

import pytest

from dstream.errors import ExitCode
from tests.services import wait_until
from tests.workspace import Workspace

TASK = """
state {{ path = "state" }}
task "t" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = {interval}
      max_count        = 0
      checkpoint_every = 5
    }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""

_CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\r|\n|[^\x1b\r\n]+")


def screen(sent: str) -> list[str]:
    """The lines a terminal shows after `sent`: text, CR, LF, and the CSI sequences the
    live display moves with (A up, B down, K erase in line; the others draw nothing)."""
    lines, row, col = [""], 0, 0
    for match in _CONTROL.finditer(sent):
        token, arg, command = match.group(0), match.group(1), match.group(2)
        if command:
            count = int(arg) if arg.isdigit() else 1
            if command == "A":
                row = max(0, row - count)
            elif command == "B":
                row += count
                lines.extend([""] * (row + 1 - len(lines)))
            elif command == "K":
                lines[row] = "" if arg == "2" else lines[row][:col]
            continue
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            lines.extend([""] * (row + 1 - len(lines)))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token) :]
            col += len(token)
    return [line.rstrip() for line in lines]


@pytest.mark.timeout(120)
def test_the_stop_notice_and_a_reloads_note_stay_above_the_live_display(
    ws: Workspace,
) -> None:
    ws.config(TASK.format(interval=20))
    with ws.live_on_a_terminal("run", "t") as (proc, sent):
        wait_until("the live display", lambda: b"env/s" in sent, tick=0.1)
        # A checkpoint stored: the reload's note is about resuming from it.
        state = ws.root / "state"
        wait_until("a checkpoint", lambda: any(not p.name.startswith(".") for p in state.iterdir()))
        ws.config(TASK.format(interval=10))
        proc.send_signal(signal.SIGHUP)
        wait_until("the restart", lambda: sent.count(b"counter starting") == 2, tick=0.1)
        size = len(sent)  # the display redrawn since (what erased a note written aside)
        wait_until("a redraw", lambda: sent.count(b"env/s", size) >= 2, tick=0.1)
        proc.send_signal(signal.SIGTERM)
        wait_until("the stop notice", lambda: b"stopping: draining" in sent, tick=0.1)
        proc.wait(timeout=60)
    shown = "\n".join(screen(bytes(sent).decode("utf-8", "replace")))
    assert proc.returncode == ExitCode.TERMINATED, shown
    assert "task t: its definition changed: restarting it" in shown, shown
    assert b"resuming from it anyway (SIGHUP reload)" in sent  # written, then erased
    assert "resuming from it anyway (SIGHUP reload)" in shown, shown
    assert "dstream: stopping: draining what the inputs already wrote" in shown, shown
