"""The command line's parser: argparse's, with a mistake on the command line a
UsageError like any other, flags written in full (an abbreviation is an unknown flag,
said first, with the flag it may have meant), and help sized to the terminal. The
commands, their global flags and the error boundary are cli/app.py's."""

from __future__ import annotations

import argparse
import os
import sys

from dstream.errors import UsageError, nearest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, NoReturn, Optional

    from _typeshed import SupportsWrite


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
    place as every other error (`_main`). Its sub-commands' parsers are of this class too.

    Flags are written in full, as Terraform's are: argparse took a prefix of one flag
    for that flag, and `run --reset` was the destructive `--reset-state`. An unknown
    flag's hint names the flag it may have meant instead (`unknown_flags`), and it is
    said before argparse's other complaints (`parse_known_args`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def _get_option_tuples(self, option_string: str) -> list[tuple[Any, ...]]:
        # The flags a word that is none may stand for. argparse before gh-104860's fix
        # (3.13.0 and older 3.12 still have it) leaves a single-dash flag's prefixes on
        # under allow_abbrev=False (`fmt -c` was `-check`, `plan -detailed`
        # `-detailed-exitcode`): only a single-letter flag with its value attached
        # (`-ldebug`) or others after it (`-qt`) is kept. Remove when requires-python
        # passes it.
        found = super()._get_option_tuples(option_string)
        return [option for option in found if option[1] == option_string[:2]]

    def parse_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> argparse.Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            parser = _chosen_action(self, parsed)
            flags = [*parser._option_string_actions, *self._option_string_actions]
            raise unknown_flags(unknown, prog=parser.prog, flags=flags)
        return parsed

    def parse_known_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # argparse says what is required, or that a word is no action, before it looks
        # at what it did not recognise (and the value of an unknown flag before the
        # action is taken for the action): an unknown flag is said first, with its hint,
        # here, where each parser (an action's too) reads its own words.
        words = list(sys.argv[1:] if args is None else args)
        try:
            return super().parse_known_args(words, namespace)
        except UsageError:
            unknown = self._unknown_flags(words)
            if not unknown:
                raise
            actions = subcommands(self)
            later = [] if actions is None else every_flag(actions.choices.values())
            raise unknown_flags(
                unknown, prog=self.prog, flags=list(self._option_string_actions), later=later,
                where="action",
            ) from None  # fmt: skip

    def _unknown_flags(self, words: list[str]) -> list[str]:
        """The words argparse reads as flags this parser does not have; for a parser
        with actions, those before the action (the words after it are the action's)."""
        actions = subcommands(self)
        unknown: list[str] = []
        value_next = False
        for word in words:
            if word == "--":
                break
            if value_next:
                value_next = False
                continue
            if not looks_like_flag(word):
                if actions is not None:
                    break
                continue
            flag, eq, _ = word.partition("=")
            action = self._option_string_actions.get(flag)
            if action is not None:
                value_next = not eq and action.nargs != 0
            elif not self._get_option_tuples(word):  # not `-ldebug` or `-qt` either
                unknown.append(word)
        return unknown

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=where_listed(self.prog))

    def _print_message(self, message: str, file: Optional[SupportsWrite[str]] = None) -> None:
        # argparse's hides a failed write: help nobody read would end in exit 0.
        if message:
            (file or sys.stderr).write(message)


def where_listed(prog: str) -> str:
    """The hint of a usage error: where the flags of the parser named `prog` are."""
    return f"`{prog} --help` lists what it takes"


def looks_like_flag(word: str) -> bool:
    """Whether argparse reads `word` as a flag, known or not (as its _parse_optional
    does: our parsers have no flag that looks like a negative number; `--` ends the
    flags)."""
    if len(word) < 2 or not word.startswith("-") or " " in word or word == "--":
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def unknown_flags(
    unknown: list[str], *, prog: str, flags: list[str], later: Sequence[str] = (), where: str = ""
) -> UsageError:
    """The usage error of the flags `unknown` a parser (`prog`, which has `flags`) does
    not take. Its hint is about the first it can say something of: a flag taken only
    after the `where` that follows (the command, the action: `later`), else the flags
    it begins or the nearest one (`_meant`); then where the flags are listed."""
    listed = where_listed(prog)
    hint = listed
    for word in unknown:
        flag = word.partition("=")[0]
        if flag in later:
            hint = f"{flag} goes after the {where}; {listed}"
            break
        meant = _meant(flag, list(dict.fromkeys([*flags, *later])))
        if meant:
            hint = f"{meant} {listed}"
            break
    return UsageError(f"unrecognized arguments: {' '.join(unknown)}", hint=hint)


def every_flag(parsers: Iterable[argparse.ArgumentParser]) -> list[str]:
    """The flags of all `parsers` (a command's actions), each once."""
    return list(dict.fromkeys(flag for parser in parsers for flag in parser._option_string_actions))


def subcommands(
    parser: argparse.ArgumentParser,
) -> Optional[argparse._SubParsersAction[argparse.ArgumentParser]]:
    """The action that chooses among `parser`'s sub-parsers (a command's actions, `state
    show`; completion's commands), None when it has none. argparse keeps it only among
    its private `_actions`: this is the one place that looks there for it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _chosen_action(parser: Parser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the action `parsed` names (`state show`), else `parser` itself."""
    actions = subcommands(parser)
    if actions is not None:
        name = getattr(parsed, actions.dest, None)
        if isinstance(name, str) and name in actions.choices:
            return actions.choices[name]
    return parser


def _meant(word: str, flags: list[str]) -> str:
    """What an unknown flag may have meant ("" when nothing is near): the flags it is the
    beginning of (an abbreviation), else the nearest one (a misspelling). A lone
    `-x` is no abbreviation: `fmt -c` is the config flag fmt does not take."""
    if not word.startswith("-"):
        return ""
    began = [flag for flag in flags if flag.startswith(word)] if len(word) > 2 else []
    if began:
        named = [f"`{flag}`" for flag in began]
        listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
        return f"did you mean {listed}? flags are written in full;"
    guess = nearest(word, flags)
    return f"did you mean `{guess}`?" if guess else ""
