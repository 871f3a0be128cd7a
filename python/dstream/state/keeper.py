"""The holder's side of leases (state/lease.py): taking, renewing and releasing the
leases of one process, and the local deadline it trusts each one until.

A holder renews every `renew_interval` on a connection of its own. Locally it only
trusts a renewal until `start_of_that_renewal + ttl - margin` on its monotonic clock:
the database set the expiry to its `now()` (later than our start) plus ttl, so our
deadline always falls `margin` before the real expiry, whatever the wall clocks say.
Past that deadline without a renewal the keeper calls the task's `on_lost` callback,
which stops its providers (the runtime's LockLost path) before anyone may take over.
The run's pump is given the same deadline (`follow_deadline`: at its start and at every
renewal) and checks it itself before every write, on the same clock: a holder that
resumes past it (paused while its input wrote on) forwards nothing more, whichever of
its threads runs first. A renewal answered past the deadline it had does not revive the
lease: the pump stopped there already.

Once this process gave a task's lease up (lost, or released), a write of the task's
checkpoint or input digest is refused before any statement (the loss, or
`LeaseReleased`): only a process that never held it (`dstream state set`) writes them
unfenced. (The run history is appended unfenced: state/postgres.py, `add_run`.)

A take-over is one transaction, rolled back when it is answered past the local deadline
the new lease would have (a stall): no run starts on a lease it must give up at once.
Every exchange is bounded (state/session.py), so no call waits for ever.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from dstream import logs
from dstream.errors import DstreamError, LockLost
from dstream.records import field, record
from dstream.state.lease import (
    Answers,
    LeaseDeadlinePassed,
    LeaseFenced,
    LeaseReleased,
    LeaseSettings,
    LeaseTable,
    new_owner,
)
from dstream.state.session import StateUnreachable, session_gone

if TYPE_CHECKING:
    from dstream.state.lease import Conn

T = TypeVar("T")
_LOST_HINT = (
    "this run stops so that two runs never write the task's state; another holder (or "
    "this one, restarted) resumes from the last stored checkpoint, or from the start if "
    "none was stored"
)
# Seconds closing a store waits, in all, for a call still on its connections (one the
# database does not answer is left to the process's exit, which closes its socket).
CLOSE_WAIT = 1.0
# Seconds a second sighting of a lost lease waits for the first to have told the run
# (a callback that logs and sets flags: it never waits this long; a bound, not a pace).
TOLD_WAIT = 5.0


@record
class _Held:
    task: str
    epoch: int
    deadline: float  # local monotonic: trust the lease until then
    on_lost: Optional[Callable[[LockLost], None]] = None
    on_deadline: Optional[Callable[[float], None]] = None  # given each new deadline
    lost: Optional[LockLost] = None
    # Set once the thread that saw the loss first has told the run (`_lose`).
    told: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """Takes, renews and releases the leases of one process, on a connection of its
    own (a checkpoint write blocked on a dead network must not delay a renewal, nor a
    renewal a write). One thread renews; the same thread, woken often, enforces the
    local deadlines even while a renewal is stuck, via a second watchdog thread."""

    def __init__(
        self,
        connect: Callable[[], Conn],
        table: LeaseTable,
        settings: LeaseSettings,
        where: str,
        owner: str = "",
        *,
        answers: Optional[Answers] = None,
    ) -> None:
        self._connect = connect
        self.table = table
        self.settings = settings
        self.where = where
        self.owner = owner or new_owner()
        self.answers = answers or Answers()  # whether the database answers
        self._conn: Optional[Conn] = None
        self._io = threading.Lock()  # the connection: one statement at a time
        self._state = threading.Lock()  # self._held
        self._held: dict[str, _Held] = {}
        # Tasks this process held and gave up: a write for one is refused, never sent
        # unfenced (a write queued behind a dead network would land after a take-over).
        self._given_up: dict[str, LockLost] = {}
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- connection ----------------------------------------------------------------------
    def _call(self, work: Callable[[Conn], T], until: Optional[float] = None) -> T:
        """`work(conn)`, reconnecting once when the session is gone. `until` (monotonic):
        the call is given up (StateUnreachable) when the connection is still busy then,
        and no new session is opened past it."""
        import psycopg

        wait = -1.0 if until is None else max(0.0, until - time.monotonic())
        if not self._io.acquire(timeout=wait):
            raise StateUnreachable(
                f"the lease connection to {self.where} still waits for an answer",
                hint="check that PostgreSQL is running and reachable, and not stalled",
            )
        try:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                    result = work(self._conn)
                except psycopg.errors.LockNotAvailable:
                    self.answers.answered()
                    raise  # another session holds the row (lock_timeout): the session is fine
                except session_gone():
                    self.answers.unanswered()
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2 or (until is not None and time.monotonic() >= until):
                        raise
                    continue
                except psycopg.Error:
                    self.answers.answered()  # an error is an answer
                    raise
                self.answers.answered()
                return result
        finally:
            self._io.release()
        raise AssertionError("unreachable")

    # -- holding -------------------------------------------------------------------------
    def try_acquire(self, task: str, config_hash: str = "") -> int:
        """The epoch of the new lease, or 0 when another holder has a live one, or is
        writing under it right now (its row locked: a holder paused mid-write, until the
        server ends its session).

        A take-over answered past the local deadline the new lease would have (the
        database or its network stalled meanwhile) is not a lease to run on: it is given
        back and tried again at once; answered late twice, StateUnreachable."""
        import psycopg

        delays: list[float] = []  # of the answers that came past their deadline
        while len(delays) < 2:
            started = time.monotonic()
            try:
                epoch = self._call(self._taking(task, config_hash, started))
            except psycopg.errors.LockNotAvailable:
                return 0
            if epoch == 0:
                return 0
            if epoch is not None and time.monotonic() <= self._deadline_from(started):
                return self._hold(task, epoch, started)
            if epoch is not None:  # committed; only then did the answer come late
                self._give_back(task, epoch)
            delays.append(time.monotonic() - started)
            logs.log.warning(
                "the state database answered the take-over of its lease %.1fs "
                "after it was asked, past the %gs a lease is trusted unrenewed (a stall): "
                "not taken%s", delays[-1], self._trusted(),
                "; trying again" if len(delays) < 2 else "", task=task,
            )  # fmt: skip
        raise StateUnreachable(
            f"task {task!r}: the take-over of its lease in {self.where} was answered too "
            f"late, twice ({delays[0]:.1f}s and {delays[1]:.1f}s after it was asked; a lease "
            f"is trusted {self._trusted():g}s unrenewed): it was not taken",
            hint="the database or its network stalls: check its load and the network, then "
            "start the run again",
        )

    def _taking(
        self, task: str, config_hash: str, started: float
    ) -> Callable[[Conn], Optional[int]]:
        return lambda conn: self._take(conn, task, config_hash, started)

    def _take(self, conn: Conn, task: str, config_hash: str, started: float) -> Optional[int]:
        """The new epoch (0: held elsewhere), in a transaction that is rolled back (None)
        when the answer comes past the new lease's local deadline: a lease taken then
        would be one to give up at once. Three exchanges, not one statement: a take-over
        cut by a stall (session.open_session) whose statement reaches the server later
        (a blackholed network thawing) never gets its COMMIT and takes nothing, rather
        than a lease behind this process's back."""
        import psycopg

        late = False
        with conn.transaction():
            epoch = self.table.acquire(conn, task, self.owner, self.settings.ttl, config_hash)
            if epoch and time.monotonic() > self._deadline_from(started):
                late = True
                raise psycopg.Rollback()
        return None if late else epoch

    def _hold(self, task: str, epoch: int, started: float) -> int:
        with self._state:
            self._held[task] = _Held(task, epoch, self._deadline_from(started))
            self._given_up.pop(task, None)
        self._start_threads()
        return epoch

    def _give_back(self, task: str, epoch: int) -> None:
        """Expire a lease just taken, not to be used (best effort: it expires anyway)."""
        import psycopg

        with contextlib.suppress(psycopg.Error):
            self._call(lambda c: self.table.release(c, task, self.owner, epoch))

    def _trusted(self) -> float:
        """How long a lease is trusted after the start of its last renewal (or take)."""
        return self.settings.ttl - self.settings.margin

    def _deadline_from(self, started: float) -> float:
        return started + self._trusted()

    def epoch(self, task: str) -> Optional[int]:
        with self._state:
            held = self._held.get(task)
            return held.epoch if held else None

    def write_epoch(self, task: str, began: Optional[int] = None) -> Optional[int]:
        """The epoch a write of `task` is fenced with; None only when this process never
        held the task (`dstream state set` with no run: unfenced). `began`: the epoch the
        write began under (its first call's answer), which must still be held. Raises why
        the write is refused: the lease lost, or given up since."""
        with self._state:
            held = self._held.get(task)
            given_up = self._given_up.get(task)
        if held is None:
            if given_up is not None:
                raise given_up
            if began is not None:  # released and forgotten: cannot happen, refuse anyway
                raise self._released(task, began)
            return None
        lost = self.lost(task)
        if lost is not None:
            raise lost
        if began is not None and began != held.epoch:
            raise self._released(task, began)
        return held.epoch

    def on_lost(self, task: str, callback: Callable[[LockLost], None]) -> None:
        """Call `callback(error)` once when the lease of `task` is lost (at once if it
        already is)."""
        with self._state:
            held = self._held.get(task)
            if held is None:
                return
            held.on_lost = callback
            lost = held.lost
        if lost is not None:
            callback(lost)

    def follow_deadline(self, task: str, callback: Callable[[float], None]) -> None:
        """Give `callback` the local deadline of the lease of `task` (monotonic): at once,
        and again after each renewal. Called under the keeper's lock, so that deadlines
        arrive in order: it must return at once (a pump's `set_deadline` does)."""
        with self._state:
            held = self._held.get(task)
            if held is None:
                return
            held.on_deadline = callback
            callback(held.deadline)

    def deadline_passed(self, task: str) -> Optional[LockLost]:
        """The run of `task` saw its lease's local deadline pass (its pump stopped there,
        on the same clock): the lease is lost now, even when the watchdog has not seen
        it yet or a renewal moved the deadline on since. None when `task` is not held."""
        with self._state:
            held = self._held.get(task)
        return None if held is None else self._deadline_passed(held)

    def lost(self, task: str) -> Optional[LockLost]:
        """Why the lease of `task` is lost, or None. A passed local deadline counts even
        before the watchdog saw it, so no statement is sent on a lease past it."""
        with self._state:
            held = self._held.get(task)
            if held is None or held.lost is not None:
                return held.lost if held else None
            late = time.monotonic() > held.deadline
        return self._deadline_passed(held) if late else None

    def declare_lost(self, task: str, why: str) -> LockLost:
        """The database refused the lease's epoch (`why` says where): stop its run, its
        providers at once (the lease is already gone)."""
        now = time.monotonic()
        with self._state:
            held = self._held.get(task)
        error = LeaseFenced(
            f"task {task!r} lost its lease in {self.where}: {why} "
            "(the database refused this run's lease epoch)",
            stop_by=now,  # the lease is already gone
            held_until=_wall(min(now, held.deadline) if held else now),
            hint=_LOST_HINT,
        )
        return self._lose(task, error)

    def _deadline_passed(self, held: _Held) -> LockLost:
        unrenewed = self._trusted()
        error = LeaseDeadlinePassed(
            f"task {held.task!r} lost its lease in {self.where}: it could not be renewed "
            f"for {unrenewed:g}s (the state database is unreachable, or this process was "
            "paused); the local lease deadline passed",
            # The database's expiry falls `margin` after the deadline at the earliest.
            stop_by=held.deadline + self.settings.margin - self.settings.kill_slack,
            held_until=_wall(held.deadline),  # seen later after a pause: trusted until then
            hint=_LOST_HINT,
        )
        return self._lose(held.task, error, held)

    def _lose(self, task: str, error: LockLost, seen: Optional[_Held] = None) -> LockLost:
        """Mark the lease lost (the first reason wins) and call its run's callback;
        `seen`: only if it is still that holding (not one taken since). The pump's thread
        and the watchdog may see the loss at once: the second returns only once the
        first has told the run (its stop deadline brought forward), or the pump's thread
        would end the stream as if nothing were lost, giving its output the end of its
        stream rather than killing it."""
        with self._state:
            held = self._held.get(task)
            if held is None or (seen is not None and held is not seen):
                return held.lost if held and held.lost else error
            first = held.lost is None
            if first:
                held.lost = error
            callback = held.on_lost
        if not first:
            held.told.wait(TOLD_WAIT)
            return held.lost or error
        try:
            if callback is not None:
                callback(error)
        finally:
            held.told.set()
        return error

    def _released(self, task: str, epoch: int) -> LeaseReleased:
        return LeaseReleased(
            f"task {task!r}: this process released its lease (epoch {epoch}) in "
            f"{self.where}; a write of the task's state after that is refused",
            stop_by=time.monotonic(),
            hint=_LOST_HINT,
        )

    def release(self, task: str) -> None:
        """Give the lease up: expire it now, so the next holder need not wait for the
        TTL. Best effort, as a lease not released expires anyway: no statement for a
        lease lost, or on a database that did not answer this process's last call (it
        would wait out a cut and a connect timeout), and none past the lease's local
        deadline, which bounds the wait for a connection busy with a renewal."""
        import psycopg

        with self._state:
            held = self._held.pop(task, None)
            if held is not None:
                self._given_up[task] = held.lost or self._released(task, held.epoch)
        if held is None or held.lost is not None or self.answers.silent:
            return
        with contextlib.suppress(psycopg.Error, DstreamError):
            self._call(
                lambda c: self.table.release(c, task, self.owner, held.epoch), until=held.deadline
            )

    # -- renewing ------------------------------------------------------------------------
    def _start_threads(self) -> None:
        if self._threads:
            return
        for target, name in ((self._renew_loop, "lease-renew"), (self._watch, "lease-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _renew_loop(self) -> None:
        import psycopg

        while not self._closed.wait(self.settings.renew_interval):
            started = time.monotonic()
            with self._state:
                live = [h for h in self._held.values() if h.lost is None]
            for item in live:  # past its deadline: lost on this clock, no renewal sent
                if started > item.deadline:
                    self._deadline_passed(item)
            held = [h for h in live if h.lost is None]
            if not held:
                continue
            try:
                renewed = self._call(self._renewal([(h.task, h.epoch) for h in held]))
            except psycopg.Error:
                continue  # the watchdog stops the tasks if this lasts to the deadline
            for item in held:
                if (item.task, item.epoch) not in renewed:
                    self.declare_lost(item.task, "its renewal found it expired or taken over")
                    continue
                self._renewed(item, started)

    def _renewed(self, item: _Held, started: float) -> None:
        """The renewal that began at `started` was answered: trust the lease until
        `started` + the trusted time, and tell its run's pump. Answered past the deadline
        the lease had, it is lost all the same: the pump stopped at that deadline (and
        the watchdog may have seen it pass)."""
        with self._state:
            if self._held.get(item.task) is not item or item.lost is not None:
                return
            late = time.monotonic() > item.deadline
            if not late:
                item.deadline = self._deadline_from(started)
                if item.on_deadline is not None:
                    item.on_deadline(item.deadline)
        if late:
            self._deadline_passed(item)

    def _renewal(self, held: list[tuple[str, int]]) -> Callable[[Conn], set[tuple[str, int]]]:
        def renew(conn: Conn) -> set[tuple[str, int]]:
            return self.table.renew(conn, self.owner, held, self.settings.ttl)

        return renew

    def _watch(self) -> None:
        tick = min(0.1, self.settings.renew_interval / 4)
        while not self._closed.wait(tick):
            now = time.monotonic()
            with self._state:
                late = [h for h in self._held.values() if h.lost is None and now > h.deadline]
            for held in late:
                self._deadline_passed(held)

    def close(self, until: Optional[float] = None) -> None:
        """Stop renewing and close the connection, waiting for a call in flight until
        `until` (monotonic; CLOSE_WAIT from now by default)."""
        until = time.monotonic() + CLOSE_WAIT if until is None else until
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=max(0.0, until - time.monotonic()))
        # A renewal stuck on a dead network keeps the connection's lock: then the
        # process exit closes the socket.
        if self._io.acquire(timeout=max(0.0, until - time.monotonic())):
            try:
                if self._conn is not None:
                    self._conn.close()
            finally:
                self._io.release()


def _wall(instant: float) -> float:
    """The wall-clock time of a monotonic `instant` (the run history shows wall clocks)."""
    return time.time() - (time.monotonic() - instant)
