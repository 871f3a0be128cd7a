"""The stdio host: everything the wire contract asks of a provider process, so a
provider only writes `read()` or `write()` (contract sections 1-8 in docs/protocol.md).

    command line on stdin -> bind config -> open() -> handshake -> run or lifecycle -> exit
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, Optional, Union

# Any here: Provider[Any] and its runs serve a provider of any config class.
from dstream.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, DstreamError
from dstream.extras import missing_package
from dstream.protocol.frames import (
    COMMANDS,
    ENV_COMMIT_FD,
    ENV_DESCRIBE,
    ENV_TASK,
    LIFECYCLE_COMMANDS,
)
from dstream.protocol.messages import KEY_FIELD, Command, LifecycleResult, error_line, ready_line
from dstream.sdk.config import ConfigClassError, bind_config
from dstream.sdk.encode import encode_line
from dstream.sdk.log import log, route_stdlib_logging
from dstream.sdk.model import Change, Resource
from dstream.sdk.provider import InputProvider, OutputProvider, Provider
from dstream.sdk.run_input import InputRun
from dstream.sdk.run_output import OutputRun
from dstream.sdk.stdio import (
    CHUNK_SIZE,
    FrameWriter,
    StdinChunks,
    read_first_line,
    take_over_stdout,
)

__all__ = ["run_provider"]


def run_provider(provider_class: type[Provider[Any]]) -> NoReturn:
    """Run `provider_class` as this process's provider and exit with its status.
    Call it from the console script's `main()`."""
    sys.exit(serve(provider_class))


def serve(provider_class: type[Provider[Any]]) -> int:
    route_stdlib_logging()
    out = take_over_stdout()
    if os.environ.get(ENV_DESCRIBE) == "1":
        # A describe probe (docs/protocol.md, section 2): say what it is, read nothing.
        try:
            schema = provider_class.config_schema()
        except ConfigClassError as exc:
            name = provider_class.provider_name()
            return _refuse(out, f"{name} cannot describe its config: {exc}", EXIT_FAILURE)
        role = provider_class.role or None
        out.write(ready_line(provider_class.declared_features(), schema, role))
        return EXIT_OK
    try:
        line, rest = read_first_line(0)
    except DstreamError as exc:
        return _refuse(out, exc.reason, EXIT_USAGE)
    except OSError as exc:
        return _refuse(out, f"cannot read the command line from stdin: {exc}", EXIT_USAGE)
    name = provider_class.provider_name()
    if not line.strip():
        return _refuse(
            out,
            f"{name} got no command line on stdin",
            EXIT_USAGE,
            hint="start it through dstream, or pipe one line first: echo '{\"config\":{}}' | ...",
        )
    try:
        command = Command.parse(line)
    except (ValueError, TypeError) as exc:
        return _refuse(out, f"{name}: the command line on stdin is not valid: {exc}", EXIT_USAGE)
    if command.command not in COMMANDS:
        return _refuse(
            out,
            f"{name}: unknown command '{command.command}'; known: {', '.join(COMMANDS)}",
            EXIT_USAGE,
        )
    if command.role and provider_class.role and command.role != provider_class.role:
        return _refuse(
            out,
            f"{name} is an {provider_class.role} provider but was started as the task's "
            f"{command.role}",
            EXIT_USAGE,
            hint=f"use it in the task's {provider_class.role} block",
        )
    task = command.task or os.environ.get(ENV_TASK)
    try:
        config = _bind(provider_class, command.config, name)
    except DstreamError as exc:
        return _refuse(out, exc.reason, exc.exit_code, hint=exc.hint)
    except Exception as exc:  # a bug in the config class (its validate()): as open()'s
        _log_failure("the config's validate()", exc)
        return _refuse(out, f"{name} could not start: {_reason(exc)}", EXIT_FAILURE)
    provider = provider_class(
        config, task=task, state=command.state, command=command.command, destroy=command.destroy
    )
    _tune_gc()
    _tune_allocator()
    return _run_loop(_serve(provider, out, rest, len(line) + 1))


