"""What would stop a command of dstream-postgres-cdc, checked before it changes anything:
the server's wal_level, a slot of the task's name that is not the task's, a slot younger
than the checkpoint a run resumes from, a table whose updates publishing would break, and
the privileges init needs. Each is a DstreamError naming the fix; `plan` checks the same
as `init`, so that it shows as an error what init would refuse.
"""

from __future__ import annotations

import time
from typing import Optional

from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.catalog import (
    LOST_SLOT,
    PLUGIN,
    Inspection,
    Table,
    Work,
    replication_end,
    slot_predates_publication,
)
from dstream.providers.postgres_cdc.config import fold_slot_name, quote_ident
from dstream.providers.postgres_cdc.pgerrors import RESUMES, LostConnection, connect
from dstream.providers.postgres_cdc.pgoutput import format_lsn

# Why a replication connection was lost: asked on a fresh connection, at most this long
# (connecting, each query, and waiting for an invalidation under way to be recorded).
LOST_CAUSE_SECONDS = 5


def require_logical_wal(state: Inspection) -> None:
    if state.wal_level != "logical":
        raise DstreamError(
            f"the server runs with wal_level={state.wal_level}; logical replication needs "
            "wal_level=logical",
            hint="set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET "
            "wal_level = logical) and restart PostgreSQL",
        )


def slot_conflict(state: Inspection, task: Optional[str]) -> Optional[DstreamError]:
    """Why the slot of the configured name cannot be this task's, or None. Never taken
    for ours, never dropped: it belongs to another database or another tool."""
    other = state.foreign_slot
    if other is None:
        return None
    own = fold_slot_name(f"{other.name}_{state.database}")
    fix = (
        f'give the task a slot of its own: slot = "{own}" in the input\'s config, then '
        f"`dstream init {task or '<task>'}`"
    )
    if other.database is None:
        what = "is a physical slot (a standby's), not a logical one"
    elif other.database != state.database:
        what = (
            f"belongs to database {other.database}, not to this task's database "
            f"{state.database} (slot names are shared by the whole server)"
        )
    else:
        what = f"decodes with {other.plugin}, and dstream-postgres-cdc reads {PLUGIN}"
        fix += (
            "; or, if nothing reads that slot any more, drop it: "
            f"SELECT pg_drop_replication_slot('{other.name}')"
        )
    return DstreamError(f"replication slot {other.name} {what}: it cannot be this task's", hint=fix)


def require_usable_slot(state: Inspection, resume_lsn: int, task: Optional[str]) -> None:
    """Before a run: the slot is not another's, and it is not younger than the checkpoint
    the run resumes from (the changes in between were never decoded: refuse, never skip
    them silently)."""
    problem = slot_problem(state, task)
    if problem is not None:
        raise problem
    start = state.slot_start
    if state.slot is None or start is None or not resume_lsn or resume_lsn >= start:
        return
    name, at = state.slot.name, format_lsn(start)
    accept = f'{{"lsn": "{at}", "slot": "{name}"}}'
    raise DstreamError(
        f"the saved checkpoint (LSN {format_lsn(resume_lsn)}) is older than replication "
        f"slot {name}, which `dstream init` made at {at}: changes committed between them "
        "were never captured (the slot was dropped and made anew)",
        hint=f"re-sync: `dstream run {task or '<task>'} --reset-state` (with snapshot = true "
        "to copy the tables first); or accept the gap: "
        f"`dstream state set {task or '<task>'} '{accept}'`",
    )


def resync(task: Optional[str]) -> str:
    """How to re-sync a task whose changes have a gap: the one way the docs offer."""
    name = task or "<task>"
    return (
        f"re-sync with `dstream run {name} --reset-state` and snapshot = true in the input's "
        "config, which copies the tables again"
    )


def unpublished_gap(
    missing: list[Table], task: Optional[str], checkpoint: Optional[str], captured: bool = False
) -> str:
    """Why a table `tables` lists is not in the publication, said where a checkpoint (or
    an init adding it back) shows it was captured before: a table dropped (it leaves the
    publication) and made again under its name, or taken out of the publication."""
    names = ", ".join(t.qualified for t in missing)
    since = f"the checkpoint (LSN {checkpoint})" if checkpoint else "the task's last checkpoint"
    was = f"{names} was" if captured else f"if {names} was captured before, it was"
    return (
        f"{was} dropped and made again (or taken out of the publication) after {since}: "
        f"its changes since then were never captured and are missing; {resync(task)}"
    )


def slot_problem(state: Inspection, task: Optional[str]) -> Optional[DstreamError]:
    """Why the slot of the task's name, there, cannot be used by a run (another's, or
    invalidated), or None: what `run` refuses and `status` reports it unusable for."""
    conflict = slot_conflict(state, task)
    if conflict is None and state.slot is not None and state.slot.lost:
        return lost_slot(state.slot.name, task)
    if conflict is None and state.slot is not None and slot_predates_publication(state):
        at = state.slot.confirmed_flush_lsn
        return publication_dropped(state.publication, state.slot.name, task, at=at)
    return conflict


