"""The `dstream` console script: the command line with the garbage collector paused
while it starts, its standard streams made safe to use, SIGINT and SIGTERM held
until the command can end on them the documented way, and SIGHUP until the command
knows whether it reloads on it (`settle_hangup`).

A start imports ~140 modules and builds the configuration: hundreds of thousands of
objects, none of them garbage, which made the collector run ~20 times before the first
envelope of a `dstream run` (~3 M instructions, ~2 % of its start; issue 22). The
command turns it back on (`resume_collector`) before its own work: `dstream run` once its
providers are about to start (its module sets RESUMES_COLLECTOR), every other command
before it executes (cli/app.py). Only this entry pauses it: code that calls
`cli.app.main` itself keeps its collector as it was.

What the start made lives as long as the process, so it is frozen (`gc.freeze`) as the
collector resumes: the first collection would otherwise go through all of it, ~1.3 ms
before a run's providers start. A cycle the start left behind is kept, not collected:
~200 objects in a one-task run.

Nothing here imports more than the interpreter has loaded before it (`_signal` is the C
half of `signal`, as in dstream/warm) and the package itself (which holds the signals:
dstream/__init__.py says why): this is the start path of every command.
"""

from __future__ import annotations

import _signal
import _thread
import gc
import os
import sys

from dstream import HeldSignals, drop_stderr, dropped_stops, hold_signals, settle_stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_paused = False


def run(*, warm: bool = True) -> None:
    """The `dstream` console script, and `python -m dstream.cli.app` (cli/app.py) with
    `warm` False, which is DSTREAM_WARM_START=0: a warm start neither starts nor is kept
    there, for the tests run dstream that way and each of their runs starts as the
    first (tests/workspace.py)."""
    global _paused
    defer_signals()  # first: from here a signal ends the command the documented way
    open_closed_streams()  # before anything opens a file (the warm start does)
    escape_unwritable()
    gc.disable()
    _paused = True
    _warm_start(warm)
    from dstream.cli.app import run as run_command

    run_command()


def _warm_start(allowed: bool) -> None:
    """Start the run's providers from a snapshot when there is one (dstream/warm).
    `allowed` False is DSTREAM_WARM_START=0, set here, so that the switch is read in
    one place, warm.launch (a run it did not launch keeps no snapshot either)."""
    from dstream import warm

    if not allowed:
        os.environ[warm.ENV_WARM] = "0"
    try:
        warm.launch(sys.argv[1:])  # before any other import: dstream/warm says why
    except OSError:  # a provider it could not start: the run starts it and says why
        warm.abandon()
    except Exception as exc:  # a bug in it: the run starts as always, and says so
        warm.abandon()
        warm.failure = exc
    if _start is not None and _start.came:  # a signal came while it started: what it
        warm.abandon()  # started stops now


def resume_collector() -> None:
    """Turn the collector back on if this entry paused it, the start's objects frozen."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


# -- signals --------------------------------------------------------------------------


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt: a command ends on it as on
    Ctrl-C (what it started is stopped on the way out), with exit 143. `run` and `agent`
    put their own handlers in place once they take tasks (a drain), and back after."""


def terminate(signum: int, frame: object) -> None:
    raise Terminated


_start: Optional[HeldSignals] = None  # SIGINT and SIGTERM held while the command starts
_hangup: Optional[HeldSignals] = None  # SIGHUP held until the command is known
# The main thread, once the command is known to take no dropped stop itself
# (`settle_stops`): a stop Python drops from then on is sent to it again.
_resend_to: Optional[int] = None


def defer_signals() -> None:
    """From the console script's first line until the command's error boundary is up
    (`raise_deferred`, called there), SIGINT and SIGTERM are only noted (dstream's
    HeldSignals). Raised before, in the middle of an import, SIGINT was a raw traceback
    and SIGTERM (its default) a silent death, with no JSON document for --json.
    Deferred, they end the command at the boundary as they do later: a few tens of
    milliseconds after they came at most. A SIGINT the process was started to ignore (a
    shell's background job) stays ignored."""
    global _start, _hangup
    _start = hold_signals()
    if hasattr(_signal, "SIGHUP"):  # not on Windows
        _hangup = hold_signals((_signal.SIGHUP,))