def _tune_gc() -> None:
    """Frames are acyclic dicts and lists, yet each one counts towards the collector's
    default threshold of 700 allocations: collecting that often costs a quarter of the
    decode path's CPU. Collect 70 times less often, and never re-scan start-up objects."""
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


def _tune_allocator() -> None:
    """glibc hands freed heap back to the kernel as soon as 128 KiB sit free at its top,
    and a provider frees and re-grows its batch buffers many times a second: measured,
    a third of dstream-file's time went to brk(2) churn. Keep up to 32 MiB (never more
    than one batch holds) and grow in 8 MiB steps. Elsewhere: nothing to do.

    Setting those turns glibc's dynamic mmap threshold off, which would leave it where
    start-up happened to put it (128-204 KiB measured): every 1 MiB stdin chunk read
    past the heap's top then got a mapping of its own, read into fresh pages (a page
    fault per 4 KiB, +40 % of dstream-null's CPU behind dstream's pump). So the
    threshold is set too, above the chunks and what is joined from them
    (tests/sdk/test_stdin_reads.py)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's malloc.h
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(m_trim_threshold, 32 << 20)
        libc.mallopt(m_top_pad, 8 << 20)
        libc.mallopt(m_mmap_threshold, 4 * CHUNK_SIZE)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        pass


def _bind(provider_class: type[Provider[Any]], raw: dict[str, Any], name: str) -> object:
    config_class = provider_class.config_class
    if config_class is None:
        return raw
    return bind_config(config_class, raw, provider=name)


def _refuse(
    out: FrameWriter,
    message: str,
    code: int,
    hint: Optional[str] = None,
    field: Optional[str] = None,
) -> int:
    """The handshake's error status (dstream quotes `message`; `field`: the config key it
    is about, docs/protocol.md), also logged to stderr."""
    full = f"{message} ({hint})" if hint else message
    with contextlib.suppress(OSError):
        out.write(error_line(full, field))
    log.error(message, hint=hint) if hint else log.error(message)
    return code


def _run_loop(main: Coroutine[object, object, int]) -> int:
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return int(loop.run_until_complete(main))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            _ignore_stop_signals(loop)
            loop.close()


def _ignore_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    """The run is over and its exit code decided: a SIGTERM from here to the exit (the
    loop's teardown, atexit hooks, the interpreter's) has nothing left to stop, and by
    its default action would kill a provider that completed. Ignored, never passing
    through the default: closing the loop would restore it, so the loop's handler is
    replaced while the signal is blocked in this thread (the stdin reader thread could
    still take it in those few instructions: only a far smaller window)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no SIGTERM handler to remove
        return
    stops = {signal.SIGTERM, signal.SIGINT}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        for sig in stops:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
            with contextlib.suppress(ValueError, OSError):  # outside the main thread
                signal.signal(sig, signal.SIG_IGN)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


async def _serve(provider: Provider[Any], out: FrameWriter, rest: bytes, offset: int) -> int:
    if provider.command in LIFECYCLE_COMMANDS:
        return await _lifecycle(provider, out)
    try:
        await provider.open()
    except DstreamError as exc:  # its own words, with its hint: logged once, by the refusal
        name = provider.provider_name()
        about = exc.details.get(KEY_FIELD)
        return _refuse(
            out,
            f"{name} could not start: {exc}",
            EXIT_FAILURE,
            hint=exc.hint,
            field=about if isinstance(about, str) else None,
        )
    except Exception as exc:
        missing = missing_package(exc)  # one line naming the package, no traceback
        if missing is not None:
            return _refuse(out, str(missing), 2)
        _log_failure("open()", exc)
        return _refuse(out, f"{provider.provider_name()} could not start: {_reason(exc)}", 1)
    runner: Union[InputRun[Any], OutputRun[Any]]
    if isinstance(provider, InputProvider):
        notices = _commit_notices(rest) if provider.implements("on_commit") else None
        runner = InputRun(provider, out, notices)
    elif isinstance(provider, OutputProvider):
        runner = OutputRun(provider, out, StdinChunks(0, rest), start_offset=offset)
    else:
        raise TypeError("a provider subclasses InputProvider or OutputProvider")
    signals = _StopSignals(runner.stop)
    signals.install()  # before "ready": a SIGTERM right after it must still stop cleanly
    out.write(_ready(type(provider)))
    try:
        code = int(await runner.run())
    finally:
        try:
            await provider.close()
        except Exception:
            log.exception("close() failed")
            code = EXIT_FAILURE
        # Not uninstalled: the default action would kill the process on its way out
        # (_ignore_stop_signals takes over when the loop closes).
        signals.completed = True
    return code


