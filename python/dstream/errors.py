"""One exception type per layer, all rooted in DstreamError.

Every error says what went wrong, where (file:line:col for config, byte offset for a
frame) and what to do (`hint`). The CLI turns them into a message and an exit code in
one place (dstream.cli.app).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class ExitCode(IntEnum):
    """Every exit status dstream uses: the one definition. `meaning` is what a code says
    whatever the command; docs/security.md's "Exit codes" table shows these meanings word
    for word and, below it, what each command uses each code for (the README and
    docs/cli.md agree: tests/hostile/test_exit_codes.py)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERNAL = 70  # EX_SOFTWARE
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "the command did its job (`plan --detailed-exitcode`: and nothing would change)",
    ExitCode.FAILURE: (
        "the command did not do its job: a provider, the pipeline, a registry or the "
        "state store failed (the message names which), the task is held elsewhere, a "
        "check found a problem (`fmt --check`, `provider test`), or the user cancelled"
    ),
    ExitCode.USAGE: (
        "bad command line or configuration (the message gives file:line:col), or a "
        "package the command needs is not installed (an extra, or a required one the "
        "installation lost); but for `plan --detailed-exitcode` it means success with "
        "changes"
    ),
    ExitCode.INTERNAL: "a bug in dstream: one line names the crash report holding the traceback",
    ExitCode.INTERRUPTED: (
        "stopped by SIGINT (Ctrl-C) before its work was done; `run` and `agent` drain "
        "first, for up to `stop_grace`: what the inputs wrote by then was delivered"
    ),
    ExitCode.TERMINATED: (
        "stopped by SIGTERM before its work was done; `run` and `agent` drain first, for "
        "up to `stop_grace`: what the inputs wrote by then was delivered"
    ),
}


EXIT_OK = ExitCode.OK
EXIT_FAILURE = ExitCode.FAILURE
EXIT_USAGE = ExitCode.USAGE
EXIT_INTERRUPTED = ExitCode.INTERRUPTED

# The codes of a command a signal stopped (128 + SIGINT, 128 + SIGTERM): it was stopped,
# not failed, which the summary, the last line and a lost stream's exit each ask.
STOPPED = frozenset({ExitCode.INTERRUPTED, ExitCode.TERMINATED})


def nearest(word: str, choices: Iterable[str]) -> Optional[str]:
    """The closest of `choices` to `word`, for the "did you mean" of a hint; never `word`
    itself, which would send the user round in a circle."""
    import difflib  # only when something was misspelt

    others = [c for c in choices if c != word]
    found = difflib.get_close_matches(word, others, n=1, cutoff=0.6)
    return found[0] if found else None


# C0 controls but tab, DEL and C1 controls: what a terminal obeys rather than shows.
_CONTROL = "[\x00-\x08\x0a-\x1f\x7f-\x9f]"


def visible(text: str) -> str:
    """`text` with its control characters shown as escapes (`\\x1b`, `\\r`): a
    provider's stderr line, shown in a human view, cannot move the cursor, erase its own
    prefix or print over it and pass for one of dstream's lines (docs/protocol.md,
    section 6). JSON views escape them themselves."""
    if text.isprintable():
        return text
    import re  # only for a line that has something to show this way

    return re.sub(_CONTROL, _escape, text)


def obeyed(text: str) -> bool:
    """Whether `text` holds a character `visible` would show as an escape: one a
    terminal obeys (a line break, an escape sequence)."""
    if text.isprintable():
        return False
    import re

    return re.search(_CONTROL, text) is not None


def _escape(match: Any) -> str:  # Any: a re.Match
    char = match.group()
    return {"\r": "\\r", "\n": "\\n"}.get(char) or f"\\x{ord(char):02x}"


# What a command whose stdout nobody reads any more says (docs/cli.md): the CLI's last
# line (cli/boundary.py), and a run's error when its output's lines met it.
STDOUT_GONE = "stdout is closed or its reader left: the output was not all written"


def stdout_failed(exc: OSError) -> str:
    """What a command whose stdout cannot be written (`> /dev/full`) says."""
    return f"cannot write stdout ({exc.strerror or exc}): the output was not all written"


def aside_lines_lost(exc: OSError) -> str:
    """What a run --json says whose output's lines (a console's) dstream's stderr cannot
    take (`exc`): it was closed or its reader left (a BrokenPipeError), or it cannot be
    written (`2> /dev/full`)."""
    if isinstance(exc, BrokenPipeError):
        why = "it is closed or its reader left"
    else:
        why = exc.strerror or str(exc)
    return f"cannot write the output's lines to dstream's stderr ({why}): not all were written"


class DstreamError(Exception):
    """An error a user can act on: `reason` says what, `hint` says what to do."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, reason: str, *, hint: Optional[str] = None, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.reason

    def shown(self) -> str:
        """str(self) for a terminal: what the reason quotes of a provider or a registry
        with its line breaks and escapes shown as escapes (`visible`), the lines dstream
        adds to it (a frame's beginning) kept."""
        return visible(str(self))

    def one_line(self) -> str:
        """The error with its hint, where one line must carry both (a provider's
        refusal, a lifecycle result's error)."""
        return f"{self} ({self.hint})" if self.hint else str(self)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"error": type(self).__name__, "message": self.reason}
        if self.hint:
            out["hint"] = self.hint
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