def raise_deferred() -> None:
    """SIGINT raises KeyboardInterrupt again and SIGTERM Terminated, and the first of
    those that came while deferred is raised now. Nothing when they were not deferred
    (code that calls `cli.app.main` itself keeps its handlers)."""
    global _start
    held, _start = _start, None
    if held is not None:
        sys.unraisablehook = _dropped
        held.release({_signal.SIGINT: _signal.default_int_handler, _signal.SIGTERM: terminate})
        held.deliver()


def _dropped(unraisable: sys.UnraisableHookArgs) -> None:
    """sys.unraisablehook: the exception of a stop signal raised where Python drops it
    (a weakref's callback, a __del__) is noted (dstream.dropped_stops), not printed as
    a traceback, and once the command takes no dropped stop itself (`settle_stops`) the
    signal is sent to the main thread again; any other goes to Python's own hook."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        signum = _signal.SIGTERM if isinstance(exc, Terminated) else _signal.SIGINT
        dropped_stops.append(signum)
        if _resend_to is not None:
            # From a thread of its own: sent from here, its handler would raise at once,
            # inside the callback again (os.kill and pthread_kill run the handlers of
            # the signals they sent the calling thread before they return). Sent from
            # there, it raises where the main thread is next, a moment later.
            _thread.start_new_thread(_signal.pthread_kill, (_resend_to, signum))
        return
    sys.__unraisablehook__(unraisable)


def settle_stops(drains: bool) -> None:
    """SIGINT and SIGTERM whose exception Python dropped (`_dropped`), once the command
    is about to execute. `run` and `agent` (`drains`: their module sets DRAINS) take
    the first as their first stop, whenever it came (runtime/signals.py). Any other
    command ends on it as on a Ctrl-C: one that came while it started is raised now,
    before the command does anything, and one that comes later is sent again
    (`_dropped`), so that it raises where the command is then."""
    global _resend_to
    if drains:
        return
    _resend_to = _thread.get_ident()  # the main thread's: the command's is
    raise_dropped()


def raise_dropped() -> None:
    """The first stop Python dropped, raised as its handler raises it (KeyboardInterrupt,
    Terminated), when one is noted and the command takes none itself (`settle_stops`):
    a command that went on to its end as the one sent again never raised (its helper
    thread had not run yet, the process about to exit) is stopped all the same, never
    exit 0."""
    if _resend_to is None or not dropped_stops:
        return
    signum = dropped_stops[0]
    dropped_stops.clear()
    raise Terminated if signum == _signal.SIGTERM else KeyboardInterrupt


def settle_hangup(reloads: bool) -> None:
    """SIGHUP, once the command is known (`reloads`: its module sets RELOADS). `run` and
    `agent` reload on it, and a service manager may send one right after it started
    them (`systemctl reload`), before their reload's handler is in place: they keep it
    held to their end, and runtime/signals.py applies one that came as a reload once
    the tasks start; after they ended, one is ignored (it died silently, exit 129,
    with no summary and no history). Any other command keeps its default: one that
    came ends it now, as a terminal's hangup ends any short command (docs/cli.md)."""
    global _hangup
    held, _hangup = _hangup, None
    if held is not None and not reloads:
        held.release()
        held.deliver()


# -- standard streams -----------------------------------------------------------------


def open_closed_streams() -> None:
    """A standard stream the process was started without (`<&-`, `>&-`, `2>&-`) is opened
    on what every command already handles: stdin on /dev/null (a command that would ask
    or read finds no terminal and no input, as with `</dev/null`), stdout on a pipe
    nobody reads (a write fails as when the reader left, `| head`: cli/boundary.py),
    stderr on /dev/null. Python leaves such a stream None (a write to it was an
    AttributeError: a crash report) and its descriptor free, for the first file dstream
    opens to take."""
    if sys.stdin is None:
        settle_stream(os.open(os.devnull, os.O_RDONLY), 0)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        read, write = os.pipe()
        settle_stream(write, 1)
        if read != 1:  # else dup2 closed it
            os.close(read)
        sys.stdout = open(  # noqa: SIM115
            1, "w", encoding="utf-8", errors="backslashreplace", closefd=False
        )
    if sys.stderr is None:
        drop_stderr()
        sys.stderr = open(  # noqa: SIM115
            2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
        )


def escape_unwritable() -> None:
    """A character stdout's encoding cannot write (a task named "zażółć" in an
    ISO-8859-1 or C locale, the closing line's ✅) is written escaped, as Python writes
    it on stderr: Python's own stdout is strict there, and the first such character
    was a crash, the command's output lost. A JSON document escapes it the JSON way
    (cli/view.py `View.document`), so that it stays valid."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
