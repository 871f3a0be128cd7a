"""`dstream agent`: N copies on N hosts, one configuration, the tasks divided among the
live agents through the tasks' leases (state/lease.py) — no coordinator of our own.

Every tick (the lease renewal interval) an agent renews its row in the registry
(state/agents.py), lists the live agents in join order and aims at its quota (`quota`):
tasks / agents rounded down, plus one for the first `tasks % agents` of them, so every
agent runs floor or ceil of tasks / agents:

- below the target it takes free tasks (no lease, or an expired or released one), in
  the order of a hash of (agent, task), so agents prefer different tasks;
- above it, it stops and releases its surplus only (a drain, then the lease goes);
- otherwise it moves nothing: a healthy task stays where it runs (sticky).

It takes nothing in the tick it joins (at its start, or again): agents joining at about
the same time count each other before they take their shares.

An agent refused at start (live agents run another configuration: a rollout started it
while old agents run) waits, holding nothing, and joins once they are gone.

An agent whose registration expired (paused, or cut off longer than the TTL) has been
counted out by the others: like a Kafka Connect worker that lost its group membership,
it stops every task it runs, then joins again as a new member, or, refused (the live
agents run another configuration), exits with that error.

A task whose run ended by itself (completed, or failed for good) is said at once and
taken again after a cool-down (runtime/retaking.py).

An agent that takes a task compares its input with the one its stored checkpoint came
from, as `dstream run` does (runtime/resume.py), before any provider starts: a changed
input fails the task (resuming could skip or repeat data), unless the agent was started
with `--resume-changed TASK` or a reload changed that input, either accepting the change
once; the input it starts is remembered.

A task the agent stops to have it run elsewhere — its surplus at a rebalance, every
task at a lost registration, a task whose lease was lost — is handed over, not failed:
it is logged, and only real failures (and the signal that stopped the agent) make its
summaries and its exit code.

So an agent that leaves frees only its own tasks, and one that joins takes its share,
released by the agents above their new quotas. Two agents that list the live agents
differently for a tick (one joined or left between their listings) may take one task
too many; the next tick, listing the same agents, releases it.

Each holding of a task's lease is one run in the task's history (`dstream runs`), as
`dstream run` records its tasks' (runtime/history.py): from the agent starting the task
to the task's end, its hand-over (`handed over`, no failure) or the agent's stop. The
task's thread records it as the run ends, before the lease goes; the main thread, a
task left behind by a forced stop (after which the store makes no write that waits past
the stop's deadline).

SIGINT/SIGTERM stop it: from then on it joins nothing and takes nothing (what the
database answers to a take in flight is given back); every task drains and its lease
goes. A second signal forces (runtime/signals.py). SIGHUP re-reads the configuration:
unchanged, nothing moves; changed, the agent hands every task over, leaves and joins
again with it, waiting, holding nothing, while live agents run another configuration
(so reloading every agent in turn rolls a change out; two configurations never divide
the tasks); one that does not load is reported and the running one kept.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional

from dstream import logs
from dstream.config.model import Project, TaskSpec
from dstream.errors import ConfigError, DstreamError, LockLost
from dstream.records import field, record
from dstream.runtime.history import OneRecord
from dstream.runtime.monitor import Monitor, TaskMonitor
from dstream.runtime.pipeline import RunContext, RunHooks, RunSummary, Stop
from dstream.runtime.retaking import cooldown, failed, say_ended
from dstream.runtime.runner import run_task
from dstream.runtime.signals import Forced, StopSignals, left_behind, say_stopping
from dstream.runtime.taking import definition_hash
from dstream.state.agents import AgentRefused
from dstream.state.session import StateUnreachable

if TYPE_CHECKING:
    from dstream.state.base import StateStore


def config_hash(project: Project) -> str:
    """What every agent must agree on: the definition of every task, without its secrets
    (`definition_hash`: the registry and the log show it). Agents differing in a secret
    only run the same configuration; a reload tells a changed secret by `_same_tasks`."""
    import hashlib  # only agents need it

    sensitive = project.sensitive_values
    parts = ",".join(
        f"{name}={definition_hash(project.tasks[name], sensitive)}"
        for name in sorted(project.tasks)
    )
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


def _same_tasks(one: Project, other: Project) -> bool:
    """Whether both define the same tasks, secrets included: compared in memory, never
    hashed nor stored (a reload must restart the tasks with a rotated secret)."""
    from dstream.config.model import definition

    def tasks(project: Project) -> dict[str, object]:
        return {name: definition(task) for name, task in project.tasks.items()}

    return tasks(one) == tasks(other)


def preference(agent: str, task: str) -> int:
    """Rendezvous order: each agent ranks the tasks differently, all agents agree."""
    return zlib.crc32(f"{agent}\0{task}".encode())


def quota(agents: list[str], agent: str, tasks: int) -> Optional[int]:
    """How many of `tasks` `agent` runs among the live `agents` (in join order): the
    first `tasks % len(agents)` run one more than the others, so every agent runs floor
    or ceil of tasks / agents and the quotas add up to the tasks (a ceiling for every
    agent could leave one with nothing: 2, 2, 1, 0 for 5 tasks on 4). Every agent
    computes every quota from the same list; the longest-joined get the extra task, so
    an agent that joins takes its share from the surplus of the others only. None when
    `agent` is not among them (its registration lapsed since its renewal)."""
    if agent not in agents:
        return None
    each, extra = divmod(tasks, len(agents))
    return each + (1 if agents.index(agent) < extra else 0)


@record
class _Running:
    task: TaskSpec
    stop: Stop = field(default_factory=Stop)
    thread: Optional[threading.Thread] = None
    summary: Optional[RunSummary] = None
    since: float = field(default_factory=time.time)  # its run's start, left behind too
    handover: str = ""  # why the agent asked it to stop, to run elsewhere (no signal)
    done: bool = False  # its run ended: a signal from then on did not stop it
    handed_over: str = ""  # why its run ended to run elsewhere, as its run ended ("": not)
    recording: OneRecord = field(default_factory=OneRecord)  # of its holding, in its history
    crash: Optional[BaseException] = None  # what ended its thread unexpectedly (a bug)

    def hand_over(self, why: str) -> None:
        """Ask it to drain, unless it is stopping already (its lease was lost)."""
        self.handover = self.handover or why
        self.stop.drain()


class Agent:
    def __init__(
        self,
        project: Project,
        store: StateStore,
        monitor: Monitor,
        hooks: Optional[RunHooks] = None,
        reload: Optional[Callable[[], Project]] = None,
        resume_changed: Iterable[str] = (),
    ) -> None:
        from dstream.state.postgres import PostgresStore  # the one backend with leases

        if not isinstance(store, PostgresStore):  # the configuration's: exit 2, at its state block
            raise ConfigError(
                "dstream agent needs the postgres state backend (leases)",
                location=project.state.location,
                hint='set backend = "postgres" and dsn = "postgresql://..." in the state block',
            )
        self.project = project
        self.store = store
        self.monitor = monitor
        self.hooks = hooks or RunHooks()
        self.name: str = store.owner
        self.digest = config_hash(project)
        self.registry = store.agents()
        self.tick = store.lease_settings.renew_interval
        self.ttl = store.lease_settings.ttl
        self.running: dict[str, _Running] = {}
        # A task whose run ended by itself is not taken again here before this
        # (monotonic) instant: its cool-down (runtime/retaking.py).
        self.not_before: dict[str, float] = {}
        self.failures: dict[str, int] = {}  # task -> its failed runs in a row here
        self.reload = reload  # re-reads the configuration (SIGHUP)
        # The tasks whose changed input it resumes anyway, until it first takes each (a
        # later change is refused again), and who decided: --resume-changed, or a reload
        # that changed the input (as it does for `dstream run`).
        self.accepted = dict.fromkeys(resume_changed, "--resume-changed")
        self.member = False  # registered among the live agents
        # Monotonic: its registration has surely expired after this (the database set
        # the expiry before it answered the join or heartbeat that this is counted from).
        self.registered_until = 0.0
        # A refusal makes it wait, holding nothing, rather than end: at its start (a
        # rollout starts new agents while old ones live) and after a reload.
        self.waits = True
        self.joined = False  # it was a member once: joining again is said so
        self.refused = ""  # why joining was refused, said once
        self.stopping = threading.Event()
        self.signals = StopSignals(self._on_signal)

    # -- the loop ------------------------------------------------------------------------
    @property
    def signum(self) -> Optional[int]:
        """The signal that stopped it: the exit code says which."""
        return self.signals.signum

    def run(self) -> list[RunSummary]:
        summaries: list[RunSummary] = []
        try:
            with self.signals.interruptible():
                self.store.transact("create the agent registry", self.registry.create)
                self._first_join()
            # One tick before taking anything: agents started together see each other
            # (so after any join: _renew).
            while not self.stopping.wait(self.tick):
                summaries.extend(self._reap())
                with self.signals.interruptible():
                    self._tick(summaries)
        except Forced:
            pass  # the wait on the database is given up; the tasks are stopped below
        finally:
            try:
                summaries.extend(self._stop_all())
            finally:  # also after a bug in a task's thread (raised by _reap)
                self._leave()
        return summaries

    def _tick(self, summaries: list[RunSummary]) -> None:
        """One renewal interval: a reload asked for, the registration, the balance. A
        stop asked for meanwhile ends it before the next step (none starts anything)."""
        if self.stopping.is_set():
            return
        if self.signals.reload_asked():
            self._reload(summaries)
        # A stop asked for during the renewal: no balance, which would take tasks.
        if not self.stopping.is_set() and self._renew(summaries) and not self.stopping.is_set():
            self._balance()

    def _join(self) -> None:
        sent = time.monotonic()  # see _renew
        self.store.transact(
            "join the agents", lambda c: self.registry.join(c, self.name, self.digest, self.ttl)
        )
        self.registered_until = sent + self.ttl
        self.member = True
        self.joined = True

    def _leave(self) -> None:
        """Leave the registry (the others count it out at once), in one attempt, unless
        that cannot matter: the stop was forced, the registration expired already (the
        others counted it out), or the database did not answer this process's last call
        (the attempt would wait out a cut, a connect timeout): it then expires."""
        if not self.member or self.signals.forced:
            return
        why = self._not_leaving()
        if why:
            logs.log.info("agent %s: not leaving the registry: %s", self.name, why)
            return
        try:
            with self.signals.interruptible():
                self.store.transact(
                    "leave the agents", lambda c: self.registry.leave(c, self.name), once=True
                )
            self.member = False
        except DstreamError as exc:
            logs.log.warning("could not leave the registry (it expires anyway): %s", exc)
        except Forced:
            pass

    def _not_leaving(self) -> str:
        """Why leaving the registry cannot matter now, or ""."""
        expired = time.monotonic() - self.registered_until
        if expired > 0:
            return (
                f"its registration expired {expired:.0f}s ago (the state database has not "
                "renewed it): the live agents counted it out already"
            )
        if self.store.silent:
            return (
                "the state database did not answer its last call; its registration expires "
                f"within {math.ceil(-expired)}s"
            )
        return ""

    def _renew(self, summaries: list[RunSummary]) -> bool:
        """Renew this agent's registration: True when it was a member and still is, so it
        may balance. One whose registration expired stops its tasks (the others may take
        them) and joins again; one told to stop does not. One that joined (again) this
        tick waits for the next before taking anything, as after its first join: agents
        joining at about the same time (back from a database outage, or waiting for the
        last agent of an old configuration to go) count each other rather than each
        taking every task, counting itself alone, to release most of them a tick later."""
        if self.member:
            # The database renews it for ttl from when it runs the renewal, after this
            # and before the answer comes: counted from here, this agent never thinks
            # itself registered when the others have counted it out.
            sent = time.monotonic()
            try:
                if self.store.transact(
                    "renew the agent", lambda c: self.registry.heartbeat(c, self.name, self.ttl)
                ):
                    self.registered_until = sent + self.ttl
                    return True
            except DstreamError as exc:  # the database is away: keep what runs, move nothing
                logs.log.warning("agent %s: %s", self.name, exc)
                return False
            self.member = False
            if self.running:
                logs.log.warning(
                    "agent %s: its registration expired (paused, or cut off from the state "
                    "database for over %gs): stopping its task(s) %s, to be taken over by the "
                    "live agents (handed over, not failed); then it joins again",
                    self.name, self.ttl, ", ".join(sorted(self.running)),
                )  # fmt: skip
                summaries.extend(self._stop_all("its registration expired"))
        if not self.stopping.is_set():
            self._join_again()
        return False

    def _first_join(self) -> None:
        """Join at start. Refused (live agents run another configuration: a rollout
        started it while old agents run), it waits as a reloaded agent does: the loop
        tries again every tick. Any other error ends it (a state it cannot use)."""
        try:
            self._join()
        except AgentRefused as exc:
            self._wait_to_join(exc)
            return
        self.waits = False
        logs.log.info("agent %s joined with configuration %s", self.name, self.digest)

    def _join_again(self) -> None:
        """Join again (its registration expired, it was reloaded, or it waits since its
        start). Refused (live agents run another configuration), an
        agent whose registration expired raises AgentRefused (it ends with that error);
        one that waits holds nothing and tries at every tick: the old agents are
        reloaded, replaced or stopped in turn."""
        again = " again" if self.joined else ""
        try:
            self._join()
        except AgentRefused as exc:
            if not self.waits:
                raise AgentRefused(
                    f"agent {self.name} lost its membership (its registration expired) and "
                    f"stopped its tasks, but joining again was refused: {exc.reason}",
                    hint=exc.hint,
                ) from None
            self._wait_to_join(exc)
            return
        except DstreamError as exc:
            logs.log.warning("agent %s: %s", self.name, exc)
            return
        self.waits, self.refused = False, ""
        logs.log.info("agent %s joined%s with configuration %s", self.name, again, self.digest)

    def _wait_to_join(self, exc: AgentRefused) -> None:
        """Refused: say so once (for each reason), and wait, holding nothing. /healthz
        answers 200 meanwhile: a StatefulSet's rolling update goes on to the next pod
        only once this one is ready, and the old agents it waits for are those pods."""
        self.member = False
        if exc.reason != self.refused:
            logs.log.warning(
                "agent %s waits to join with configuration %s, holding no task: %s; it "
                "joins once no live agent runs another configuration (a rollout replaces "
                "them; or stop them, or reload them with this one)",
                self.name, self.digest, exc.reason,
            )  # fmt: skip
            self.refused = exc.reason

    def _balance(self) -> None:
        try:
            agents = self.store.transact("list the agents", self.registry.live)
            leases = {row.task: row for row in self.store.leases()}
        except DstreamError as exc:  # the database is away: keep what runs, move nothing
            logs.log.warning("agent %s: %s", self.name, exc)
            return
        target = quota([row.agent for row in agents], self.name, len(self.project.tasks))
        if target is None:  # not live in this listing: the next renewal tells
            return
        kept = [name for name, running in self.running.items() if not running.stop.requests]
        held = len(kept)
        if held > target:
            surplus = sorted(kept, key=lambda t: preference(self.name, t))
            for task in surplus[: held - target]:
                logs.log.info("agent %s releases it (%d agents)", self.name, len(agents), task=task)
                self.running[task].hand_over("released")  # a drain; the lease goes after it
            return
        now = time.monotonic()
        free = [
            name
            for name in self.project.tasks
            if name not in self.running
            and (name not in leases or leases[name].expires_in <= 0)
            and now >= self.not_before.get(name, now)
        ]
        free.sort(key=lambda t: preference(self.name, t), reverse=True)
        for name in free[: max(0, target - held)]:
            spec = self.project.tasks[name]
            if self.stopping.is_set():
                return
            try:
                digest = definition_hash(spec, self.project.sensitive_values)
                taken = self.store.try_hold(name, digest)
            except DstreamError as exc:  # the database went away meanwhile: next tick
                logs.log.warning("agent %s: %s", self.name, exc)
                return
            if taken and self.stopping.is_set():  # the stop came while it was taking it
                self.store.release(name)
            elif taken:
                self._start(spec)

    # -- reloading -----------------------------------------------------------------------
    def _reload(self, summaries: list[RunSummary]) -> None:
        """SIGHUP: the configuration read again. Unchanged task definitions: nothing
        moves. Changed: hand every task over, leave, and join again with it."""
        if self.reload is None:
            logs.log.warning("agent %s: SIGHUP: no configuration to read again", self.name)
            return
        try:
            project = self.reload()
        except DstreamError as exc:
            logs.log.failure(
                f"agent {self.name}: reload failed, keeping the running configuration", exc
            )
            return
        digest = config_hash(project)
        if digest == self.digest and _same_tasks(project, self.project):
            logs.log.info(
                "agent %s: configuration reloaded: no task changed (configuration %s): "
                "nothing moves", self.name, digest,
            )  # fmt: skip
            return
        change = f"{self.digest} -> {digest}" if digest != self.digest else "a secret changed"
        logs.log.warning(
            "agent %s: configuration reloaded: %s: handing its task(s) over (not "
            "failed) and joining again with it", self.name, change,
        )  # fmt: skip
        summaries.extend(self._stop_all("the configuration was reloaded"))
        self._leave()
        self._accept_reloaded_inputs(project)
        self.project, self.digest = project, digest
        self.member, self.waits, self.refused = False, True, ""
        # A task that ended may run again under its new definition; one that is gone has
        # no series left.
        self.not_before.clear()
        self.failures.clear()
        for name in set(self.monitor.tasks) - set(self.running):
            del self.monitor.tasks[name]

    def _accept_reloaded_inputs(self, project: Project) -> None:
        """A reload that changes a task's input asks for it, as `dstream run`'s does: the
        change is accepted when this agent next takes the task, not refused."""
        from dstream.runtime.resume import input_digest

        for name, task in project.tasks.items():
            before = self.project.tasks.get(name)
            now = input_digest(task.input, project.sensitive_values)
            if before and input_digest(before.input, self.project.sensitive_values) != now:
                self.accepted.setdefault(name, "SIGHUP reload")

    # -- tasks ---------------------------------------------------------------------------
    def _start(self, task: TaskSpec) -> None:
        running = _Running(task)
        monitor = TaskMonitor(task.name)
        self.monitor.tasks[task.name] = monitor
        self.running[task.name] = running

        def work() -> None:
            try:
                try:
                    self._keep_input(task.name)  # before any provider starts
                    context = RunContext(
                        self.project, task, self.store, running.stop, self.hooks, monitor,
                        task_prefixes=True,
                    )  # fmt: skip
                    summary = run_task(context, started_at=running.since)
                except DstreamError as exc:
                    summary = RunSummary(
                        task=task.name, outcome="failed", error=exc, started_at=running.since
                    )
                finally:
                    running.done = True  # before its verdict: a later signal is not its stop
                running.summary = _settled(running, summary)
                self._record(running, running.summary)  # before its lease goes
            except BaseException as exc:  # a bug: re-raised where the CLI's boundary catches it
                running.crash = exc
            finally:
                running.recording.settle()
                self.store.release(task.name)  # after its providers stopped

        logs.log.info("running on agent %s", self.name, task=task.name)
        running.thread = threading.Thread(target=work, name=task.name, daemon=True)
        running.thread.start()

    def _keep_input(self, name: str) -> None:
        """Compare the task's input with the one its stored checkpoint came from, as
        `dstream run` does: a change fails the task (UsageError, with an agent's hint)
        unless --resume-changed named it; then the input is remembered."""
        from dstream.runtime.resume import keep_inputs

        accept = self.accepted.get(name)
        keep_inputs(self.store, self.project, [name], accept=accept, say=_warn, agent=True)
        self.accepted.pop(name, None)  # accepted once: this input is the stored one now

    def _record(self, running: _Running, summary: RunSummary) -> None:
        """The run of a holding in its task's history, once (runtime/history.py): after
        a forced stop the store makes no write that waits past the stop's deadline."""
        running.recording.record(self.store, summary, until=self.signals.deadline)

    def _reap(self, left: bool = False) -> list[RunSummary]:
        """Forget the tasks whose run ended; the summaries of those that finished or
        failed (a task handed over to the other agents is logged, not counted). `left`:
        those still running too (left behind after a forced stop). A bug that ended a
        task's thread is raised once every task is reaped, where the CLI's boundary
        catches it (as runner.py's _summaries does)."""
        done = []
        crashes = []
        for name, running in list(self.running.items()):
            if running.thread is None or (running.thread.is_alive() and not left):
                continue
            del self.running[name]
            # A task whose run ended by itself keeps its series (`dstream_up` 0) until
            # this agent runs it again; one handed over or stopped has none here.
            by_itself = (
                running.done
                and running.summary is not None
                and not running.stop.requests
                and running.crash is None
                and not running.handed_over  # ended by an outage: handed over, not ended
            )
            live = self.monitor.tasks.get(name) if by_itself else self.monitor.tasks.pop(name, None)
            if running.crash is not None:
                crashes.append(running.crash)
                continue
            if not running.done or running.summary is None:
                # Left behind by a forced stop: it waits on the state database still (or
                # its run ended this instant, its verdict not yet given): the process ends
                # without it.
                summary = left_behind(name, self.signum, running.since, live)
                self._record(running, summary)  # after a forced stop: no write that waits
                done.append(summary)
                continue
            if running.thread.is_alive():  # its record may wait still: the process ends
                running.recording.warn_if_unsettled(name)
            if by_itself:
                self._ended(running.summary, live)
            why = running.handed_over
            if why:
                logs.log.info(
                    "stopped (%s) on agent %s: handed over, not failed", why, self.name, task=name
                )
            else:
                done.append(running.summary)
        if crashes:
            raise crashes[0]
        return done

    def _ended(self, summary: RunSummary, live: Optional[TaskMonitor]) -> None:
        """A run that ended by itself (completed, or failed for good): said now, and not
        taken again here before its cool-down (runtime/retaking.py)."""
        name = summary.task
        self.failures[name] = self.failures.get(name, 0) + 1 if failed(summary) else 0
        wait = cooldown(self.failures[name])
        self.not_before[name] = time.monotonic() + wait
        if live is not None:  # a failure before its pump started left it "starting"
            live.detach("failed" if failed(summary) else "completed")
        say_ended(self.name, summary, wait)

    def _stop_all(self, handover: str = "") -> list[RunSummary]:
        """Stop every task and wait for it: on a signal (the summaries say which, as
        each task's thread settled it: `_settled`), or to hand them over (`handover`
        says why; no failure). A task whose run had already ended keeps its outcome;
        after a forced stop, one that does not end within STOP_MARGIN is left behind."""
        for running in self.running.values():
            if running.done or running.thread is None or not running.thread.is_alive():
                continue  # it ended before: nothing stopped it
            if handover and self.signum is None:
                running.hand_over(handover)
            else:  # one stopping already keeps its cause: one handed over stays so
                running.stop.drain(self.signum)
        with self.signals.shielded():  # a forced stop loses no summary of the reaping
            for running in self.running.values():
                if running.thread is not None:
                    while not self.signals.wait(running.thread):
                        pass
            return self._reap(left=True)

    def _on_signal(self, signum: int, requests: int) -> None:
        """SIGINT/SIGTERM: the loop ends and every task drains at once, even while the
        loop still waits on the database (a renewal, a take: bounded, but seconds on a
        silent one); a second one forces the tasks' stop (their providers are killed)."""
        for running in list(self.running.values()):
            if running.done:  # it ended before: its outcome stays its own
                continue
            if requests == 1:
                running.stop.drain(signum)
            else:
                running.stop.force(signum)
        self.stopping.set()
        if requests == 1:  # the stops were asked first: a notice that fails changes nothing
            say_stopping("stopping: draining the agent's tasks", signum)


def _warn(text: str, *, task: Optional[str] = None) -> None:
    logs.log.warning("%s", text, task=task)


def _settled(running: _Running, summary: RunSummary) -> RunSummary:
    """The summary of a holding's run as the agent reports and records it, once the run
    ended (a signal later does not change it): handed over (`handed_over` says why; the
    history's `handed over`, exit 0: the agent counts no failure), stopped by the signal
    that asked its stop (one that completed stays completed), or its own outcome."""
    running.handed_over = _handed_over(running, summary)
    if running.handed_over:
        summary.outcome, summary.error = "handed over", None
    elif running.stop.signum is not None and summary.outcome != "completed":
        summary.stopped_by = running.stop.signum
    return summary


def _handed_over(running: _Running, summary: RunSummary) -> str:
    """Why the task's run ended to be run elsewhere, or "" (it finished, failed, or a
    signal stopped it: its summary counts). Handed over: the agent asked it to stop
    (released at a rebalance, its registration expired) and it drained, its lease was
    lost (the agent was paused or cut off: another agent takes the task over), like a
    Kafka Connect task revoked at a rebalance, or the state database could not be
    reached (an outage: this agent or another takes it back once it answers; counted as
    a failure, which of the task's calls met the outage first decided the agent's exit
    code)."""
    if running.stop.signum is not None:
        return ""
    if isinstance(summary.error, StateUnreachable):  # an outage: taken back after it
        return "; ".join(filter(None, [running.handover, "the state database was unreachable"]))
    if running.stop.requests == 0:
        return ""
    if isinstance(summary.error, LockLost):  # its stopper asked for the stop (runner.py)
        return "; ".join(filter(None, [running.handover, "its lease was lost"]))
    return (running.handover or "asked to stop") if summary.outcome == "interrupted" else ""


def run_agent(
    project: Project,
    store: StateStore,
    monitor: Monitor,
    reload: Optional[Callable[[], Project]] = None,
    resume_changed: Iterable[str] = (),
) -> tuple[list[RunSummary], Optional[int]]:
    """Run an agent until SIGINT/SIGTERM: then every task drains and its lease goes;
    `reload` re-reads the configuration on SIGHUP; `resume_changed`: the tasks whose
    changed input it accepts once (--resume-changed). Returns the tasks' summaries and
    the signal that stopped the agent."""
    agent = Agent(project, store, monitor, reload=reload, resume_changed=resume_changed)
    with agent.signals:
        return agent.run(), agent.signum
