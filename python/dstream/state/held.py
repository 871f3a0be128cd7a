"""What a command refused by a task's lease says of its holder (PostgresStore.hold_run).

A lease is not a lock of the kernel's: it does not go with its process. A holder killed
(kill -9, the OOM killer, a lost machine) keeps it until it expires, lease_ttl after its
last renewal, so "stop it" is only true of a holder that still runs. A holder's name is
new_owner's host:pid:ticks@boot/pidns:random (state/lease.py): a holder of this host is
known to be gone when no process has its pid in its PID namespace, or the one that has
it started at another time (a reused pid), and known to run when that process started
when the holder did (state/base.py look_up; a holder of another PID namespace, a
container's, only where this process sees every process). An older dstream's name,
host:pid:ticks@boot:random or host:pid:random, does not say its namespace (nor when it
started): a pid in use may be another process's by now, so then the holder may be gone.
"""

from __future__ import annotations

from typing import Optional

from dstream.state.base import (
    AlreadyRunning,
    NamedProcess,
    already_running,
    look_up,
    named_process,
    this_host,
)
from dstream.state.lease import TTL, LeaseRow

# The holder is a `dstream agent`, which a signal does not free the task from.
AGENT_HINT = (
    "a `dstream agent` runs it, and another agent takes it over within seconds "
    "of that one's stop: stop every `dstream agent` of this configuration, or "
    "remove the task from the agents' configuration and reload them all (SIGHUP), "
    "which releases it; then run this again (`dstream state` then needs --force: "
    "the task is no longer defined)"
)
# What `dstream run --standby` does with a lease that outlives its holder.
STANDBY = "`dstream run --standby` waits for it to expire and takes the task over"
# Its holder not known (the lease ended meanwhile, or the database did not answer).
UNKNOWN_HINT = (
    "stop that run where it runs (Ctrl-C / SIGTERM releases its lease at once) or wait "
    f"for it to end; a run that crashed keeps the lease until it expires ({TTL}): "
    f"{STANDBY}"
)


def held_by(task: str, where: str, row: Optional[LeaseRow], *, agent: bool) -> AlreadyRunning:
    """The refusal of `task`, whose lease `row` holds (None: not known)."""
    if row is None:
        return already_running(task, where, hint=UNKNOWN_HINT)
    expires = f"expires in {row.expires_in:.0f}s"
    holder = f"{row.owner}, lease epoch {row.epoch}, {expires}"
    if agent:
        return already_running(task, where, holder, AGENT_HINT)
    process = _process(row.owner)
    pid = process.pid
    known, here = look_up(process)
    if known and here is None:
        return AlreadyRunning(
            f"task {task!r} is held by a run that is gone ({holder}): process {pid} of "
            f"{process.where} has ended (crashed or killed) without releasing its lease in "
            f"{where}",
            hint=(
                f"nothing runs and there is nothing to stop: its lease {expires} (a "
                f"crashed holder keeps it for {TTL}); run this again then ({STANDBY})"
            ),
        )
    if here is not None:
        its = "" if str(here) == pid else f", pid {pid} of its PID namespace"
        hint = (
            f"stop the run of pid {here} on this host{its} (Ctrl-C / SIGTERM releases its "
            "lease at once) or wait for it to end"
        )
    elif process.where != "this host":
        # Its pid is not this namespace's: pid N here is another process, or none.
        hint = (
            f"stop the run that is pid {pid} of {process.where} where it runs (a "
            f"container, `unshare --pid`: pid {pid} here is another process) with Ctrl-C "
            "/ SIGTERM, which releases its lease at once, or wait for it to end; if it "
            f"has ended, its lease {expires}: {STANDBY}"
        )
    elif process.host == this_host():
        # Not known to be the holder: an older dstream's name says no start or no PID
        # namespace, or /proc does not say when pid started (a process of another user
        # under hidepid).
        hint = (
            f"stop the run of pid {pid} on this host (Ctrl-C / SIGTERM releases its lease "
            f"at once) or wait for it to end; if pid {pid} is no longer that run (a pid "
            "is reused, or the run's pid is of another PID namespace: a container's), the "
            f"holder may be gone and its lease {expires}: {STANDBY}"
        )
    elif process.host:
        hint = (
            f"stop it on {process.host} (Ctrl-C / SIGTERM releases its lease at once) or "
            "wait for it to end; a run that crashed (kill -9, a lost machine) keeps the "
            f"lease until it expires ({TTL}; this one {expires}): {STANDBY}"
        )
    else:
        hint = UNKNOWN_HINT
    return already_running(task, where, holder, hint)


def _process(owner: str) -> NamedProcess:
    """The process a holder's name says: new_owner's host:pid:ticks@boot/pidns:random,
    or an older dstream's host:pid:ticks@boot:random or host:pid:random. No host nor
    pid when it is none of these."""
    named, _, _random = owner.rpartition(":")
    process = named_process(named)
    return process if process.pid.isdigit() else NamedProcess("", "", "", "")
