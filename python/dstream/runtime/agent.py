"""`dstream agent`: N copies on N hosts, one configuration, the tasks divided among the
live agents through the tasks' leases (state/lease.py) — no coordinator of our own.

Every tick (the lease renewal interval) an agent renews its row in the registry
(state/agents.py), counts the live agents and aims at `ceil(tasks / agents)` tasks:

- below the target it takes free tasks (no lease, or an expired or released one), in
  the order of a hash of (agent, task), so agents prefer different tasks;
- above it, it stops and releases its surplus only (a drain, then the lease goes);
- otherwise it moves nothing: a healthy task stays where it runs (sticky).

An agent whose registration expired (paused, or cut off longer than the TTL) has been
counted out by the others: like a Kafka Connect worker that lost its group membership,
it stops every task it runs, then joins again as a new member, or, refused (the live
agents run another configuration), exits with that error.

A task the agent stops to have it run elsewhere — its surplus at a rebalance, every
task at a lost registration, a task whose lease was lost — is handed over, not failed:
it is logged, and only real failures (and the signal that stopped the agent) make its
summaries and its exit code.

So an agent that leaves frees only its own tasks, and one that joins takes at most its
share, released by the agents above the new target.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import zlib
from typing import TYPE_CHECKING, Optional

from dstream import logs
from dstream.config.model import Project, TaskSpec
from dstream.errors import DstreamError, LockLost
from dstream.records import field, record
from dstream.runtime.monitor import Monitor, TaskMonitor
from dstream.runtime.pipeline import RunContext, RunHooks, RunSummary, Stop
from dstream.runtime.runner import definition_hash, run_task
from dstream.state.agents import AgentRefused

if TYPE_CHECKING:
    from dstream.state.base import StateStore

# A task that ended (its input finished, or it failed for good) is not taken again by
# the same agent before this many seconds: another agent may try it meanwhile.
ENDED_COOLDOWN = 30.0


def config_hash(project: Project) -> str:
    """What every agent must agree on: the definition of every task."""
    import hashlib  # only agents need it

    parts = ",".join(
        f"{name}={definition_hash(project.tasks[name])}" for name in sorted(project.tasks)
    )
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


def preference(agent: str, task: str) -> int:
    """Rendezvous order: each agent ranks the tasks differently, all agents agree."""
    return zlib.crc32(f"{agent}\0{task}".encode())


@record
class _Running:
    task: TaskSpec
    stop: Stop = field(default_factory=Stop)
    thread: Optional[threading.Thread] = None
    summary: Optional[RunSummary] = None
    since: float = field(default_factory=time.time)
    handover: str = ""  # why the agent asked it to stop, to run elsewhere (no signal)

    def hand_over(self, why: str) -> None:
        """Ask it to drain, unless it is stopping already (its lease was lost): a second
        request would force the stop."""
        self.handover = self.handover or why
        if not self.stop.requests:
            self.stop.request()


class Agent:
    def __init__(
        self,
        project: Project,
        store: StateStore,
        monitor: Monitor,
        hooks: Optional[RunHooks] = None,
    ) -> None:
        from dstream.state.postgres import PostgresStore  # the one backend with leases

        if not isinstance(store, PostgresStore):
            raise DstreamError(
                "dstream agent needs the postgres state backend (leases)",
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
        self.ended: dict[str, float] = {}  # task -> when it ended here
        self.stopping = threading.Event()
        self.signum: Optional[int] = None  # the signal that stopped it: the exit code says which

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> list[RunSummary]:
        self.store.transact("create the agent registry", self.registry.create)
        self.store.transact(
            "join the agents", lambda c: self.registry.join(c, self.name, self.digest, self.ttl)
        )
        logs.log.info("agent %s joined with configuration %s", self.name, self.digest)
        summaries: list[RunSummary] = []
        try:
            # One tick before taking anything: agents started together see each other.
            while not self.stopping.wait(self.tick):
                summaries.extend(self._reap())
                if self._renew(summaries):
                    self._balance()
        finally:
            summaries.extend(self._stop_all())
            try:
                self.store.transact("leave the agents", lambda c: self.registry.leave(c, self.name))
            except DstreamError as exc:
                logs.log.warning("could not leave the registry (it expires anyway): %s", exc)
        return summaries

    def _renew(self, summaries: list[RunSummary]) -> bool:
        """Renew this agent's registration: True while it is a member. One whose
        registration expired stops its tasks (the others may take them) and joins again;
        refused, it raises AgentRefused (the agent ends with that error)."""
        try:
            if self.store.transact(
                "renew the agent", lambda c: self.registry.heartbeat(c, self.name, self.ttl)
            ):
                return True
        except DstreamError as exc:  # the database is away: keep what runs, move nothing
            logs.log.warning("agent %s: %s", self.name, exc)
            return False
        if self.running:
            logs.log.warning(
                "agent %s: its registration expired (paused, or cut off from the state "
                "database for over %gs): stopping its task(s) %s, to be taken over by the "
                "live agents (handed over, not failed); then it joins again",
                self.name, self.ttl, ", ".join(sorted(self.running)),
            )  # fmt: skip
            summaries.extend(self._stop_all("its registration expired"))
        try:
            self.store.transact(
                "join the agents",
                lambda c: self.registry.join(c, self.name, self.digest, self.ttl),
            )
        except AgentRefused as exc:
            raise AgentRefused(
                f"agent {self.name} lost its membership (its registration expired) and "
                f"stopped its tasks, but joining again was refused: {exc.reason}",
                hint=exc.hint,
            ) from None
        except DstreamError as exc:
            logs.log.warning("agent %s: %s", self.name, exc)
            return False
        logs.log.info("agent %s joined again with configuration %s", self.name, self.digest)
        return True

    def _balance(self) -> None:
        try:
            agents = self.store.transact("list the agents", self.registry.live)
            leases = {row.task: row for row in self.store.leases()}
        except DstreamError as exc:  # the database is away: keep what runs, move nothing
            logs.log.warning("agent %s: %s", self.name, exc)
            return
        target = math.ceil(len(self.project.tasks) / max(1, len(agents)))
        kept = [name for name, running in self.running.items() if not running.stop.requests]
        held = len(kept)
        if held > target:
            surplus = sorted(kept, key=lambda t: preference(self.name, t))
            for task in surplus[: held - target]:
                logs.log.info(
                    "agent %s: releasing task %s (%d agents)", self.name, task, len(agents)
                )
                self.running[task].hand_over("released")  # a drain; the lease goes after it
            return
        now = time.monotonic()
        free = [
            name
            for name in self.project.tasks
            if name not in self.running
            and (name not in leases or leases[name].expires_in <= 0)
            and now - self.ended.get(name, -ENDED_COOLDOWN) >= ENDED_COOLDOWN
        ]
        free.sort(key=lambda t: preference(self.name, t), reverse=True)
        for name in free[: max(0, target - held)]:
            spec = self.project.tasks[name]
            try:
                taken = self.store.try_hold(name, definition_hash(spec))
            except DstreamError as exc:  # the database went away meanwhile: next tick
                logs.log.warning("agent %s: %s", self.name, exc)
                return
            if taken:
                self._start(spec)

    # -- tasks ---------------------------------------------------------------------------
    def _start(self, task: TaskSpec) -> None:
        running = _Running(task)
        monitor = TaskMonitor(task.name)
        self.monitor.tasks[task.name] = monitor
        self.running[task.name] = running

        def work() -> None:
            try:
                context = RunContext(
                    self.project, task, self.store, running.stop, self.hooks, monitor,
                    task_prefixes=True,
                )  # fmt: skip
                running.summary = run_task(context)
            except DstreamError as exc:
                running.summary = RunSummary(task=task.name, outcome="failed", error=exc)
            finally:
                self.store.release(task.name)  # after its providers stopped

        logs.log.info("agent %s: running task %s", self.name, task.name)
        running.thread = threading.Thread(target=work, name=task.name, daemon=True)
        running.thread.start()

    def _reap(self) -> list[RunSummary]:
        """Forget the tasks whose run ended; the summaries of those that finished or
        failed (a task handed over to the other agents is logged, not counted)."""
        done = []
        for name, running in list(self.running.items()):
            if running.thread is not None and not running.thread.is_alive():
                del self.running[name]
                self.monitor.tasks.pop(name, None)
                if not running.stop.requests:  # ended by itself: give others a chance
                    self.ended[name] = time.monotonic()
                why = _handed_over(running)
                if why:
                    logs.log.info(
                        "agent %s: task %s stopped (%s): handed over, not failed",
                        self.name, name, why,
                    )  # fmt: skip
                elif running.summary is not None:
                    done.append(running.summary)
        return done

    def _stop_all(self, handover: str = "") -> list[RunSummary]:
        """Stop every task and wait for it: on a signal (the summaries say which), or to
        hand them over (`handover` says why; no failure)."""
        for running in self.running.values():
            if handover and self.signum is None:
                running.hand_over(handover)
            else:
                running.stop.request(self.signum)
        for running in self.running.values():
            if running.thread is not None:
                running.thread.join()
        summaries = self._reap()
        self.running.clear()  # every run ended
        for summary in summaries:  # as `run` marks them (runtime/runner.py)
            if self.signum is not None and summary.outcome != "completed":
                summary.stopped_by = self.signum
        return summaries

    def request_stop(self, signum: int, frame: object = None) -> None:
        self.signum = self.signum or signum
        self.stopping.set()


def _handed_over(running: _Running) -> str:
    """Why the task's run ended to be run elsewhere, or "" (it finished, failed, or a
    signal stopped it: its summary counts). Handed over: the agent asked it to stop
    (released at a rebalance, its registration expired) and it drained, or its lease
    was lost (the agent was paused or cut off: another agent takes the task over),
    like a Kafka Connect task revoked at a rebalance."""
    summary = running.summary
    if summary is None or running.stop.requests == 0 or running.stop.signum is not None:
        return ""
    if isinstance(summary.error, LockLost):  # its stopper asked for the stop (runner.py)
        return "; ".join(filter(None, [running.handover, "its lease was lost"]))
    return (running.handover or "asked to stop") if summary.outcome == "interrupted" else ""


def run_agent(
    project: Project, store: StateStore, monitor: Monitor
) -> tuple[list[RunSummary], Optional[int]]:
    """Run an agent until SIGINT/SIGTERM: then every task drains and its lease goes.
    Returns the tasks' summaries and the signal that stopped the agent."""
    agent = Agent(project, store, monitor)
    previous = {
        sig: signal.signal(sig, agent.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return agent.run(), agent.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
