"""The watchdog that takes a provider's whole process tree down with dstream.

PR_SET_PDEATHSIG kills a provider when dstream dies, but not what the provider started;
a subreaper would inherit those orphans only while dstream lives. So one tiny process
outside dstream (a /bin/sh loop, started when a run begins) holds the read end of
a pipe whose only write end is dstream's: dstream registers each provider's process
group on it, and unregisters it once the provider is gone. When the write end closes,
which the kernel does when dstream exits however it exits, SIGKILL included, the
watchdog SIGKILLs every group still registered. What is covered and what is not:
docs/delivery.md, "Process tree".
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# The watchdog: reads "+ PGID" / "- PGID" lines on stdin; at EOF (every copy of the
# write end closed: dstream is gone, however it ended) it SIGKILLs the groups still
# registered. Double-forked (the outer sh exits at once), so it is nobody's child but
# init's and ignores the signals a terminal or a group kill would send it. dash's kill
# has no "--": `kill -9 -PGID` is how it names a group.
_WATCHDOG = r"""
trap '' INT TERM HUP
exec 3<&0
(
  groups=' '
  while read -r op g; do
    case $op in
      +) groups="$groups$g " ;;
      -) case "$groups" in *" $g "*) groups="${groups%%" $g "*} ${groups#*" $g "}" ;; esac ;;
    esac
  done
  for g in $groups; do kill -9 -"$g" 2>/dev/null; done
) <&3 3<&- &
"""


# Its $0: `ps` shows `/bin/sh -c ... dstream-watchdog`, so a user who finds the loop
# still running (dstream was SIGKILLed a moment ago) can tell what it is.
NAME = "dstream-watchdog"


class _Watchdog:
    """Kills the process groups of dstream's providers when dstream dies (see the
    module docstring). Started when a run begins; one per dstream process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: Optional[int] = None
        self._owner = 0  # the pid that started it (a forked dstream starts its own)
        self._outer: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        """Start it now without waiting for it (a run calls this before its own start-up
        work, which then overlaps the watchdog's): the outer sh is reaped by ready()."""
        with self._lock:
            self._start()

    def ready(self) -> None:
        """Started, and its outer sh reaped: called before a provider is started, so that
        dstream's children are only ever its providers."""
        with self._lock:
            self._ensure()

    def _start(self) -> None:
        if self._fd is not None and self._owner == os.getpid():
            return
        read_end, write_end = os.pipe()  # both close-on-exec: providers inherit neither
        try:
            outer = subprocess.Popen(
                ["/bin/sh", "-c", _WATCHDOG, NAME],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            os.close(write_end)
            return
        finally:
            os.close(read_end)
        self._outer = outer
        # Reaped as soon as it exits, also by a run that then waits (a standby for its
        # lease) and starts no provider: dstream's children are only ever its providers.
        threading.Thread(target=outer.wait, name="watchdog-reaper", daemon=True).start()
        self._fd, self._owner = write_end, os.getpid()

    def _ensure(self) -> Optional[int]:
        self._start()
        if self._outer is not None:
            self._outer.wait()  # it exits at once, leaving the loop to init
            self._outer = None
        return self._fd if self._owner == os.getpid() else None

    def _send(self, line: str) -> None:
        with self._lock:
            fd = self._ensure()
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.write(fd, line.encode())

    def watch(self, pgid: int) -> None:
        self._send(f"+ {pgid}\n")

    def forget(self, pgid: int) -> None:
        self._send(f"- {pgid}\n")


watchdog = _Watchdog()
