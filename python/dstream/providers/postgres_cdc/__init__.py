"""dstream-postgres-cdc: PostgreSQL logical replication (pgoutput) as a dstream input.

Lifecycle: `init` creates the publication (FOR TABLE the configured tables) and the
logical slot; `plan`/`status` report them and the WAL the slot retains; `destroy` drops
both. `run` streams committed changes after the last acknowledged checkpoint and moves
the slot's confirmed position only to checkpoints dstream stored: the one it resumes
from, at start, and those dstream reports (on_commit; a batch run waits for the notice
of its last one), so WAL is released only after delivery.

See docs/providers/postgres.md for the config keys, envelope shape and typing rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Optional

import orjson

from dstream.errors import DstreamError
from dstream.protocol.messages import KEPT
from dstream.providers.postgres_cdc import catalog, checks
from dstream.providers.postgres_cdc.config import PgCdcConfig, go_on_after_tables_changed
from dstream.providers.postgres_cdc.pgerrors import LostConnection, PgConnection, connect
from dstream.providers.postgres_cdc.pgoutput import format_lsn, parse_lsn, record_end
from dstream.providers.postgres_cdc.stream import ChangeStream
from dstream.sdk import Change, InputProvider, LifecycleResult, Resource, log
from dstream.sdk.model import result_with
from dstream.sdk.provider import Produced

__all__ = ["PgCdcConfig", "PostgresCdc", "main"]


class PostgresCdc(InputProvider[PgCdcConfig]):
    config_class = PgCdcConfig
    name = "dstream-postgres-cdc"
    features = ("checkpoints",)

    _stream: Optional[ChangeStream] = None
    _tables: list[catalog.Table] = []
    _take_snapshot = False

    @property
    def slot(self) -> str:
        return self.config.slot_name(self.task)

    @property
    def publication(self) -> str:
        return self.config.publication_name(self.task)

    # -- run ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Check everything before the handshake, so a missing table, publication or slot
        is reported as the start error (with what to do) rather than after `ready`."""
        if self.command != "run":
            return
        cfg = self.config
        resume_lsn = self._resume_lsn()
        self._take_snapshot = cfg.snapshot and self.state is None
        conn = connect(cfg.dsn)
        try:
            found = catalog.inspect(conn, self.publication, self.slot)
            checks.require_logical_wal(found)
            checks.require_usable_slot(found, resume_lsn, self.task)
            # Resuming, a fixed 'tables' is a changed input, which dstream asks to accept.
            then = go_on_after_tables_changed(self.task) if self.state is not None else None
            tables = catalog.resolve_tables(conn, cfg.tables, cfg.default_schema, then)
            covered = self._captured_oids()
            # A captured table gone from the database: one of `tables` may be it made again.
            dropped = (
                catalog.gone_tables(conn, covered - {t.oid for t in tables})
                if covered is not None
                else set()
            )
            self._require_captured(found, tables, resume_lsn, covered, dropped)
            self._say_uncopied(tables, covered, dropped)
            base_types = catalog.domain_base_types(conn)
            if self._take_snapshot and found.slot is not None:
                # The copy must start exactly where the slot starts; an existing slot's
                # start cannot be matched by a snapshot, so it is made anew. Nothing was
                # acknowledged from it (no state), and the copy covers what it held.
                log.info("re-creating the slot for a consistent snapshot", slot=self.slot)
                catalog.drop_slot(conn, found.slot)
            elif not self._take_snapshot and found.slot is None:
                raise DstreamError(
                    f"replication slot {self.slot} does not exist",
                    hint=f"run `dstream init {self.task or '<task>'}` first (it creates the "
                    "publication and the slot)",
                )
        finally:
            conn.close()
        self._tables = tables
        self._stream = ChangeStream(
            cfg,
            slot=self.slot,
            publication=self.publication,
            task=self.task,
            tables=tables,
            base_types=base_types,
            resume_lsn=resume_lsn,
            confirmed_lsn=(found.slot.position or 0) if found.slot is not None else 0,
            published=None
            if catalog.publishes_by_design(found)
            else frozenset(found.published_oids),
        )
        self._stream.connect()

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    async def read(self) -> AsyncIterator[Produced]:
        stream = self._stream
        assert stream is not None, "open() prepares the stream"
        try:
            try:
                async for chunk in self._produce(stream):
                    yield chunk
            except LostConnection as dropped:
                raise checks.lost_connection_cause(
                    dropped,
                    self.config.dsn,
                    self.slot,
                    self.task,
                    longest_silence=stream.longest_silence,
                    status_interval=self.config.status_interval,
                ) from dropped
            if self.config.until_caught_up:
                await self._confirm_last(stream)
        finally:
            counters = stream.counters
            log.info(
                "replication stopped",
                changes=counters.changes,
                transactions=counters.transactions,
                checkpoints=counters.checkpoints,
                truncates=counters.truncates,
                isolated=counters.isolated or None,
            )
            lost = stream.set_aside_outcome()
        if lost is not None:
            raise lost

    async def _produce(self, stream: ChangeStream) -> AsyncIterator[bytes]:
        """The snapshot (first run, if asked for), then the changes."""
        tables = self._tables
        if self._take_snapshot:
            from dstream.providers.postgres_cdc.snapshot import snapshot_frames

            start, snapshot_name = stream.create_slot_with_snapshot()
            log.info("snapshot started", slot=self.slot, lsn=format_lsn(start))
            async for chunk in snapshot_frames(
                self.config.dsn,
                tables,
                snapshot_name=snapshot_name,
                lsn=start,
                stream=stream,
            ):
                yield chunk
            checkpoint = {
                "lsn": format_lsn(start),
                "slot": self.slot,
                "table_oids": sorted(t.oid for t in tables),
                "snapshot": "done",
            }
            yield orjson.dumps({"checkpoint": checkpoint}) + b"\n"
        if self.config.until_caught_up:
            stream.target_lsn = inserted_wal_end(self.config.dsn)
        await stream.start()
        log.info(
            "streaming",
            slot=self.slot,
            publication=self.publication,
            tables=[t.qualified for t in tables],
            resume_lsn=format_lsn(stream.resume_lsn) if stream.resume_lsn else None,
        )
        async for chunk in stream.frames():
            yield chunk

    async def _confirm_last(self, stream: ChangeStream) -> None:
        """A batch run ends before dstream sends the commit notice of its last checkpoint
        if nothing waits for it, and the slot would keep the WAL the run delivered until
        the next run starts: wait for it (on_commit confirms it), a bounded time."""
        last = stream.last_checkpoint_lsn
        if await stream.wait_confirmed(last):
            return
        log.info(
            "the last checkpoint was not confirmed to the server: no commit notice came for "
            "it in time; the next run confirms it when it starts",
            lsn=format_lsn(last),
        )

    async def on_commit(self, checkpoint: object) -> None:
        # With the resumed checkpoint at start, the only way the slot advances: dstream
        # stored this checkpoint, which the output has durably.
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get("lsn"), str):
            stream = self._stream
            if stream is not None:
                stream.confirm(parse_lsn(checkpoint["lsn"]))

    def _resume_lsn(self) -> int:
        state = self.state
        if state is None:
            return 0
        if not isinstance(state, dict) or not isinstance(state.get("lsn"), str):
            raise DstreamError(
                f"the saved checkpoint {orjson.dumps(state).decode()[:200]} is not a "
                "dstream-postgres-cdc checkpoint",
                hint="clear this task's state (`dstream state`) to start from the slot",
            )
        if state.get("slot") not in (None, self.slot):
            log.warning(
                "the checkpoint came from another slot; resuming at its LSN anyway",
                checkpoint_slot=state.get("slot"),
                slot=self.slot,
            )
        return parse_lsn(state["lsn"])

    def _captured_oids(self) -> Optional[set[int]]:
        """The OIDs of the tables the checkpoint's run captured (its `table_oids`), or
        None: no checkpoint, or one written before checkpoints named their tables."""
        state = self.state
        covered = state.get("table_oids") if isinstance(state, dict) else None
        if not isinstance(covered, list):
            return None
        return {oid for oid in covered if isinstance(oid, int)}

    def _say_uncopied(
        self, tables: list[catalog.Table], covered: Optional[set[int]], dropped: set[int]
    ) -> None:
        """A table in `tables` that the checkpoint's run did not capture (`covered`: added
        to `tables` since) streams its changes from here on; its existing rows are copied
        by no run (`snapshot` copies on a task's first run only). Said, with how to copy
        them; and, while a table that run captured was `dropped`, that one of them may be
        it made again, whose changes since are missing (init, adding it back, cannot tell).
        A checkpoint written before checkpoints named their tables tells nothing: said
        nothing."""
        if covered is None:
            return
        added = [t.qualified for t in tables if t.oid not in covered]
        if not added:
            return
        task = self.task or "<task>"
        if dropped:
            log.warning(
                "a table the checkpoint's run captured was dropped since: if one of these "
                "tables is it, made again under its name, its changes since the checkpoint "
                "were never captured and are missing",
                tables=added,
                hint=checks.resync(self.task),
            )
        log.warning(
            "table(s) added to 'tables' since the checkpoint: their existing rows are not "
            "copied, only the changes from now on are captured",
            tables=added,
            hint="to copy their rows, run a one-off task with only these tables in 'tables', "
            "`snapshot = true` and `until_caught_up = true` (`dstream init`, `dstream run`, "
            f"then `dstream destroy` it); `dstream run {task} --reset-state` copies them "
            "too with `snapshot = true`, but copies every other table again as well",
        )

    def _require_captured(
        self,
        found: catalog.Inspection,
        tables: list[catalog.Table],
        resume_lsn: int,
        covered: Optional[set[int]],
        dropped: set[int],
    ) -> None:
        """The publication publishes `tables`, as themselves, and nothing else. A table it
        lacks was added to `tables` (plain: run init), unless the checkpoint shows it was
        captured before (see _gap)."""
        if not found.publication_exists:
            raise DstreamError(
                f"publication {self.publication} does not exist",
                hint=f"run `dstream init {self.task or '<task>'}` first",
            )
        missing = catalog.unpublished(found, tables)
        if missing:
            add = f"run `dstream init {self.task or '<task>'}` to add " + (
                "them" if len(missing) > 1 else "it"
            )
            gap, captured = _gap(missing, covered, dropped) if resume_lsn else ([], False)
            if gap:  # captured before: its changes since that checkpoint are gone
                lsn = format_lsn(resume_lsn)
                raise DstreamError(
                    f"not captured by publication {self.publication}: "
                    + checks.unpublished_gap(gap, self.task, lsn, captured),
                    hint=f"{add}, then {checks.resync(self.task)}",
                )
            raise DstreamError(
                "not captured by publication "
                + self.publication
                + ": "
                + ", ".join(t.qualified for t in missing),
                hint=add,
            )
        split = catalog.by_partition(found, tables)
        if split:
            raise DstreamError(
                f"publication {self.publication} publishes the partitioned table "
                f"{', '.join(t.qualified for t in split)} as its partitions, whose changes "
                "this run would not capture",
                hint=f"run `dstream init {self.task or '<task>'}`: it sets "
                "publish_via_partition_root, so they arrive as the table's",
            )
        extra = catalog.unlisted(found, tables)
        if extra:
            # Its changes would be skipped, and the checkpoint moved past them: refused,
            # as a table `tables` lists and the publication lacks is.
            those = "them" if len(extra) > 1 else "it"
            raise DstreamError(
                f"publication {self.publication} also publishes {', '.join(extra)}, which "
                "'tables' does not list: this run would skip its changes",
                hint=f"add {those} to 'tables' to capture {those}, or run "
                f"`dstream init {self.task or '<task>'}` to take {those} out of the publication",
            )

    # -- lifecycle ---------------------------------------------------------------------
    async def init(self) -> LifecycleResult:
        conn = connect(self.config.dsn)
        changes: list[Change] = []
        try:
            found = catalog.inspect(conn, self.publication, self.slot)
            tables = catalog.resolve_tables(conn, self.config.tables, self.config.default_schema)
            todo = catalog.work(found, tables)
            checks.refuse_blocked(found, tables, todo, self.task)  # before any change
            try:
                self._make(conn, found, tables, todo, changes)
            except Exception as exc:
                return _failed_part_way("init", changes, exc)
            after = catalog.inspect(conn, self.publication, self.slot)
            resources, metadata = self._resources(after)
        finally:
            conn.close()
        message = _said(changes) or "up to date"
        return result_with(resources=resources, changes=changes, metadata=metadata, message=message)

    def _make(
        self,
        conn: PgConnection,
        found: catalog.Inspection,
        tables: list[catalog.Table],
        todo: catalog.Work,
        changes: list[Change],
    ) -> None:
        """Do `todo`, adding each change to `changes` as soon as it is committed."""
        publication = self._publication_change(todo)
        if publication is not None:
            catalog.apply_publication(conn, self.publication, tables, todo)
            changes.append(publication)
            if todo.create_publication and found.slot is not None:
                catalog.record_made(conn, self.publication)  # the slot cannot read it
        if todo.remake_slot and found.slot is not None:
            catalog.drop_slot(conn, found.slot)
            changes.append(Change("delete", "replication_slot", self.slot, todo.remake_slot))
        if todo.create_slot:
            lsn = catalog.create_slot(conn, self.slot)
            changes.append(Change("create", "replication_slot", self.slot, f"at {lsn}"))
            if todo.create_publication or found.publication_owned:
                ours = todo.create_publication or found.publication_ours
                catalog.record_slot_start(conn, self.publication, self.slot, lsn, ours=ours)

    def _publication_change(self, todo: catalog.Work) -> Optional[Change]:
        if todo.create_publication:
            return Change("create", "publication", self.publication)
        if todo.publication_change:
            # A table added is most likely one added to `tables`: the catalog cannot tell
            # one dropped and made again (a run resuming from a checkpoint can, _gap).
            return Change("update", "publication", self.publication, todo.publication_change)
        return None

    async def plan(self, destroy: bool = False) -> LifecycleResult:
        conn = connect(self.config.dsn)
        try:
            found = catalog.inspect(conn, self.publication, self.slot)
            changes: list[Change] = []
            kept: list[str] = []
            if destroy:
                if found.slot is not None:  # only ours: never another database's or tool's
                    changes.append(Change("delete", "replication_slot", self.slot))
                if found.publication_exists and found.publication_ours:
                    changes.append(Change("delete", "publication", self.publication))
                elif found.publication_exists:  # made by hand: never ours to drop
                    kept.append(catalog.kept_publication(self.publication))
            else:
                tables = catalog.resolve_tables(
                    conn, self.config.tables, self.config.default_schema
                )
                todo = catalog.work(found, tables)
                checks.refuse_blocked(found, tables, todo, self.task)  # as init would
                publication = self._publication_change(todo)
                changes += [publication] if publication is not None else []
                if todo.remake_slot:
                    changes.append(
                        Change("delete", "replication_slot", self.slot, todo.remake_slot)
                    )
                if todo.create_slot:
                    changes.append(Change("create", "replication_slot", self.slot))
            resources, metadata = self._resources(found)
        finally:
            conn.close()
        message = f"{len(changes)} change(s)" if changes else "no changes"
        metadata[KEPT] = kept
        return result_with(resources=resources, changes=changes, metadata=metadata, message=message)

    async def status(self) -> LifecycleResult:
        conn = connect(self.config.dsn)
        try:
            found = catalog.inspect(conn, self.publication, self.slot)
        finally:
            conn.close()
        resources, metadata = self._resources(found)
        missing = [r.name for r in resources if not r.exists]
        problem = checks.slot_problem(found, self.task)
        if problem is not None:
            message = problem.one_line()
        else:
            message = "missing: " + ", ".join(missing) if missing else "publication and slot exist"
        return result_with(resources=resources, metadata=metadata, message=message)

    async def destroy(self) -> LifecycleResult:
        conn = connect(self.config.dsn)
        changes: list[Change] = []
        kept: list[str] = []
        try:
            found = catalog.inspect(conn, self.publication, self.slot)
            try:
                if found.slot is not None:  # only ours: never another database's or tool's
                    catalog.drop_slot(conn, found.slot)
                    changes.append(Change("delete", "replication_slot", self.slot))
                if found.publication_exists and found.publication_ours:
                    catalog.drop_publication(conn, self.publication)
                    changes.append(Change("delete", "publication", self.publication))
                elif found.publication_exists:  # made by hand: never ours to drop
                    kept.append(catalog.kept_publication(self.publication))
            except Exception as exc:
                return _failed_part_way("destroy", changes, exc)
            after = catalog.inspect(conn, self.publication, self.slot)
            resources, metadata = self._resources(after)
        finally:
            conn.close()
        message = "; ".join([_said(changes) or "nothing to drop", *kept])
        metadata[KEPT] = kept
        if after.foreign_slot is not None:
            message += f"; left replication slot {after.foreign_slot.name}: not this task's"
        return result_with(resources=resources, changes=changes, metadata=metadata, message=message)

    def _resources(self, found: catalog.Inspection) -> tuple[list[Resource], dict[str, object]]:
        published = sorted(f"{s}.{t}" for s, t in found.published)
        publication = Resource(
            "publication",
            self.publication,
            found.publication_exists,
            {"tables": published, "all_tables": found.publishes_all_tables},
        )
        slot = found.slot or found.foreign_slot
        details: dict[str, object] = {}
        if slot is not None:
            details = {
                "plugin": slot.plugin,
                "database": slot.database,
                "active": slot.active,
                "active_pid": slot.active_pid,
                "restart_lsn": slot.restart_lsn,
                "confirmed_flush_lsn": slot.confirmed_flush_lsn,
                "retained_wal_bytes": slot.retained_wal_bytes,
                "wal_status": slot.wal_status,
            }
        # A slot there but no run's to use (another's, or invalidated): `status` fails on
        # it, where "exists" alone told a health check all was well.
        problem = checks.slot_problem(found, self.task)
        slot_resource = Resource(
            "replication_slot",
            self.slot,
            slot is not None,
            details,
            problem=problem.reason if problem else None,
            hint=problem.hint if problem else None,
        )
        resources = [publication, slot_resource]
        return resources, {"wal_level": found.wal_level}


