"""Entry point of the `dstream` command.

Every command is a module exposing `add_arguments(parser)` and
`execute(args, view) -> int`, registered with its one-line help in COMMANDS below. Only the module
of the command being run is imported, so `dstream --help` stays fast. Every command
accepts `--json` (added here), and every DstreamError becomes a message plus an exit
code in one place (`_main`); anything else is a crash report and exit 70 (`main`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dstream.cli.entry import resume_collector
from dstream.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    DstreamError,
    ExitCode,
    nearest,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn, Optional

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


def _columns() -> int:
    """`shutil.get_terminal_size().columns`: a positive $COLUMNS, else stdout's
    terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, its width found without importing shutil: argparse makes a formatter
    for every add_argument, and shutil (with its compression modules) is otherwise not
    needed on a run's path (issue 22)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: Optional[int] = None,
    ) -> None:
        width = _columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """argparse's, as HelpFormatter above."""


class Parser(argparse.ArgumentParser):
    """argparse's, but a mistake on the command line is a UsageError like any other: one
    error block with a hint (one JSON document with --json) and exit 2, from the same
    place as every other error (`_main`). Its sub-commands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        from dstream.errors import UsageError

        raise UsageError(message, hint=f"`{self.prog} --help` lists what it takes")


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def add_global_arguments(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """The flags every command accepts (before or after its name); `json`: --json too,
    which every command takes but one whose output is no document (`takes_json`)."""
    if json:
        parser.add_argument("--json", action="store_true", help="print one JSON document")
    _add_logging_arguments(parser)


def _add_logging_arguments(parser: argparse.ArgumentParser, *, keep_earlier: bool = False) -> None:
    """-l, -f, -t; `keep_earlier` on an action's own parser (`providers list -l debug`),
    so that it keeps what the command's parser read before the action."""
    unset = argparse.SUPPRESS if keep_earlier else None
    parser.add_argument(
        "-l",
        "--log-level",
        default=unset,
        help="debug, info, warning, error (default: $DSTREAM_LOG_LEVEL or info)",
    )
    parser.add_argument(
        "-f",
        "--log-format",
        choices=("text", "json"),
        default=unset,
        help="default: $DSTREAM_LOG_FORMAT or text",
    )
    # The original declared -t/--log-time and never read it: accepted, so its users'
    # scripts keep working, and said to have no effect (in _main).
    parser.add_argument(
        "-t",
        "--log-time",
        action="store_true",
        default=unset or False,
        help="no effect (the original's flag)",
    )


def load_command(name: str) -> Any:  # a command module: add_arguments and execute
    return importlib.import_module(COMMANDS[name][0])


def takes_json(module: object) -> bool:
    """Whether a command module takes --json: all do but one saying TAKES_JSON = False."""
    return bool(getattr(module, "TAKES_JSON", True))


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    help_ = COMMANDS[name][1]
    module = load_command(name)
    parser = Parser(prog=f"dstream {name}", description=help_, formatter_class=HelpFormatter)
    add_global_arguments(parser, json=takes_json(module))
    module.add_arguments(parser)
    for action in parser._actions:  # argparse lists a command's actions only here
        if isinstance(action, argparse._SubParsersAction):  # `providers list -l debug`
            for sub in action.choices.values():
                _add_logging_arguments(sub, keep_earlier=True)
    return parser, module


# Global flags the original accepted before the command too: name -> takes a value.
GLOBAL_FLAGS = {"-l": True, "--log-level": True, "-f": True, "--log-format": True,
                "-t": False, "--log-time": False, "-c": True, "--config": True,
                "--json": False}  # fmt: skip
