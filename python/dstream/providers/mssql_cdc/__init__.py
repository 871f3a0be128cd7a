"""dstream-mssql-cdc: SQL Server change data capture tables as a dstream input.

Reads cdc.fn_cdc_get_all_changes_<capture_instance> for the configured tables with
adaptive polling, typed values and per-table positions in dstream's checkpoint. No
lifecycle: enabling CDC (sys.sp_cdc_enable_db / sp_cdc_enable_table) stays the DBA's
call. See docs/providers/mssql.md, which also says what has run against a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Optional, TypeVar, cast

from dstream.errors import DstreamError
from dstream.providers.mssql_cdc.config import MssqlCdcConfig
from dstream.providers.mssql_cdc.names import parse_table_name
from dstream.providers.mssql_cdc.reader import Backoff, CdcReader, PollResult
from dstream.providers.mssql_cdc.sql import CaptureTable, CdcSource
from dstream.sdk import InputProvider, log
from dstream.sdk.provider import Produced

__all__ = ["MssqlCdc", "MssqlCdcConfig", "main", "resolve_tables"]

T = TypeVar("T")


def resolve_tables(
    names: list[str],
    default_schema: str,
    existing: set[tuple[str, str]],
    captured: dict[tuple[str, str], str],
) -> list[CaptureTable]:
    """The configured tables with their capture instances. One error names every table
    that does not exist and every table that is not captured, with the fix for each."""
    folded = {(s.lower(), t.lower()): (s, t) for s, t in existing}
    tables: list[CaptureTable] = []
    problems: list[str] = []
    for text in names:
        schema, name = parse_table_name(text, default_schema)
        # SQL Server's default collation is case-insensitive; match the same way.
        key = folded.get((schema.lower(), name.lower()))
        if key is None:
            problems.append(f"'{text}' does not exist (looked for {schema}.{name})")
        elif key not in captured:
            problems.append(
                f"'{text}' is not captured: EXEC sys.sp_cdc_enable_table "
                f"@source_schema = N'{key[0]}', @source_name = N'{key[1]}', @role_name = NULL"
            )
        else:
            tables.append(CaptureTable(key[0], key[1], captured[key]))
    if problems:
        raise DstreamError(
            "; ".join(problems),
            hint="fix 'tables' in the input's config, or enable CDC on the table "
            "(and on the database: EXEC sys.sp_cdc_enable_db)",
        )
    return tables


class MssqlCdc(InputProvider[MssqlCdcConfig]):
    config_class = MssqlCdcConfig
    name = "dstream-mssql-cdc"
    features = ("checkpoints",)

    source: Optional[CdcSource] = None
    reader: Optional[CdcReader] = None

    def make_source(self) -> CdcSource:
        from dstream.providers.mssql_cdc.sql import PymssqlSource

        return PymssqlSource(self.config.connection_string)

    async def open(self) -> None:
        if self.command != "run":
            return
        cfg = self.config
        source = await off_the_loop(self.make_source)
        self.source = source
        existing, captured = await off_the_loop(source.capture_tables)
        tables = resolve_tables(cfg.tables, cfg.default_schema, existing, captured)
        legacy = None
        if self.state is None and cfg.offsets_table:
            legacy = await off_the_loop(source.offsets, cfg.offsets_table)
        self.reader = CdcReader(
            source,
            tables,
            batch_size=cfg.batch_size,
            on_table_error=cfg.on_table_error,
            state=self.state,
            legacy_offsets=legacy,
        )
        log.info("capturing", tables={t.key: t.capture_instance for t in tables})

    async def close(self) -> None:
        close = getattr(self.source, "close", None)
        if callable(close):
            close()

    async def read(self) -> AsyncIterator[Produced]:
        reader = self.reader
        assert reader is not None, "open() prepares the reader"
        backoff = Backoff(self.config.poll_seconds, self.config.max_poll_seconds)
        done = object()
        while True:
            result = PollResult()
            pages = reader.poll(result)
            while True:
                # Queries run off the event loop so SIGTERM is handled at once.
                page = await off_the_loop(next, pages, done)
                if page is done:
                    break
                yield cast("list[dict[str, object]]", page)  # not `done`: a page
            wait = backoff.after_poll(result.emitted, result.full)
            if result.emitted:
                log.debug("polled", changes=result.emitted, next_poll=wait)
            # A plain sleep: the host cancels it on SIGTERM.
            await asyncio.sleep(wait)


async def off_the_loop(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on a daemon thread of its own. Not the loop's executor, whose threads
    are joined when the process ends: a query under way at a stop would keep it running
    until the query returned (dstream kills an input that outlives half of stop_grace).
    A daemon thread is abandoned with the process, which loses nothing: what it would
    have read comes again after the last checkpoint."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # cancelled by a stop meanwhile
            outcome()

    def work() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # the caller's to see, as run_in_executor gives it
            error = exc
            _tell(loop, lambda: settle(lambda: future.set_exception(error)))
        else:
            _tell(loop, lambda: settle(lambda: future.set_result(value)))

    threading.Thread(target=work, name="dstream-mssql-query", daemon=True).start()
    return await future


def _tell(loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: the run ended meanwhile
        loop.call_soon_threadsafe(call)


def main() -> None:
    from dstream.sdk import run_provider

    run_provider(MssqlCdc)