def _ready(provider_class: type[Provider[Any]]) -> bytes:
    """The handshake of a command. The config schema is only in a probe's (above): a
    dstream older than it takes a ready line with keys it does not know for data."""
    return ready_line(provider_class.declared_features())


def _commit_notices(rest: bytes) -> StdinChunks:
    """Where commit notices arrive (contract section 4): the descriptor dstream names
    in DSTREAM_COMMIT_FD; without one (a container, an older dstream) stdin, which
    then stays open for them."""
    named = os.environ.get(ENV_COMMIT_FD, "")
    if named.isdigit():
        return StdinChunks(int(named))
    return StdinChunks(0, rest)


async def _lifecycle(provider: Provider[Any], out: FrameWriter) -> int:
    out.write(_ready(type(provider)))
    try:
        if provider.command == "plan":
            result = await provider.plan(destroy=provider.destroy_requested)
        else:
            result = await getattr(provider, provider.command)()
        if not isinstance(result, LifecycleResult):
            raise TypeError(
                f"{provider.command}() returned {type(result).__name__}, not LifecycleResult"
            )
    except Exception as exc:
        missing = missing_package(exc)
        if missing is None:
            _log_failure(f"{provider.command}()", exc)
        reason = str(missing) if missing is not None else _reason(exc)
        result = LifecycleResult(status="Failed", message=reason, error=reason)
    try:
        line = _result_line(result)
    except Exception as exc:  # still the one result line the contract promises
        what = f"{provider.command}() returned a result that cannot be written"
        log.exception(what)
        reason = f"{what}: {_reason(exc)}"
        result = LifecycleResult(status="Failed", message=reason, error=reason)
        line = result.to_line()
    out.write(line)
    return EXIT_FAILURE if result.status == "Failed" else EXIT_OK


def _result_line(result: LifecycleResult) -> bytes:
    # Accept Resource/Change objects as well as the dicts LifecycleResult declares.
    for name, kind in (("resources", Resource), ("changes", Change)):
        entries = getattr(result, name)
        if not isinstance(entries, list):
            raise TypeError(
                f"{name} must be a list of {kind.__name__} objects or dicts, "
                f"got {type(entries).__name__}"
            )
        setattr(result, name, [e.to_dict() if isinstance(e, kind) else e for e in entries])
    return encode_line(result.to_dict())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DstreamError):
        text = exc.one_line()
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    # A lone surrogate (a name decoded with surrogateescape) could not be written in
    # the status line that quotes it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _log_failure(what: str, exc: BaseException) -> None:
    """A failure the provider reports: an error it explains (DstreamError) is logged
    as its words; anything else, a bug, with its traceback."""
    if isinstance(exc, DstreamError):
        log.error(f"{what} failed", error=exc.one_line())
    else:
        log.exception(f"{what} failed")


class _StopSignals:
    """First SIGTERM/SIGINT: stop gracefully (flush, exit 0). Second: exit at once."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.on_stop = on_stop
        self.received = 0
        self.completed = False
        self.loop = asyncio.get_running_loop()

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not available on Windows, nor outside the main thread.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, self._handle, sig)

    def _handle(self, sig: int) -> None:
        if self.completed:  # nothing left to stop or to flush: the exit code stands
            log.info("stop signal after the run completed; exiting as it ended")
            return
        self.received += 1
        if self.received > 1:
            log.warning("second stop signal: exiting without flushing", signal=sig)
            os._exit(EXIT_INTERRUPTED)
        log.info("stop signal received; finishing", signal=signal.Signals(sig).name)
        self.on_stop()