def publication_dropped(
    publication: str, slot: str, task: Optional[str], *, at: Optional[str] = None
) -> DstreamError:
    """The slot's publication was dropped (and perhaps made again) after the slot's
    position: pgoutput reads the publication as it was when each change was written, so
    the slot can never read past the drop. `at`: the slot's position, when `dstream init`
    knows it (it noted when it made the publication again, and makes the slot anew);
    else (a publication dropped by hand) the slot is made anew by destroy and init."""
    name = task or "<task>"
    where = f" (LSN {at})" if at else ""
    anew = (
        f"`dstream init {name}` makes the slot anew (`dstream plan {name}` shows it)"
        if at
        else f"`dstream destroy {name}` then `dstream init {name}` make the slot anew "
        "(destroy keeps the checkpoint, and a publication made by hand)"
    )
    return DstreamError(
        f"publication {publication} was dropped (and made again) after the position of "
        f"replication slot {slot}{where}: pgoutput reads the publication as it was when "
        "each change was written, so this slot cannot read past the drop, and the changes "
        "committed since its position cannot be captured from it",
        hint=f"{anew}; then {resync(task)}, or accept the gap as that run's error says",
    )


def lost_slot(slot: str, task: Optional[str]) -> DstreamError:
    """A slot PostgreSQL invalidated: the WAL after its position is gone, so the changes in
    it can never be read. Nothing is lost *yet* only up to the last checkpoint."""
    name = task or "<task>"
    return DstreamError(
        f"replication slot {slot} was {LOST_SLOT}: it fell further behind than "
        "max_slot_wal_keep_size allows, and the WAL after its position is gone, so the "
        "changes committed since it last moved cannot be read",
        hint=f"`dstream init {name}` makes the slot anew; then re-sync with "
        f"`dstream run {name} --reset-state` (with snapshot = true to copy the tables), or "
        "accept the gap as that run's error says; raise max_slot_wal_keep_size (or -1) so it "
        "does not happen again",
    )


def lost_connection_cause(
    lost: LostConnection,
    dsn: str,
    slot: str,
    task: Optional[str],
    *,
    longest_silence: float,
    status_interval: float,
) -> DstreamError:
    """Why the replication connection was lost, asked on a fresh ordinary connection:
    the slot was invalidated (the server ends the replication of a slot it invalidates),
    or the server ended the replication after hearing nothing from the run for its
    wal_sender_timeout (`longest_silence`: the run's longest time without an exchange);
    else `lost` (a restart, a shutdown, the network: unknowable here, and so is
    everything when the server cannot be reached)."""
    deadline = time.monotonic() + LOST_CAUSE_SECONDS  # connecting counts too
    try:
        conn = connect(dsn, timeout=LOST_CAUSE_SECONDS)
    except DstreamError:
        return lost
    try:
        status, timeout_ms = replication_end(conn, slot)
        # "unreserved": past max_slot_wal_keep_size, and the checkpointer invalidates it
        # once its walsender (this run's) is gone.
        while status == "unreserved" and time.monotonic() < deadline:
            time.sleep(0.1)
            status, timeout_ms = replication_end(conn, slot)
    except DstreamError:
        return lost
    finally:
        conn.close()
    if status == "lost":
        return lost_slot(slot, task)
    if timeout_ms and longest_silence * 1000 >= timeout_ms:
        limit = f"{timeout_ms / 1000:g} s"
        if status_interval * 1000 >= timeout_ms:
            fix = (
                f"set status_interval (now {status_interval:g} s) below {limit} in the "
                "input's config, or raise wal_sender_timeout on the server"
            )
        else:
            fix = (
                "raise wal_sender_timeout on the server (ALTER SYSTEM SET "
                "wal_sender_timeout = '5min'; SELECT pg_reload_conf())"
            )
        return DstreamError(
            f"PostgreSQL at {lost.address} ended the replication: it heard nothing from "
            f"this run for {longest_silence:.0f} s, longer than its wal_sender_timeout "
            f"({limit})",
            hint=f"{fix}. {RESUMES}",
        )
    return lost


def refuse_blocked(state: Inspection, tables: list[Table], todo: Work, task: Optional[str]) -> None:
    """Everything that would make init fail part-way, checked before it changes anything;
    plan checks the same, so that it shows as an error what init would refuse."""
    require_logical_wal(state)
    conflict = slot_conflict(state, task)
    if conflict is not None:
        raise conflict
    unsafe = [t for t in tables if not t.publishes_updates_safely]
    if unsafe:
        raise DstreamError(
            f"no replica identity on {', '.join(t.qualified for t in unsafe)}: once "
            "published, UPDATE and DELETE on it would fail in your application",
            hint="add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL",
        )
    _refuse_missing_privileges(state, todo)


def _refuse_missing_privileges(state: Inspection, todo: Work) -> None:
    role, db = quote_ident(state.role), quote_ident(state.database)
    as_other = "or run init as a superuser"
    if todo.create_publication and not state.can_create_publication:
        raise DstreamError(
            f"role {state.role} may not create publications in database {state.database} "
            "(CREATE PUBLICATION needs the CREATE privilege on the database)",
            hint=f"GRANT CREATE ON DATABASE {db} TO {role}, {as_other}",
        )
    foreign = [t for t in todo.add if not t.owned]
    if foreign:
        raise DstreamError(
            f"role {state.role} does not own {', '.join(t.qualified for t in foreign)} "
            "(only a table's owner may add it to a publication)",
            hint=f"ALTER TABLE ... OWNER TO {role}, {as_other}",
        )
    changes_publication = todo.add or todo.remove or todo.via_root
    if not todo.create_publication and changes_publication and not state.publication_owned:
        raise DstreamError(
            f"publication {state.publication} belongs to role "
            f"{state.publication_owner}, so role {state.role} may not change it",
            hint=f"run init as {state.publication_owner}, {as_other}",
        )
    if todo.create_slot and not state.can_replicate:
        raise DstreamError(
            f"role {state.role} has no REPLICATION attribute, which a replication slot "
            "needs (to create it and to stream from it)",
            hint=f"ALTER ROLE {role} REPLICATION (as a superuser), or use a role that has it",
        )
