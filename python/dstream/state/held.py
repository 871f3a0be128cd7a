"""What a command refused by a task's lease says of its holder (PostgresStore.hold_run).

A lease is not a lock of the kernel's: it does not go with its process. A holder killed
(kill -9, the OOM killer, a lost machine) keeps it until it expires, lease_ttl after its
last renewal, so "stop it" is only true of a holder that still runs. A holder's name is
new_owner's host:pid:ticks@boot:random (state/lease.py): a holder of this host is known
to be gone when no process has its pid, or the one that has it started at another time
(a reused pid), and known to run when that process started when the holder did. An older
dstream's name, host:pid:random, carries no start time: a pid in use may be another
process's by now, so then the holder may be gone.
"""

from __future__ import annotations

from typing import Optional

from dstream.state.base import (
    AlreadyRunning,
    already_running,
    ended_here,
    named_process,
    started,
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
    host, pid, since = _process(row.owner)
    if ended_here(host, pid, since):
        return AlreadyRunning(
            f"task {task!r} is held by a run that is gone ({holder}): process {pid} of "
            f"this host has ended (crashed or killed) without releasing its lease in {where}",
            hint=(
                f"nothing runs and there is nothing to stop: its lease {expires} (a "
                f"crashed holder keeps it for {TTL}); run this again then ({STANDBY})"
            ),
        )
    if host == this_host():
        hint = (
            f"stop the run of pid {pid} on this host (Ctrl-C / SIGTERM releases its lease "
            "at once) or wait for it to end"
        )
        # Not known to be the holder: an older dstream's name says no start, or /proc
        # does not say when pid started (a process of another user under hidepid).
        if not since or started(pid) != since:
            hint += (
                f"; if pid {pid} is no longer that run (a pid is reused), the holder may "
                f"be gone and its lease {expires}: {STANDBY}"
            )
    elif host:
        hint = (
            f"stop it on {host} (Ctrl-C / SIGTERM releases its lease at once) or wait for "
            "it to end; a run that crashed (kill -9, a lost machine) keeps the lease until "
            f"it expires ({TTL}; this one {expires}): {STANDBY}"
        )
    else:
        hint = UNKNOWN_HINT
    return already_running(task, where, holder, hint)


def _process(owner: str) -> tuple[str, str, str]:
    """The host, pid and start (named_process) a holder's name says: new_owner's
    host:pid:ticks@boot:random, or an older dstream's host:pid:random (no start: "").
    "" each when it is neither."""
    named, _, _random = owner.rpartition(":")
    host, pid, since = named_process(named)
    return (host, pid, since) if pid.isdigit() else ("", "", "")
