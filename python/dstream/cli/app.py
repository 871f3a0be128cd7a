"""Entry point of the `dstream` command.

Every command is a module exposing `add_arguments(parser)` and
`execute(args, view) -> int`, registered with its one-line help in COMMANDS below. Only the module
of the command being run is imported, so `dstream --help` stays fast. Every command
accepts `--json` (added here), and every DstreamError becomes a message plus an exit
code in one place (`_main`); a stdout whose reader left or that cannot be written is
one line and exit 1 (`stdout_lost`), a stderr whose reader left exit 1 and nothing said,
but a command a signal stopped keeps the signal's code (`_stream_lost`); anything else
is a crash report and exit 70 (`main`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

from dstream import hold_signals
from dstream.cli.entry import (
    Terminated,
    drop_stderr,
    drop_stdout,
    raise_deferred,
    resume_collector,
)
from dstream.cli.parsing import (
    Flag,
    FlagTable,
    HelpFormatter,
    Parser,
    RawDescriptionHelpFormatter,
    Reading,
    action_parsers,
    every_flag,
    flag_action,
    looks_like_flag,
    unknown_flags,
    where_listed,
)
from dstream.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    DstreamError,
    ExitCode,
    UsageError,
    nearest,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream.cli.parsing import Flags
    from dstream.cli.view import View

# name -> (module, one-line help). Order is the order of `dstream --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("dstream.cli.run", "run tasks: start their providers and stream"),
    "init": ("dstream.cli.init", "create the infrastructure a task needs"),
    "plan": ("dstream.cli.plan", "show what init (or destroy) would change"),
    "status": ("dstream.cli.status", "show a task's infrastructure and its state"),
    "destroy": ("dstream.cli.destroy", "remove the infrastructure a task created"),
    "lint": ("dstream.cli.lint", "check configuration files"),
    "fmt": ("dstream.cli.fmt", "rewrite .hcl files in the canonical layout (--check for CI)"),
    "list": ("dstream.cli.list", "list tasks and their providers"),
    "show": ("dstream.cli.show", "print a task fully evaluated, as JSON"),
    "state": ("dstream.cli.state", "show, set or reset a task's checkpoint"),
    "agent": ("dstream.cli.agent", "run this host's share of the tasks (postgres leases)"),
    "deploy": ("dstream.cli.deploy", "render Kubernetes manifests for the tasks"),
    "runs": ("dstream.cli.runs", "list past runs of tasks: start, end, envelopes, result"),
    "providers": ("dstream.cli.providers", "pull, push, list and inspect OCI providers"),
    "provider": ("dstream.cli.provider", "scaffold and conformance-test a provider"),
    "version": ("dstream.cli.version", "print versions of dstream, its core and protocol"),
    "completion": ("dstream.cli.completion", "print a bash, zsh or fish completion script"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dstream",
        description="Terraform for data streaming. Configuration: ./dstream.hcl, "
        "-c FILE|DIR, or $DSTREAM_CONFIG.",
        formatter_class=RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun `dstream COMMAND --help` (or `dstream help COMMAND`) for a command's "
        "options.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return parser


def add_global_arguments(parser: Flags, *, json: bool = True) -> None:
    """The flags every command accepts (before or after its name); `json`: --json too,
    which every command takes but one whose output is no document (`takes_json`)."""
    if json:
        _add_json_argument(parser)
    _add_logging_arguments(parser)


def _add_json_argument(parser: Flags) -> argparse.Action:
    return parser.add_argument("--json", action="store_true", help="print one JSON document")


def _add_logging_arguments(parser: Flags, *, keep_earlier: bool = False) -> list[argparse.Action]:
    """-l, -f, -t (their actions); `keep_earlier` on an action's own parser (`providers
    list -l debug`), so that it keeps what the command's parser read before the action."""
    unset = argparse.SUPPRESS if keep_earlier else None
    level = parser.add_argument(
        "-l",
        "--log-level",
        default=unset,
        help="debug, info, warning, error (default: $DSTREAM_LOG_LEVEL or info)",
    )
    format_ = parser.add_argument(
        "-f",
        "--log-format",
        choices=("text", "json"),
        default=unset,
        help="default: $DSTREAM_LOG_FORMAT or text",
    )
    # The original declared -t/--log-time and never read it: accepted, so its users'
    # scripts keep working, and said to have no effect (in _main).
    time = parser.add_argument(
        "-t",
        "--log-time",
        action="store_true",
        default=unset or False,
        help="no effect (the original's flag)",
    )
    return [level, format_, time]


def load_command(name: str) -> Any:  # a command module: add_arguments and execute
    return importlib.import_module(COMMANDS[name][0])


def takes_json(module: object) -> bool:
    """Whether a command module takes --json: all do but one saying TAKES_JSON = False."""
    return bool(getattr(module, "TAKES_JSON", True))


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    help_ = COMMANDS[name][1]
    module = load_command(name)
    parser = Parser(prog=f"dstream {name}", description=help_, formatter_class=HelpFormatter)
    add_command_arguments(parser, module)
    return parser, module


def add_command_arguments(parser: argparse.ArgumentParser, module: Any) -> None:
    """What the command `module` takes, on its `parser`: the global flags, the module's
    own arguments, and the log flags again on each of its actions' parsers (`providers
    list -l debug`). The completion script is made from the same (cli/completion.py)."""
    add_global_arguments(parser, json=takes_json(module))
    module.add_arguments(parser)
    for sub in action_parsers(parser).values():
        _add_logging_arguments(sub, keep_earlier=True)


class GlobalFlags:
    """The flags every command takes before its name too, as the original did (docs/
    cli.md, "Global flags"), defined by the functions that add them to the commands'
    parsers: the log flags (every command's parser has them, and each of its actions'
    too: they go right after the command's name), --json, and the config flag
    (flags.add_config_flag). Made once, and only when a flag is written before the
    command (`global_flags`)."""

    def __init__(self) -> None:
        from dstream.cli.flags import add_config_flag

        self.table = FlagTable()
        self.logging = _add_logging_arguments(self.table)
        _add_json_argument(self.table)
        self.config = add_config_flag(self.table)


@functools.cache
def global_flags() -> GlobalFlags:
    return GlobalFlags()


# Commands that read no configuration: a -c before them is ignored, as Terraform's
# commands that need no directory ignore -chdir. Any other command without -c (fmt,
# which formats the PATHs it is given) refuses it: ignored, it would act elsewhere.
IGNORE_CONFIG = ("version", "completion", "providers", "provider")


def split_global_flags(argv: list[str]) -> tuple[list[Flag], list[str]]:
    """The global flags written before the command, each with its value, and the rest
    (from the first word that is none: the command, or a flag that is no global one,
    which `_command_line` refuses)."""
    if not argv or not looks_like_flag(argv[0]):  # the command comes first: nothing to read
        return [], argv
    flags: list[Flag] = []
    end = 0
    for flag in Reading(global_flags().table, argv, COMMANDS).flags:
        if flag.action is None or flag.attached:  # each global flag is written alone
            break
        if flag.value_missing:
            raise UsageError(
                f"argument {flag.name}: expected one argument",
                hint="`dstream --help` lists the flags",
            )
        flags.append(flag)
        end += len(flag.words)
    return flags, argv[end:]


def place_global_flags(
    parser: argparse.ArgumentParser, argv: list[str], flags: list[Flag]
) -> list[str]:
    """The arguments of the command `argv` names, with the global `flags` written before
    it: `dstream -l debug -c x.hcl run t` is `dstream run t -l debug -c x.hcl`. Each
    moves where the command's parser reads it: the log flags right after the command
    name (every command's own parser has them), --config and --json at the end (where
    `state list` and `providers ...` actions read them). A -c before a command that
    reads no configuration is dropped; a flag before a command that cannot take it
    otherwise is a UsageError naming both."""
    name = argv[0]
    known = global_flags()
    logging_flags: list[str] = []
    trailing: list[str] = []
    reader = _trailing_reader(parser, argv[1:])
    for flag in flags:
        if flag.action in known.logging:
            logging_flags.extend(flag.words)
        elif reader is None:  # no action named: the parser says so, not "invalid choice"
            continue
        elif _reads(reader, flag):
            trailing.extend(flag.words)
        elif flag.action is known.config and name in IGNORE_CONFIG:
            _check_ignored(name, flag)
        else:
            raise UsageError(
                f"`dstream {name}` does not take {flag.name}",
                hint=f"leave {flag.name} out; {where_listed(f'dstream {name}')}",
            )
    return [*logging_flags, *argv[1:], *trailing]


def _trailing_reader(
    parser: argparse.ArgumentParser, words: list[str]
) -> Optional[argparse.ArgumentParser]:
    """The parser that reads the end of the command line: the action's for a command
    with actions (`state list`), None when it names none (the parser refuses that)."""
    actions = action_parsers(parser)
    if not actions:
        return parser
    at = Reading(parser, words).action
    return None if at is None else actions.get(words[at])


def _reads(parser: argparse.ArgumentParser, flag: Flag) -> bool:
    """Whether `parser` takes the global `flag` as the command's own: a flag of that
    name for the same setting (`provider test --config` is another one's)."""
    action = flag_action(parser, flag.name)
    return action is not None and flag.action is not None and action.dest == flag.action.dest


def _check_ignored(name: str, flag: Flag) -> None:
    """A flag dropped before a command that does not read it is checked all the same, by
    its own type, as every flag is (docs/cli.md)."""
    convert = flag.action.type if flag.action is not None else None
    value = flag.words[1] if len(flag.words) > 1 else flag.words[0].partition("=")[2]
    try:
        if callable(convert):
            convert(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(
            f"argument {flag.name}: {exc}", hint=where_listed(f"dstream {name}")
        ) from None


def main(argv: Optional[list[str]] = None) -> int:
    """The error boundary: a DstreamError is a message and its exit code (in _main); a
    standard stream nobody reads or that cannot be written, at most one line and exit 1
    or a stopped command's signal's code (`_stream_lost`); any other exception is a
    bug: one line naming a crash report, exit 70. That includes an
    exception that ended any other thread (a task's, a pipe reader's): the command's own
    exit status cannot be trusted after it."""
    import threading

    crashed: list[BaseException] = []

    def record(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            crashed.append(args.exc_value)

    threading.excepthook = record
    words = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in words  # before the arguments are parsed: as written
    try:
        raise_deferred()  # a signal that came while the command started ends it here
        code = _main(words)
        if crashed:
            raise crashed[0]
        return code
    except KeyboardInterrupt as exc:  # before the command's own boundary was up (parsing)
        hold_signals()  # to the end: a second one (a double Ctrl-C) would break it off
        from dstream.cli.view import View

        view = View(json=wants_json)
        try:
            return _interrupted(exc, view)
        except OSError as failed:  # its error block cannot be written
            return _stream_failed(failed, view)
    except OSError as exc:
        return _os_error(exc, wants_json)
    except Exception as exc:
        return _crashed(exc, wants_json)


def _os_error(exc: OSError, wants_json: bool) -> int:
    """An OSError at the boundary: no bug when a standard stream failed (`_stream_lost`),
    else a bug's crash report."""
    code = _stream_lost(exc)
    return _crashed(exc, wants_json) if code is None else code


# The exit codes of a command a signal stopped (docs/cli.md, "Exit codes").
SIGNAL_CODES = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)


def _stream_lost(exc: OSError, decided: Optional[int] = None) -> Optional[int]:
    """The exit code of a command stopped by a standard stream that failed (`exc`), from
    the one it had decided before its last words (`decided`); None when no standard
    stream failed. stdout's reader left (`| head`: a BrokenPipeError) or stdout cannot
    be written (`> /dev/full`): one line, and exit 1 or the command's own code
    (`stdout_lost`). stderr's reader left: nothing said (nothing can be: what stderr
    still holds is dropped, what stdout holds is written), and exit 1, but for a command
    a signal stopped, which keeps the signal's code: it was stopped, not failed by
    dstream, and the code is what a scheduler reads (`2>&1 | tee log`, tee killed by the
    same Ctrl-C). Which pipe broke is asked of the streams, not read from the error: a
    BrokenPipeError from a provider's pipe or a socket that a bug let through is that
    bug's."""
    own = EXIT_FAILURE if decided is None else decided
    if isinstance(exc, BrokenPipeError):
        if _reader_left(sys.stdout):
            return stdout_lost(own)
        if _reader_left(sys.stderr):
            drop_stderr()
            return decided if decided in SIGNAL_CODES else EXIT_FAILURE
    elif _stdout_failing():
        return stdout_lost(own, exc)
    return None


def _stream_failed(exc: OSError, view: View) -> int:
    """The exit code of a command whose output failed on the way (`exc`: `_stream_lost`,
    from the code `view` says it had decided), what stdout still holds written first if
    it can be; `exc` raised again when no standard stream failed (a bug's)."""
    _release_quietly(view)
    code = _stream_lost(exc, view.exit_code)
    if code is None:
        raise exc
    return code


def _reader_left(stream: object) -> bool:
    """Whether `stream` is a pipe or socket whose reader has left: a write to it fails
    with EPIPE, and its descriptor polls as failed (a pipe) or hung up (a socket)."""
    import select

    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # none, closed, or no descriptor
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _crashed(exc: BaseException, wants_json: bool) -> int:
    """A bug: one line naming a crash report, exit 70."""
    try:
        from dstream.cli import crash

        return crash.report(exc, json=wants_json)
    except Exception:  # the report itself failed: still one line, still 70
        print(f"error: internal error ({type(exc).__name__})", file=sys.stderr)
        return ExitCode.INTERNAL


def _stdout_failing() -> bool:
    """Whether stdout fails (an OSError from elsewhere is a bug). A buffered stdout keeps
    what it could not write, and a flush meets its error again; an unbuffered one
    (PYTHONUNBUFFERED) keeps nothing, but a device that refuses every write (/dev/full)
    refuses an empty one too."""
    try:
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), b"")
    except OSError:
        return True
    except ValueError:  # closed: cli/entry.py reopens a closed one, so not stdout's
        return False
    return False


def _main(words: list[str]) -> int:
    try:
        flags, argv = _command_line(words)
    except UsageError as exc:
        return _usage_error(exc, json="--json" in words)
    if not argv or argv[0] in ("-h", "--help", "help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    name = argv[0]
    parser, module = build_parser(name)
    from dstream.cli.view import View

    try:
        args = parser.parse_args(place_global_flags(parser, argv, flags))
    except DstreamError as exc:  # Parser.error's, a converter's (cli/flags.py), a flag's place
        return _usage_error(exc, json=takes_json(module) and "--json" in words)
    view = View(json=getattr(args, "json", False))
    # The start is over, unless it goes on inside `execute`: such a command module says
    # so and turns the collector back on itself (cli/entry.py).
    if not getattr(module, "RESUMES_COLLECTOR", False):
        resume_collector()
    try:
        code = _execute(module, args, view)
    except OSError as exc:  # a standard stream that failed, or a bug's (raised again)
        return _stream_failed(exc, view)
    except BaseException:  # a bug's: what the command printed before it is kept
        _release_quietly(view)
        raise
    try:
        view.release()  # its output, written at once (cli/view.py HeldStream)
    except BrokenPipeError:  # its reader left, now or before a write to stderr
        return stdout_lost(code)
    except OSError as exc:  # it cannot be written (a full disk)
        return stdout_lost(code, exc)
    return code


def _release_quietly(view: View) -> None:
    """Write what stdout holds on the way to a crash report, which is what is said: a
    stdout that fails then is no second error."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        view.release()


def _execute(module: Any, args: argparse.Namespace, view: View) -> int:
    """Run the command: its exit code, its errors said by `view`."""
    from dstream import logs

    try:
        logs.setup(args.log_level, args.log_format)
        logs.log.before = view.before_stderr  # stdout's held text before a log line
        if args.log_time:
            logs.log.warning(
                "-t/--log-time has no effect: dstream's text log carries no time; "
                "--log-format json gives every record a time"
            )
        return int(module.execute(args, view) or 0)
    except DstreamError as exc:
        view.error(exc)
        return exc.exit_code
    except ImportError as exc:  # a package not installed (extras.py): one line
        from dstream.extras import missing_package

        missing = missing_package(exc)
        if missing is None:
            raise
        view.error(missing)
        return missing.exit_code
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM (Terminated)
        hold_signals()  # to the end: a second one (a double Ctrl-C) would break it off
        return _interrupted(exc, view)


def _command_line(words: list[str]) -> tuple[list[Flag], list[str]]:
    """The global flags written before the command, and the command line from the
    command on (`help run` is `run --help`, `--version` is `version`); a UsageError when
    there is no command after the flags, or no command of that name."""
    flags, argv = split_global_flags(words)
    if argv[:1] == ["help"] and len(argv) > 1 and not argv[1].startswith("-"):
        # cobra's `dstream help run`, as the original had it: `dstream run --help`
        argv = [*argv[1:], "--help"]
        _known_command(argv[0], "dstream help")
    if flags and not argv:
        raise UsageError(
            "no command given, only global flags",
            hint="put the command after them, e.g. `dstream -c dstream.hcl run`; "
            "`dstream --help` lists the commands",
        )
    if argv[:1] == ["--version"]:
        argv = ["version", *argv[1:]]
    if argv and argv[0] not in ("-h", "--help", "help"):
        if looks_like_flag(argv[0]):
            raise _flag_before_command(argv)
        _known_command(argv[0], "dstream")
    return flags, argv


def _flag_before_command(argv: list[str]) -> UsageError:
    """`argv[0]`, a flag before the command that is no global flag (split_global_flags
    took those): an unknown flag, whose hint is about the command's flags too when a
    command is named after it (`--state-d /tmp runs` may mean `--state-dir`, which goes
    after the command)."""
    table = global_flags().table
    top = every_flag([table, _top_parser()])
    at = Reading(table, argv, COMMANDS).action
    if at is None or argv[at] not in COMMANDS:
        return unknown_flags(argv[:1], prog="dstream", flags=top)
    parser, _ = build_parser(argv[at])
    later = every_flag([parser, *action_parsers(parser).values()])
    return unknown_flags(argv[:1], prog=parser.prog, flags=top, later=later, where="command")


def _usage_error(exc: DstreamError, *, json: bool) -> int:
    """A mistake on the command line, found before the command runs: one error block,
    or with --json one document, as every other error."""
    from dstream.cli.view import View

    View(json=json).error(exc)
    return exc.exit_code


# Terraform's commands a Terraform user reaches for, and dstream's that do that.
TERRAFORM_TWINS = {"validate": "lint", "apply": "init", "refresh": "status"}


def _known_command(name: str, prefix: str) -> None:
    """A UsageError when `name` is none of COMMANDS, with the one it may have meant."""
    if name in COMMANDS:
        return
    guess = TERRAFORM_TWINS.get(name) or nearest(name, COMMANDS)
    hint = f"did you mean `{prefix} {guess}`?" if guess else "run `dstream --help`"
    raise UsageError(f"unknown command {name!r}", hint=hint)


def _interrupted(exc: KeyboardInterrupt, view: View) -> int:
    """The one error block (one JSON document with --json) of a command a signal
    stopped, and its exit code: 143 for SIGTERM, 130 for SIGINT."""
    terminated = isinstance(exc, Terminated)
    name = "SIGTERM" if terminated else "SIGINT"
    code = ExitCode.TERMINATED if terminated else EXIT_INTERRUPTED
    view.exit_code = code  # decided: kept if its error block cannot be written
    view.error(DstreamError(f"interrupted by {name}", hint="run the command again to finish it"))
    return code


# What a command whose stdout nobody reads any more says (docs/cli.md).
STDOUT_LOST = "error: stdout is closed or its reader left: the output was not all written"


def stdout_unwritable(exc: OSError) -> str:
    """What a command says whose stdout failed otherwise (`> /dev/full`)."""
    return f"error: cannot write stdout ({exc.strerror or exc}): the output was not all written"


def stdout_lost(code: int, exc: Optional[OSError] = None) -> int:
    """A write to stdout failed as nobody reads it (`| head`; `>&-`, which cli/entry.py
    makes the same) or as it cannot be written (`exc`: a full disk): no bug and no
    traceback, but the output is lost, so the command did not do its job: one line on
    stderr says so, once, and it exits 1, or with its own failure's code. What is still
    buffered for stdout is dropped."""
    if drop_stdout():
        line = STDOUT_LOST if exc is None else stdout_unwritable(exc)
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr is gone too: the exit code says it
            pass
    return EXIT_FAILURE if code == EXIT_OK else code


def run() -> None:
    """The `dstream` command, once cli/entry.py has started it (the console script, or
    `python -m dstream.cli.app`, below): run, then exit with its code."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's after --help, whose text _exit still flushes
        if not isinstance(exc.code, (int, type(None))):
            raise
        code = exc.code or 0
    _exit(code)


def _exit(code: int) -> None:
    """Exit as soon as the command is done. The interpreter's teardown (a last garbage
    collection, freeing every module) costs ~13 ms and does nothing a user sees, so it
    is skipped: the streams are flushed and the atexit handlers run here. When a
    non-daemon thread still runs, or a stream cannot be flushed (but for a stdout or a
    stderr nobody reads: `stdout_lost`, `_stderr_flushed`), the ordinary exit keeps its
    usual behaviour (waiting for the thread, reporting the error)."""
    import atexit
    import os
    import threading

    try:
        sys.stdout.flush()
    except BrokenPipeError:  # nobody reads it (`| head`, `>&-`): said in one line
        code = stdout_lost(code)
    except OSError as exc:  # it cannot be written (a full disk): said in one line
        code = stdout_lost(code, exc)
    except ValueError:
        sys.exit(code)
    if not _stderr_flushed():
        sys.exit(code)
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:  # the handlers (logging's, for one) may have written more
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _stderr_flushed() -> bool:
    """Whether what stderr holds is written, or dropped as its reader left: dstream's
    log lines written while it was gone wait in its buffer (the log says nothing where
    nothing can be said, logs.py), and the interpreter's last flush would fail on them
    and make any exit code 120. False when it cannot be written otherwise (the ordinary
    exit reports that)."""
    try:
        sys.stderr.flush()
    except BrokenPipeError:
        if not _reader_left(sys.stderr):
            return False
        drop_stderr()
    except (OSError, ValueError):
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    # `python -m dstream.cli.app`: started as the console script is, by the one function
    # that does it; the command then runs from this module imported as dstream.cli.app.
    from dstream.cli.entry import run as start

    start(warm=False)
