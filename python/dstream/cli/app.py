"""Entry point of the `dstream` command.

Every command is a module exposing `add_arguments(parser)` and
`execute(args, view) -> int`, registered with its one-line help in COMMANDS below. Only the module
of the command being run is imported, so `dstream --help` stays fast. Every command
accepts `--json` and the log flags, and takes them with -c before its name too
(cli/globalflags.py), and every DstreamError becomes a message plus an exit code in one
place (`_main`); a standard stream that failed, or a bug, ends the command as
cli/boundary.py says (`main`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dstream import hold_signals
from dstream.cli import boundary
from dstream.cli.entry import (
    Terminated,
    raise_deferred,
    raise_dropped,
    resume_collector,
    settle_hangup,
    settle_stops,
)
from dstream.cli.globalflags import (
    add_every_global_flag,
    add_global_arguments,
    add_logging_arguments,
    cobra_switches,
    global_flags,
    place_global_flags,
    split_global_flags,
)
from dstream.cli.parsing import (
    HelpFormatter,
    Parser,
    RawDescriptionHelpFormatter,
    Reading,
    action_parsers,
    every_flag,
    looks_like_flag,
    unknown_flags,
)
from dstream.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    DstreamError,
    ExitCode,
    Interrupted,
    UsageError,
    nearest,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream.cli.parsing import Flag
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
    # As `terraform -help` lists its global options: from their one definition.
    about = "every command takes them before its name; its --help lists those it takes after"
    add_every_global_flag(parser.add_argument_group("global options", about))
    # argparse's usage of the flags, and the command after them: a positional argument
    # would be listed in a section of its own, which the commands' list below is.
    parser.usage = parser.format_usage().removeprefix("usage: ").rstrip() + " COMMAND ..."
    return parser


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
        add_logging_arguments(sub, keep_earlier=True)


def main(argv: Optional[list[str]] = None) -> int:
    """The error boundary: a DstreamError is a message and its exit code (in _main); a
    standard stream nobody reads or that cannot be written, at most one line and exit 1
    or a stopped command's signal's code (`boundary.stream_lost`); any other exception
    is a bug: one line naming a crash report, exit 70. That includes an exception that
    ended any other thread (a task's, a pipe reader's): the command's own exit status
    cannot be trusted after it."""
    import threading

    crashed: list[BaseException] = []

    def record(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            crashed.append(args.exc_value)

    threading.excepthook = record
    words = list(sys.argv[1:] if argv is None else argv)
    wants_json = _wants_json(words)  # before the arguments are parsed: as written
    try:
        raise_deferred()  # a signal that came while the command started ends it here
        code = _main(words)
        if crashed:
            raise crashed[0]
        return code
    except KeyboardInterrupt as exc:  # before the command's own boundary was up (parsing)
        hold_signals()  # to the end: a second one (a double Ctrl-C) would break it off
        from dstream.cli.view import View

        return _interrupted(exc, View(json=wants_json))
    except OSError as exc:
        return boundary.os_error(exc, wants_json)
    except Exception as exc:
        return boundary.crashed(exc, wants_json)


def _wants_json(words: list[str]) -> bool:
    from dstream.cli.flags import JSON_FLAGS, switched_on

    return any(switched_on(word, JSON_FLAGS) for word in words)


def _main(words: list[str]) -> int:
    try:
        flags, argv = _command_line(words)
    except UsageError as exc:
        return _usage_error(exc, json=_wants_json(words))
    if not argv or argv[0] in ("-h", "--help", "help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    name = argv[0]
    parser, module = build_parser(name)
    settle_hangup(getattr(module, "RELOADS", False))
    from dstream.cli.view import View

    try:
        args = parser.parse_args(place_global_flags(parser, argv, flags))
    except DstreamError as exc:  # Parser.error's, a converter's (cli/flags.py), a flag's place
        return _usage_error(exc, json=takes_json(module) and _wants_json(words))
    view = View(json=getattr(args, "json", False))
    # The start is over, unless it goes on inside `execute`: such a command module says
    # so and turns the collector back on itself (cli/entry.py).
    if not getattr(module, "RESUMES_COLLECTOR", False):
        resume_collector()
    try:
        code = _execute(module, args, view)
    except OSError as exc:  # a standard stream that failed, or a bug's (raised again)
        return boundary.stream_failed(exc, view, view.exit_code)
    except BaseException:  # a bug's: what the command printed before it is kept
        boundary.release_quietly(view)
        raise
    try:
        view.finish(code)  # a failed document gets its exit code
        view.release()  # its output, written at once (cli/view.py HeldStream)
    except BrokenPipeError:  # its reader left, now or before a write to stderr
        return boundary.stdout_lost(code)
    except OSError as exc:  # it cannot be written (a full disk)
        return boundary.stdout_lost(code, exc)
    return code


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
        # A stop signal whose exception Python dropped ends the command here, before it
        # does anything, or once it returns (never exit 0): cli/entry.py says when.
        settle_stops(getattr(module, "DRAINS", False))
        code = int(module.execute(args, view) or 0)
        raise_dropped()
        return code
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
    flags, argv = split_global_flags(cobra_switches(words), COMMANDS)
    if argv[:1] == ["help"]:
        more, argv = _help_command(argv[1:])
        flags = [*flags, *more]
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


def _help_command(words: list[str]) -> tuple[list[Flag], list[str]]:
    """cobra's `dstream help run`, as the original had it: `dstream run --help`; the
    words after `help` are `words`, global flags first (`help --json run`), which it
    returns apart. Alone, or of itself (`help help`), it is the top help; a command it
    does not know, or a flag no global one, is a UsageError (not the top help, exit 0)."""
    flags, rest = split_global_flags(words, COMMANDS)
    if not rest or rest[0] in ("help", "-h", "--help"):
        return flags, ["--help"]
    if looks_like_flag(rest[0]):
        raise _flag_before_command(rest)
    _known_command(rest[0], "dstream help")
    return flags, [*rest, "--help"]


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
    stopped, and its exit code: 143 for SIGTERM, 130 for SIGINT, kept when the block
    cannot be written (`boundary.stream_failed`)."""
    terminated = isinstance(exc, Terminated)
    name = "SIGTERM" if terminated else "SIGINT"
    stopped = Interrupted(f"interrupted by {name}", hint="run the command again to finish it")
    # The one place the code is decided: the error carries it, so the document's
    # `exit_code` and the process's agree.
    stopped.exit_code = ExitCode.TERMINATED if terminated else EXIT_INTERRUPTED
    try:
        view.error(stopped)
    except OSError as failed:  # a standard stream failed (or a bug's: raised again)
        return boundary.stream_failed(failed, view, stopped.exit_code)
    return stopped.exit_code


def run() -> None:
    """The `dstream` command, once cli/entry.py has started it (the console script, or
    `python -m dstream.cli.app`, below): run, then exit with its code."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's after --help, whose text exit_now still flushes
        if not isinstance(exc.code, (int, type(None))):
            raise
        code = exc.code or 0
    boundary.exit_now(code)


if __name__ == "__main__":  # pragma: no cover
    # `python -m dstream.cli.app`: started as the console script is, by the one function
    # that does it; the command then runs from this module imported as dstream.cli.app.
    from dstream.cli.entry import run as start

    start(warm=False)