def _gap(
    missing: list[catalog.Table], covered: Optional[set[int]], dropped: set[int]
) -> tuple[list[catalog.Table], bool]:
    """Which of the tables the publication lacks (`missing`) were captured from the
    checkpoint on, so that their changes since are missing, and whether that is known
    (else each only may have been). `covered`: the checkpoint's table OIDs (None: it
    does not say, so any may have been); `dropped`: those no table has any more. A table
    whose OID the checkpoint covers was taken out of the publication; while a covered
    table was dropped, one not covered may be it made again under its name; else a
    table not covered was added to `tables`: no gap."""
    if covered is None or dropped:
        return missing, False
    return [t for t in missing if t.oid in covered], True


_PAST = {"create": "created", "update": "changed", "delete": "dropped"}


def _said(changes: list[Change]) -> str:
    return ", ".join(f"{_PAST[c.action]} {c.type} {c.name}" for c in changes)


def _failed_part_way(command: str, changes: list[Change], exc: Exception) -> LifecycleResult:
    """A failure after some changes were committed: Failed, with those changes (the
    lifecycle contract); they stay, and the command is idempotent, so running it again
    goes on from there."""
    if isinstance(exc, DstreamError):
        reason = exc.one_line()
        log.error(f"{command}() failed", error=reason)
    else:  # a bug: its traceback goes to the log
        log.exception(f"{command}() failed")
        reason = f"{type(exc).__name__}: {exc}"
    done = _said(changes)
    message = f"{done}, then failed: {reason}" if done else reason
    return result_with("Failed", changes=changes, message=message, error=reason)


def inserted_wal_end(dsn: str) -> int:
    """Where the WAL inserted so far ends: every transaction committed before this call
    ends at or before it. Not pg_current_wal_lsn(), which is where the WAL has been
    written to: under synchronous_commit = off a commit returns before its record is
    written, so a batch run aiming there ended before transactions committed just
    before it started (tests/cdc/test_pg_provider.py)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_current_wal_insert_lsn()::text, "
                "current_setting('wal_block_size')::bigint, "
                "pg_size_bytes(current_setting('wal_segment_size'))"
            )
            insert, block, segment = cur.fetchone()
            return record_end(parse_lsn(str(insert)), int(block), int(segment))
    finally:
        conn.close()


def main() -> None:
    from dstream.sdk import run_provider

    run_provider(PostgresCdc)