class ConfigError(DstreamError):
    """The configuration is wrong; `location` is "file:line:col" when known. `task`: the
    task it is about (found in its block, or checking it), None when it is about the
    file as a whole; a log record of it has that `task` field. `refusal`: the provider's
    refusal at its handshake this mistake explains (found checking the schema the
    provider described once it refused, runtime/describe.py `explain_refusal`), shown
    with it."""

    exit_code = EXIT_USAGE
    task: Optional[str] = None
    refusal: Optional[ProviderRefused] = None

    def __init__(
        self, reason: str, *, location: Optional[object] = None, hint: Optional[str] = None
    ) -> None:
        super().__init__(reason, hint=hint)
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.location is not None:
            out["location"] = str(self.location)
        if self.refusal is not None:
            out["refusal"] = self.refusal.reason
            if self.refusal.stderr_tail:
                out["stderr_tail"] = self.refusal.stderr_tail
        return out


class UsageError(DstreamError):
    """The command line is wrong."""

    exit_code = EXIT_USAGE


class StdoutLost(DstreamError):
    """dstream's own stdout failed while a run wrote its output's lines there (the
    console output's, `| head`): the run stops, as every command whose stdout is lost."""


class StderrLost(DstreamError):
    """dstream's own stderr failed while a run --json wrote its output's lines there (the
    console output's: stdout holds the JSON document): the run stops, as with StdoutLost."""


class ProviderError(DstreamError):
    """A provider failed: it could not start, broke the protocol, or exited non-zero."""

    def __init__(
        self,
        reason: str,
        *,
        provider: Optional[str] = None,
        hint: Optional[str] = None,
        stderr_tail: Optional[list[str]] = None,
    ) -> None:
        super().__init__(reason, hint=hint, provider=provider)
        self.provider = provider
        self.stderr_tail = stderr_tail or []

    def __str__(self) -> str:
        if not self.stderr_tail:
            return self.reason
        tail = "\n".join(f"  | {visible(line)}" for line in self.stderr_tail)
        return f"{self.reason}\n  last stderr lines:\n{tail}"

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.stderr_tail:
            out["stderr_tail"] = self.stderr_tail
        return out


class EngineLost(ProviderError):
    """The container engine a provider_image runs in stopped answering (or could not
    say how the container ended): its exit is unknown and the container may still run."""


class OutOfMemory(ProviderError):
    """The container engine says it killed a provider_image's container for running out
    of memory (its inspect's `State.OOMKilled`): its exit code, 137, is the kill's."""


class ProviderRefused(ProviderError):
    """A provider answered its handshake with {"status":"error"}: it looked at its config
    and said no (`role`: the block it runs in, "input" or "output"); or it speaks another
    protocol (`role` None: no config of it explains that). Starting it again would get
    the same answer, so it is not restarted. `field`: the config key the refusal names
    (its status line's `field`), and `location` where the task's config sets it
    ("file:line:col", `place`), which the reason then starts with."""

    location: Optional[object] = None

    def __init__(
        self,
        reason: str,
        *,
        provider: Optional[str] = None,
        hint: Optional[str] = None,
        stderr_tail: Optional[list[str]] = None,
        role: Optional[str] = None,
        field: Optional[str] = None,
    ) -> None:
        super().__init__(reason, provider=provider, hint=hint, stderr_tail=stderr_tail)
        self.role = role
        self.field = field

    def place(self, location: object) -> None:
        """The refusal is about the config key set at `location` (runtime/describe.py
        `explain_refusal` finds it): said first, as a ConfigError's location is."""
        self.location = location
        self.reason = f"{location}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.location is not None:
            out["location"] = str(self.location)
        return out


class FrameError(DstreamError):
    """A frame broke the wire contract (not JSON, not an object, too large, ...)."""

    def __init__(
        self,
        reason: str,
        *,
        provider: Optional[str] = None,
        offset: Optional[int] = None,
        excerpt: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(reason, hint=hint, provider=provider, offset=offset, excerpt=excerpt)
        self.offset = offset
        self.excerpt = excerpt

    def __str__(self) -> str:
        if self.excerpt is None:
            return self.reason
        return f"{self.reason}\n  frame begins: {self.excerpt!r}"

    def shown(self) -> str:
        if self.excerpt is None:
            return visible(self.reason)
        return f"{visible(self.reason)}\n  frame begins: {visible(repr(self.excerpt))}"


class LockLost(DstreamError):
    """Another run took the task's state lock while this run had lost its connection to
    the state store: this run must stop, and restarting it would only fail again."""


class Interrupted(DstreamError):
    """The run was stopped by a signal before its input ended."""

    exit_code = EXIT_INTERRUPTED