# Those every command's own parser has (add_global_arguments), right after its name.
LOGGING_FLAGS = ("-l", "--log-level", "-f", "--log-format", "-t", "--log-time")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`dstream -l debug -c x.hcl run t` == `dstream run t -l debug -c x.hcl`: global
    flags written before the command move after it, where its parser reads them: the log
    flags right after the command name (every command's own parser has them), --config
    and --json at the end (where `state list` and `providers ...` sub-commands read them)."""
    logging_flags: list[str] = []
    trailing: list[str] = []
    i = 0
    while i < len(argv):
        flag, eq, _ = argv[i].partition("=")
        if flag not in GLOBAL_FLAGS:
            break
        width = 2 if GLOBAL_FLAGS[flag] and not eq else 1
        target = logging_flags if flag in LOGGING_FLAGS else trailing
        target.extend(argv[i : i + width])
        i += width
    if i == 0 or i >= len(argv):
        return argv
    return [argv[i], *logging_flags, *argv[i + 1 :], *trailing]


def main(argv: Optional[list[str]] = None) -> int:
    """The error boundary: a DstreamError is a message and its exit code (in _main); any
    other exception is a bug: one line naming a crash report, exit 70. That includes an
    exception that ended any other thread (a task's, a pipe reader's): the command's own
    exit status cannot be trusted after it."""
    import threading

    crashed: list[BaseException] = []

    def record(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            crashed.append(args.exc_value)

    threading.excepthook = record
    wants_json = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        code = _main(argv)
        if crashed:
            raise crashed[0]
        return code
    except KeyboardInterrupt as exc:  # before the command's own boundary was up (parsing)
        from dstream.cli.view import View

        return _interrupted(exc, View(json=wants_json))
    except Exception as exc:
        try:
            from dstream.cli import crash

            return crash.report(exc, json=wants_json)
        except Exception:  # the report itself failed: still one line, still 70
            print(f"error: internal error ({type(exc).__name__})", file=sys.stderr)
            return ExitCode.INTERNAL


def _main(argv: Optional[list[str]]) -> int:
    argv = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] == ["help"] and len(argv) > 1 and not argv[1].startswith("-"):
        # cobra's `dstream help run`, as the original had it: `dstream run --help`
        argv = [*argv[1:], "--help"]
        if argv[0] not in COMMANDS:
            return _unknown_command(argv[0], "dstream help")
    if not argv or argv[0] in ("-h", "--help", "help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    if argv[0] == "--version":
        argv[0] = "version"
    name = argv[0]
    if name not in COMMANDS:
        return _unknown_command(name, "dstream")
    parser, module = build_parser(name)
    from dstream import logs
    from dstream.cli.view import View

    try:
        args = parser.parse_args(argv[1:])
    except DstreamError as exc:  # Parser.error's, or a converter's (cli/flags.py)
        View(json=takes_json(module) and "--json" in argv).error(exc)
        return exc.exit_code
    view = View(json=getattr(args, "json", False))
    # The start is over, unless it goes on inside `execute`: such a command module says
    # so and turns the collector back on itself (cli/entry.py).
    if not getattr(module, "RESUMES_COLLECTOR", False):
        resume_collector()
    try:
        logs.setup(args.log_level, args.log_format)
        if args.log_time:
            logs.log.warning(
                "-t/--log-time has no effect: dstream's text log carries no time; "
                "--log-format json gives every record a time"
            )
        return int(module.execute(args, view) or 0)  # type: ignore[attr-defined]
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
        return _interrupted(exc, view)
    except BrokenPipeError:  # `dstream list | head`: the reader left, nothing to report
        return EXIT_FAILURE


# Terraform's commands a Terraform user reaches for, and dstream's that do that.
TERRAFORM_TWINS = {"validate": "lint", "apply": "init", "refresh": "status"}


def _unknown_command(name: str, prefix: str) -> int:
    """A command name that is none of COMMANDS: one error block, exit 2."""
    guess = TERRAFORM_TWINS.get(name) or nearest(name, COMMANDS)
    hint = f"did you mean `{prefix} {guess}`?" if guess else "run `dstream --help`"
    print(f"error: unknown command {name!r}\n  hint: {hint}", file=sys.stderr)
    return EXIT_USAGE


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt: a command ends on it as on
    Ctrl-C (what it started is stopped on the way out), with exit 143. `run` and `agent`
    put their own handlers in place once they take tasks (a drain), and back after."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _interrupted(exc: KeyboardInterrupt, view: View) -> int:
    """The one error block (one JSON document with --json) of a command a signal
    stopped, and its exit code: 143 for SIGTERM, 130 for SIGINT."""
    terminated = isinstance(exc, Terminated)
    name = "SIGTERM" if terminated else "SIGINT"
    view.error(DstreamError(f"interrupted by {name}", hint="run the command again to finish it"))
    return ExitCode.TERMINATED if terminated else EXIT_INTERRUPTED


def run() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # the console script's; not main()'s caller's
    _exit(main())


def _exit(code: int) -> None:
    """Exit as soon as the command is done. The interpreter's teardown (a last garbage
    collection, freeing every module) costs ~13 ms and does nothing a user sees, so it
    is skipped: the streams are flushed and the atexit handlers run here. When a
    non-daemon thread still runs, or a stream cannot be flushed, the ordinary exit
    keeps its usual behaviour (waiting for the thread, reporting the broken pipe)."""
    import atexit
    import os
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:  # the handlers (logging's, for one) may have written more
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
