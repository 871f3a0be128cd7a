"""dstream: Terraform for data streaming.

Declarative tasks wire an input provider to an output provider; a Rust pump moves
newline-delimited JSON envelopes between them (see docs/protocol.md).
"""

from __future__ import annotations

import _signal
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Union

    from dstream.errors import DstreamError

    # A signal's handler as _signal gives it: a function, SIG_DFL or SIG_IGN.
    Handler = Union[Callable[[int, object], object], int]

# The public names; HeldSignals and hold_signals (below) are for cli/entry.py and dstream/warm,
# the standard streams' helpers for the CLI and the runtime.
__all__ = ["DstreamError", "__version__"]

__version__: str  # read on first use (below), not on import


def __getattr__(name: str) -> object:
    # Both on first use: importing this package is the first thing every command and
    # every provider does, before the command line's entry (cli/entry.py) can set up.
    if name == "DstreamError":
        from dstream.errors import DstreamError

        return DstreamError
    # The version lives in Cargo.toml alone and the wheel's metadata carries it; reading
    # the metadata imports importlib.metadata (~15 ms), which every `dstream run` and
    # every provider (they import this package too) would pay without ever needing it.
    # The metadata is the installed distribution's, whatever its name (`dstream-io` on
    # PyPI): never version("dstream"), which may be the unrelated PyPI project's.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from dstream.extras import installed_distribution

    found = installed_distribution()
    value = found.version if found is not None else "0+unknown"  # a source tree, no metadata
    globals()["__version__"] = value
    return value


# -- signals held ------------------------------------------------------------------------
# The one way dstream keeps SIGINT and SIGTERM from breaking something off half-way: the
# console script's start (cli/entry.py) and a warm start's stop (dstream/warm). It lives
# here because the entry holds them before it imports anything else of dstream (the warm
# start included), and the warm start, a lower layer, cannot import the entry: a module
# of its own would be one more file to find and read on every command's start (issue 22).
# `_signal` is the C half of `signal`, which the interpreter has loaded before any of this.


# The stop signals whose exception Python dropped: raised by a handler where nothing can
# propagate it (a weakref's callback, a __del__: "Exception ignored in ..."), the import
# system's module locks among them. Noted by the console script (cli/entry.py), taken by a
# run or an agent as its first stop (runtime/signals.py), which else would never come, and
# raised again for any other command (cli/entry.py settle_stops).
dropped_stops: list[int] = []


class HeldSignals:
    """SIGINT and SIGTERM (or SIGHUP, held on its own) noted, not handled, from
    `hold_signals` until `release` (which may never come: a command that ends on a
    signal holds them to its end)."""

    def __init__(self) -> None:
        self.handlers: dict[int, Handler] = {}  # each held signal's handler before
        self.came: list[int] = []  # the signals that came while held, in order
        self._releasing = False

    def _note(self, signum: int, frame: object) -> None:
        if self._releasing:  # its handler is being put back: the signal is that handler's
            _handle(signum, self.handlers[signum])
        else:
            self.came.append(signum)

    def release(self, handlers: Optional[dict[int, Handler]] = None) -> None:
        """Give each held signal its handler back, or the one `handlers` names for it."""
        if handlers is not None:
            self.handlers = {signum: handlers[signum] for signum in self.handlers}
        self._releasing = True
        for signum, handler in self.handlers.items():
            _signal.signal(signum, handler)

    def deliver(self) -> None:
        """Handle the first signal that came while held as its handler does now (which
        may raise): after `release`."""
        if self.came:
            _handle(self.came[0], self.handlers[self.came[0]])


def hold_signals(signums: Optional[tuple[int, ...]] = None) -> HeldSignals:
    """Hold SIGTERM, and SIGINT unless the process was started to ignore it (a shell's
    background job: it stays ignored); or the signals `signums` names (the console
    script's SIGHUP: cli/entry.py). Outside the main thread nothing is held: no handler
    can be set there, and none interrupts that thread."""
    held = HeldSignals()
    try:
        for signum in signums or (_signal.SIGINT, _signal.SIGTERM):
            handler = _signal.getsignal(signum)
            if handler is None or (signum == _signal.SIGINT and handler == _signal.SIG_IGN):
                continue  # None: a handler not set from Python, which cannot be put back
            _signal.signal(signum, held._note)
            held.handlers[signum] = handler
    except ValueError:  # not the main thread: nothing was held
        pass
    return held


def _handle(signum: int, handler: Handler) -> None:
    """`signum` handled as `handler` does: called, or its default action (SIG_DFL, with
    that in place), or nothing (SIG_IGN)."""
    if callable(handler):
        handler(signum, None)
    elif handler == _signal.SIG_DFL:
        _signal.signal(signum, handler)
        _signal.raise_signal(signum)


# -- standard streams -----------------------------------------------------------------
# Here, under every layer: the CLI's boundary and the runtime (whose console output can
# lose its reader mid-run) both drop stdout, and each must know the other did.

# What failed stdout when drop_stdout pointed it at /dev/null (None: it has not).
_stdout_lost_by: Optional[OSError] = None
_stderr_dropped = False  # drop_stderr has pointed it at /dev/null


def settle_stream(fd: int, target: int) -> None:
    """Make descriptor `target` what `fd` is (and `fd` closed, unless it is `target`),
    inheritable as a standard stream is."""
    if fd != target:
        os.dup2(fd, target)
        os.close(fd)
    os.set_inheritable(target, True)


def drop_stderr() -> None:
    """Point stderr at /dev/null: it was closed (`2>&-`: cli/entry.py), or its reader
    left or it cannot be written, and what is still buffered for it would fail the
    interpreter's last flush, which turns any exit code into 120."""
    global _stderr_dropped
    _stderr_dropped = True
    settle_stream(os.open(os.devnull, os.O_WRONLY), 2)


def stderr_dropped() -> bool:
    """Whether drop_stderr pointed stderr at /dev/null: a write there succeeds, yet
    nothing of it reaches anyone (a run --json's output lines: cli/run.py)."""
    return _stderr_dropped


def drop_stdout(exc: OSError) -> bool:
    """Point stdout at /dev/null: it failed with `exc` (a BrokenPipeError: its reader
    left, or it was closed; another: it cannot be written), so what is still buffered
    for it goes nowhere and no later flush fails. False when it already was."""
    global _stdout_lost_by
    if _stdout_lost_by is not None:
        return False
    _stdout_lost_by = exc
    settle_stream(os.open(os.devnull, os.O_WRONLY), 1)
    return True


def stdout_dropped() -> Optional[OSError]:
    """What failed stdout when drop_stdout pointed it at /dev/null, None when it has
    not: a write or flush there succeeds, yet nothing of it reaches the user, and what
    writes there next says why with the first failure's words."""
    return _stdout_lost_by


# -- a child's environment ---------------------------------------------------------------


def encoded_environ(env: dict[str, str]) -> dict[bytes, bytes]:
    """`env` as the bytes a child process's environment holds: each name and value in
    the locale's encoding, as Popen would write it, or in UTF-8 (the configuration's)
    when the locale's cannot hold it (a task named "zażółć" in DSTREAM_TASK under an
    ISO-8859-1 or C locale), where Popen failed with UnicodeEncodeError, a crash."""

    def encoded(text: str) -> bytes:
        try:
            return os.fsencode(text)
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogateescape")

    return {encoded(name): encoded(value) for name, value in env.items()}
