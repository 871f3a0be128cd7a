"""The flags every command takes, and where those written before the command's name go.

Every command's parser has the log flags and --json (`add_global_arguments`), and every
command takes them, with -c, before its name too, as Terraform's global options go
(docs/cli.md, "Global flags"): `dstream -l debug -c x.hcl run t` is `dstream run t -l
debug -c x.hcl`. They are read, and `dstream --help` lists them, from the functions that
add them to the parsers (`add_every_global_flag`), never typed again.
"""

from __future__ import annotations

import argparse
import functools

from dstream.cli.parsing import (
    FlagTable,
    Reading,
    action_parsers,
    flag_action,
    looks_like_flag,
    where_listed,
)
from dstream.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container
    from typing import Optional

    from dstream.cli.parsing import Flag, Flags


def add_global_arguments(parser: Flags, *, json: bool = True) -> None:
    """The flags every command accepts (before or after its name); `json`: --json too,
    which every command takes but one whose output is no document (`takes_json`)."""
    if json:
        add_json_argument(parser)
    add_logging_arguments(parser)


def add_json_argument(parser: Flags, *, keep_earlier: bool = False) -> argparse.Action:
    """--json; `keep_earlier` on an action's own parser (`state show t --json` as well as
    `state --json show t`): SUPPRESS keeps it from overwriting what the command read."""
    from dstream.cli.flags import JSON_FLAGS

    default = argparse.SUPPRESS if keep_earlier else False
    return parser.add_argument(
        *JSON_FLAGS, action="store_true", default=default, help="print one JSON document"
    )


def add_logging_arguments(parser: Flags, *, keep_earlier: bool = False) -> list[argparse.Action]:
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
    # scripts keep working, and said to have no effect (cli/app.py `_execute`).
    time = parser.add_argument(
        "-t",
        "--log-time",
        action="store_true",
        default=unset or False,
        help="no effect (the original's flag)",
    )
    return [level, format_, time]


def cobra_switches(words: list[str]) -> list[str]:
    """The original's -t/--log-time written with a value, as cobra took it
    (`--log-time=true`, `-t=false`), wherever it is written (before the command too): as
    the bare switch, or nothing for false. argparse refused it ("ignored explicit
    argument") or read `-t=false` as -t and `-f alse`. Any other value is the parser's
    to refuse (parsing.written_switches)."""
    from dstream.cli.flags import SWITCH_VALUES

    out: list[str] = []
    for word in words:
        name, equals, value = word.partition("=")
        if equals and name in ("-t", "--log-time") and value in SWITCH_VALUES:
            if SWITCH_VALUES[value]:
                out.append("--log-time")
            continue
        out.append(word)
    return out


class GlobalFlags:
    """The flags every command takes before its name too, as the original did (docs/
    cli.md, "Global flags"), defined by the functions that add them to the commands'
    parsers: the log flags (every command's parser has them, and each of its actions'
    too: they go right after the command's name), --json, and the config flag
    (flags.add_config_flag). Made once, and only when a flag is written before the
    command (`global_flags`)."""

    def __init__(self) -> None:
        self.table = FlagTable()
        self.config, self.logging = add_every_global_flag(self.table)


def add_every_global_flag(flags: Flags) -> tuple[argparse.Action, list[argparse.Action]]:
    """Every global flag, on `flags` (the table of `GlobalFlags`, or the section of
    `dstream --help` that lists them), in docs/cli.md's order: -c (its action), -l, -f,
    -t (their actions), --json."""
    from dstream.cli.flags import add_config_flag

    config = add_config_flag(flags)
    logging = add_logging_arguments(flags)
    add_json_argument(flags)
    return config, logging


@functools.cache
def global_flags() -> GlobalFlags:
    return GlobalFlags()


# Commands that read no configuration: a -c before them is ignored, as Terraform's
# commands that need no directory ignore -chdir. Any other command without -c (fmt,
# which formats the PATHs it is given) refuses it: ignored, it would act elsewhere.
IGNORE_CONFIG = ("version", "completion", "providers", "provider")


def split_global_flags(argv: list[str], commands: Container[str]) -> tuple[list[Flag], list[str]]:
    """The global flags written before the command (one of `commands`), each with its
    value, and the rest (from the first word that is none: the command, or a flag that
    is no global one, which cli/app.py `_command_line` refuses)."""
    if not argv or not looks_like_flag(argv[0]):  # the command comes first: nothing to read
        return [], argv
    flags: list[Flag] = []
    end = 0
    for flag in Reading(global_flags().table, argv, commands).flags:
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
    otherwise is a UsageError naming both. With no such flags, none of them is looked
    at (nor their table made: the start of every command)."""
    name = argv[0]
    if not flags:
        return argv[1:]
    known = global_flags()
    logging_flags: list[str] = []
    trailing: list[str] = []
    reader = _trailing_reader(parser, argv[1:])
    for flag in flags:
        action = flag.action
        assert action is not None, "split_global_flags keeps only the table's flags"
        if action in known.logging:
            logging_flags.extend(flag.words)
        elif reader is None:  # no action named: the parser says so, not "invalid choice"
            continue
        elif _reads(reader, flag.name, action):
            trailing.extend(flag.words)
        elif action is known.config and name in IGNORE_CONFIG:
            _check_ignored(name, flag, action)
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


def _reads(parser: argparse.ArgumentParser, flag: str, action: argparse.Action) -> bool:
    """Whether `parser` takes the global `flag` (of `action`) as the command's own: a
    flag of that name for the same setting (`provider test --config` is another one's)."""
    own = flag_action(parser, flag)
    return own is not None and own.dest == action.dest


def _check_ignored(name: str, flag: Flag, config: argparse.Action) -> None:
    """-c (of the action `config`), dropped before a command that reads no
    configuration, is checked all the same, by its own type, as every flag is
    (docs/cli.md)."""
    convert = config.type
    try:
        if callable(convert):  # argparse types it loosely (a name, None); -c's is a function
            convert(flag.value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(
            f"argument {flag.name}: {exc}", hint=where_listed(f"dstream {name}")
        ) from None
