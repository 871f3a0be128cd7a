"""What a conformance check returns and how it is listed (kit/checks.py has the list):
an Outcome (pass, fail or skip, with a reason that says what was seen), a Check, and
the words each check's reason uses for how a provider ended (`exit_text`) and what it
said on stderr (`stderr_hint`). Its own module, so that the checks of each kind
(kit/input_checks.py) are beside the list, not in it."""

from __future__ import annotations

import signal
from typing import Callable, Optional

from dstream.kit.probe import Probe, Transcript
from dstream.kit.validate import parse_object
from dstream.records import record

PASS, FAIL, SKIP = "pass", "fail", "skip"


@record
class Outcome:
    status: str
    reason: str = ""


def passed(reason: str = "") -> Outcome:
    return Outcome(PASS, reason)


def failed(reason: str) -> Outcome:
    return Outcome(FAIL, reason)


def skipped(reason: str) -> Outcome:
    return Outcome(SKIP, reason)


@record(frozen=True)
class Check:
    name: str
    roles: tuple[str, ...]
    description: str
    run: Callable[[Probe], Outcome]


def stderr_hint(t: Transcript) -> str:
    """Its last error record, which says why (an SDK logs a closing line after it), else
    its last stderr line."""
    if not t.stderr:
        return ""
    for line in reversed(t.stderr):
        obj, _ = parse_object(line.encode())
        if obj is not None and str(obj.get("level", "")).lower() in _ERROR_LEVELS:
            return f"; its error: {line}"
    return f"; last stderr line: {t.stderr[-1]}"


_ERROR_LEVELS = frozenset({"error", "fatal", "critical", "panic"})


def exit_text(code: Optional[int]) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
