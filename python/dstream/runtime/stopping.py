"""How a run stops: the signal that asked, and one deadline for everything after it.

From the first SIGINT/SIGTERM (or a broken stream) a run has `stop_grace` to end. The
input is drained until it stops or half of that time is gone (`Deadline.input_due`):
then it is killed and what it wrote is delivered, so that the output, which flushes
when its stdin closes, has at least the other half. The output flushes until the
deadline; whatever still runs then is killed with its process group (`force`). The run
ends within stop_grace + STOP_MARGIN and exits 130 (SIGINT) or 143 (SIGTERM)
(docs/delivery.md, "Stopping"). A run that lost its lease has less: its deadline is
brought forward to before the lease can expire (`Deadline.bound`, docs/scaling.md).
"""

from __future__ import annotations

import signal
import threading
import time

from dstream import logs
from dstream.errors import ExitCode
from dstream.runtime.process import KILL_WAIT, ProviderProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream._core import Pump

# Seconds past stop_grace a stopped run may take to end: reaping what was killed at the
# deadline (KILL_WAIT), the last store write and thread joins, the summary.
STOP_MARGIN = 3.0


class Stop:
    """Shared by the signal handlers and the supervisor: how hard we were asked to stop.
    The first request drains; only the user's second signal forces (`forced`). A request
    without a signal (a --fail-fast stop, a reload, a lost lease, an agent's hand-over)
    is not the user's: a Ctrl-C after it is the user's first, and drains."""

    def __init__(self) -> None:
        self.requests = 0  # every request, a signal's or not
        self.signals = 0  # of them, the signals' (SIGINT/SIGTERM)
        self.event = threading.Event()
        self.signum: Optional[int] = None  # the first signal that asked (None: a reload)

    def request(self, signum: Optional[int] = None) -> None:
        if self.signum is None:
            self.signum = signum
        self.requests += 1
        if signum is not None:
            self.signals += 1
        self.event.set()

    def drain(self, signum: Optional[int] = None) -> None:
        """Ask to drain (for the stop signal `signum`, or for no signal), unless a stop
        was asked already: a second signal's request would force it, and a stop keeps
        its first cause (a task handed over or stopped by --fail-fast stays so)."""
        if not self.requests:
            self.request(signum)

    def force(self, signum: int) -> None:
        """A second stop signal: what still runs is killed at once (`forced`: two
        signals asked). After a signal's drain this asks once; when no signal asked
        before (a hand-over, --fail-fast, or no stop at all), twice, and `signum` is
        the stop's signal from then on."""
        if self.signum is None:
            self.request(signum)
        self.request(signum)

    @property
    def forced(self) -> bool:
        """A second stop signal came: what still runs is killed at once."""
        return self.signals > 1

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.TERMINATED if self.signum == signal.SIGTERM else ExitCode.INTERRUPTED


class Deadline:
    """The stop deadline of one run, and which providers dstream killed at it (their
    exit codes are then not their own failure)."""

    def __init__(self, task: str, grace: float, stop: Stop) -> None:
        self.task = task
        self.grace = grace
        self.stop = stop
        self.at: Optional[float] = None  # monotonic; set at the first stop
        self.began: Optional[float] = None  # monotonic: when the stop began
        self.why = f"stop_grace ({grace:g} s) ran out"
        self.since = "the end of its stream"  # what it counts from when no stop asked for it
        self.brought_forward = False  # bound() set `at` and `why`
        self.forced: set[str] = set()
        # A second interrupt killed some of them, before the deadline could.
        self.second_signal = False

    def start(self, since: Optional[str] = None) -> None:
        """Begin the deadline now, unless it began already; `since`: what it counts from,
        for the warning of a provider killed at it when nobody asked for a stop."""
        if self.began is None:
            self.began = time.monotonic()
            self.since = since or self.since
        if self.at is None:
            self.at = self.began + self.grace

    def input_due(self) -> bool:
        """Whether the input's half of the stop is over: from the stop's start halfway
        to the deadline (a deadline brought forward halves what is left)."""
        if self.at is None:
            return False
        began = self.at if self.began is None else min(self.began, self.at)
        return time.monotonic() >= began + (self.at - began) / 2

    def bound(self, at: float, why: str) -> None:
        """Whatever stop_grace says, end by `at` (monotonic): after it the providers are
        killed. A lost lease brings the deadline forward to before it can expire."""
        if self.at is None or at < self.at:
            self.why = why
            self.at = at
            self.brought_forward = True

    def passed(self) -> bool:
        if self.stop.requests:
            self.start()
        return self.at is not None and time.monotonic() >= self.at

    def check(self, pump: Optional[Pump], providers: dict[str, Optional[ProviderProcess]]) -> None:
        """Kill what still runs when a second interrupt came or the deadline passed."""
        if self.stop.forced:
            self.force("a second interrupt", pump, providers, second_signal=True)
        elif self.passed():
            self.force(self.why, pump, providers)

    def force(
        self,
        why: str,
        pump: Optional[Pump],
        providers: dict[str, Optional[ProviderProcess]],
        *,
        second_signal: bool = False,
    ) -> None:
        """Stop the pump and kill what still runs (each provider's whole group);
        `second_signal`: a second interrupt forced it, before the deadline."""
        if pump is not None:
            pump.stop()
        for role, proc in providers.items():
            if proc is not None and proc.poll() is None:
                if role not in self.forced:
                    logs.log.warning(
                        "%s %s, killing it", proc.label, self._failed(why), task=self.task
                    )
                    self.second_signal = self.second_signal or second_signal
                self.forced.add(role)
                proc.kill()

    def _failed(self, why: str) -> str:
        """What a provider killed now did not do: stop, when a stop was asked (or a lost
        lease brought the deadline forward); else its stream ended or broke (or, for the
        input, the output exited after it), nobody asked for a stop, and it did not exit
        within stop_grace of that."""
        if self.stop.requests or self.brought_forward:
            return f"did not stop: {why}"
        return f"did not exit within stop_grace ({self.grace:g} s) after {self.since}"

    def join_time(self) -> float:
        """How long a helper thread may still take: to the deadline (and a little), or
        stop_grace when no stop was asked for."""
        if self.at is None:
            return self.grace
        return max(0.0, self.at - time.monotonic()) + KILL_WAIT / 2
