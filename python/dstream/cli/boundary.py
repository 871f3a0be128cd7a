"""What ends a command when a standard stream fails, or a bug does, and the exit.

cli/app.py's error boundary (`main`, `_main`) hands its failures here: a stdout whose
reader left or that cannot be written is one line and exit 1 (`stdout_lost`), a
stderr whose reader left exit 1 and nothing said, but a command a signal stopped keeps
the signal's code (`stream_lost`); any other exception is a crash report and exit 70
(`crashed`). `exit_now` ends the process once the command is done.
"""

from __future__ import annotations

import os
import sys

from dstream import drop_stderr, drop_stdout
from dstream.errors import EXIT_FAILURE, EXIT_OK, STDOUT_GONE, STOPPED, ExitCode, stdout_failed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, TextIO

    from dstream.cli.view import View


def os_error(exc: OSError, wants_json: bool) -> int:
    """An OSError at the boundary: no bug when a standard stream failed (`stream_lost`),
    else a bug's crash report."""
    code = stream_lost(exc)
    return crashed(exc, wants_json) if code is None else code


def stream_lost(exc: OSError, decided: Optional[int] = None) -> Optional[int]:
    """The exit code of a command stopped by a standard stream that failed (`exc`), from
    the one it had decided before its last words (`decided`); None when no standard
    stream failed. stdout's reader left (`| head`: a BrokenPipeError) or stdout cannot
    be written (`> /dev/full`): one line, and exit 1 or the command's own code
    (`stdout_lost`). stderr's reader left, or stderr cannot be written (`2> /dev/full`):
    nothing said (nothing can be: what stderr
    still holds is dropped, what stdout holds is written), and exit 1, but for a command
    a signal stopped, which keeps the signal's code: it was stopped, not failed by
    dstream, and the code is what a scheduler reads (`2>&1 | tee log`, tee killed by the
    same Ctrl-C). Which pipe broke is asked of the streams, not read from the error: a
    BrokenPipeError from a provider's pipe or a socket that a bug let through is that
    bug's."""
    own = EXIT_FAILURE if decided is None else decided
    if isinstance(exc, BrokenPipeError):
        if _reader_left(sys.stdout):
            return stdout_lost(own)
        if _reader_left(sys.stderr):
            return _stderr_lost(decided)
    elif _failing(sys.stdout):
        return stdout_lost(own, exc)
    elif _failing(sys.stderr):
        return _stderr_lost(decided)
    return None


def _stderr_lost(decided: Optional[int]) -> int:
    drop_stderr()
    return decided if decided in STOPPED else EXIT_FAILURE


def stream_failed(exc: OSError, view: View, decided: Optional[int]) -> int:
    """The exit code of a command whose output (`view`'s) failed on the way (`exc`:
    `stream_lost`, from the code it had `decided`, if it had), what stdout still holds
    written first if it can be; `exc` raised again when no standard stream failed (a
    bug's)."""
    release_quietly(view)
    code = stream_lost(exc, decided)
    if code is None:
        raise exc
    return code


def release_quietly(view: View) -> None:
    """Write what stdout holds on the way to a crash report, which is what is said: a
    stdout that fails then is no second error."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        view.release()


def _reader_left(stream: object) -> bool:
    """Whether `stream` is a pipe or socket whose reader has left: a write to it fails
    with EPIPE, and its descriptor polls as failed (a pipe) or hung up (a socket)."""
    import select

    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # none, closed, or no descriptor
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def crashed(exc: BaseException, wants_json: bool) -> int:
    """A bug: one line naming a crash report, exit 70."""
    try:
        from dstream.cli import crash

        return crash.report(exc, json=wants_json)
    except Exception:  # the report itself failed: still one line, still 70
        print(f"error: internal error ({type(exc).__name__})", file=sys.stderr)
        return ExitCode.INTERNAL


def _failing(stream: TextIO) -> bool:
    """Whether `stream` (stdout, stderr) fails (an OSError from elsewhere is a bug). A
    buffered stream keeps what it could not write, and a flush meets its error again; an
    unbuffered one (PYTHONUNBUFFERED) keeps nothing, but a device that refuses every
    write (/dev/full) refuses an empty one too."""
    try:
        stream.flush()
        os.write(stream.fileno(), b"")
    except OSError:
        return True
    except ValueError:  # closed: cli/entry.py reopens a closed one, so not this one's
        return False
    return False


# The line of a command whose stdout nobody reads any more (docs/cli.md).
STDOUT_LOST = f"error: {STDOUT_GONE}"


def stdout_unwritable(exc: OSError) -> str:
    """The line of a command whose stdout failed otherwise (`> /dev/full`)."""
    return f"error: {stdout_failed(exc)}"


def _error_line(reason: str) -> str:
    """`error: REASON`, or with --log-format json an error record (as every line of
    dstream's own on stderr is one then: cli/view.py), with its line break."""
    from dstream import logs  # set up by then, if the command got that far

    if logs.log.writes_json:
        return logs.record_line(logs.ERROR, reason)
    return f"error: {reason}\n"


def stdout_lost(code: int, exc: Optional[OSError] = None) -> int:
    """A write to stdout failed as nobody reads it (`| head`; `>&-`, which cli/entry.py
    makes the same) or as it cannot be written (`exc`: a full disk): no bug and no
    traceback, but the output is lost, so the command did not do its job: one line on
    stderr says so, once, and it exits 1, or with its own failure's code. What is still
    buffered for stdout is dropped."""
    if drop_stdout(BrokenPipeError() if exc is None else exc):
        line = _error_line(STDOUT_GONE if exc is None else stdout_failed(exc))
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr is gone too: the exit code says it
            pass
    return EXIT_FAILURE if code == EXIT_OK else code


def exit_now(code: int) -> None:
    """Exit as soon as the command is done. The interpreter's teardown (a last garbage
    collection, freeing every module) costs ~13 ms and does nothing a user sees, so it
    is skipped: the streams are flushed and the atexit handlers run here. When a
    non-daemon thread still runs, or a stream cannot be flushed (but for a stdout or a
    stderr nobody reads or that cannot be written: `stdout_lost`, `_stderr_flushed`),
    the ordinary exit keeps its usual behaviour (waiting for the thread, reporting the
    error)."""
    import atexit
    import threading

    try:
        sys.stdout.flush()
    except BrokenPipeError:  # nobody reads it (`| head`, `>&-`): said in one line
        code = stdout_lost(code)
    except OSError as exc:  # it cannot be written (a full disk): said in one line
        code = stdout_lost(code, exc)
    except ValueError:
        sys.exit(code)
    if not _stderr_flushed():
        sys.exit(code)
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:  # the handlers (logging's, for one) may have written more
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _stderr_flushed() -> bool:
    """Whether what stderr holds is written, or dropped as its reader left or it cannot
    be written (`2> /dev/full`): dstream's log lines written while it was so wait in its
    buffer (the log says nothing where nothing can be said, logs.py), and the
    interpreter's last flush would fail on them and make any exit code 120 (a run
    --json's, whose document on stdout says its code). False when it may yet be written
    (a non-blocking one that was full: the ordinary exit flushes it again), or fails
    otherwise (the ordinary exit reports that)."""
    try:
        sys.stderr.flush()
    except BrokenPipeError:
        if not _reader_left(sys.stderr):
            return False
        drop_stderr()
    except BlockingIOError:
        return False
    except OSError:
        drop_stderr()
    except ValueError:
        return False
    return True
