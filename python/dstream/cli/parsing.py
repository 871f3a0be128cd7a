"""The command line's parser: argparse's, with a mistake on the command line a
UsageError like any other, flags written in full (an abbreviation is an unknown flag,
said first, with the flag it may have meant), and help sized to the terminal. What a
parser's flags are (`every_flag`, `flag_action`, `takes_value`), what arguments it
takes (`arguments`), its actions' parsers (`action_parsers`, `subcommands`) and which
word of a command line names its action (`Reading`) are each asked here, and only here,
of argparse (cli/completion.py's fish script is made from them; shtab, which writes
bash's and zsh's, reads the parsers itself). The commands are cli/app.py's, their global flags
cli/globalflags.py's, and the error boundary cli/app.py's and cli/boundary.py's."""

from __future__ import annotations

import argparse
import os
import sys

from dstream.cli.terraform import single_dash_words, terraform_only
from dstream.errors import UsageError, nearest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Iterable, Mapping, Sequence
    from typing import Any, NoReturn, Optional

    from _typeshed import SupportsWrite

    # What holds flags: a parser, or a FlagTable (below).
    Flags = argparse._ActionsContainer


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
            raise unknown_flags(unknown, prog=parser.prog, flags=every_flag([parser, self]))
        return parsed

    def parse_known_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # argparse says what is required, or that a word is no action, before it looks
        # at what it did not recognise (and the value of an unknown flag before the
        # action is taken for the action): an unknown flag is said first, with its hint,
        # here, where each parser (an action's too) reads its own words.
        words = list(sys.argv[1:] if args is None else args)
        # Terraform's flags dstream has not (cli/terraform.py), before argparse reads
        # `-lock=false` as `-l ock=false`.
        refused = terraform_only(single_dash_words(words), hint=where_listed(self.prog))
        if refused is not None:
            raise refused
        words = written_switches(self, words, prog=self.prog)
        try:
            return super().parse_known_args(words, namespace)
        except UsageError:
            # The flags before the action (the words after it are the action's).
            unknown = Reading(self, words).unknown()
            if not unknown:
                raise
            later = every_flag(action_parsers(self).values())
            raise unknown_flags(
                unknown, prog=self.prog, flags=every_flag([self]), later=later, where="action"
            ) from None

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=where_listed(self.prog))

    def _print_message(self, message: str, file: Optional[SupportsWrite[str]] = None) -> None:
        # argparse's hides a failed write: help nobody read would end in exit 0.
        if message:
            (file or sys.stderr).write(message)


def where_listed(prog: str) -> str:
    """The hint of a usage error: where the flags of the parser named `prog` are."""
    return f"`{prog} --help` lists what it takes"


def written_switches(parser: Flags, words: Sequence[str], *, prog: str) -> list[str]:
    """`words` with each of `parser`'s switches written with a value, as Terraform takes
    it (`-destroy=true`, `--json=false`: flags.SWITCH_VALUES), as argparse takes it: the
    bare switch for true, nothing for false (the switch is off). Any other value is a
    UsageError naming the switch as written. argparse refused every value ("ignored
    explicit argument"), and read `-destroy=true` as `-d estroy=true`'s cluster, blaming
    another flag (`-t/--log-time: ignored explicit argument 'rue'`). Words after `--`
    are no flags."""
    from dstream.cli.flags import SWITCH_VALUES

    end = words.index("--") if "--" in words else len(words)
    out: list[str] = []
    for word in words[:end]:
        name, equals, value = word.partition("=")
        action = flag_action(parser, name) if equals and word.startswith("-") else None
        if action is None or takes_value(action) or not isinstance(action.const, bool):
            out.append(word)
            continue
        on = SWITCH_VALUES.get(value)
        if on is None:
            raise UsageError(
                f"argument {name}: a switch is on or off: give {name}=true or "
                f"{name}=false, not {value!r}",
                hint=f"write {name} alone to turn it on, or leave it out; {where_listed(prog)}",
            )
        if on:
            out.append(name)
    return [*out, *words[end:]]


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
    refused = terraform_only(unknown, hint=listed)  # `--lock=false`, `-no-color run`
    if refused is not None:
        return refused
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
    return UsageError(f"unrecognized arguments: {_shown_unknown(unknown)}", hint=hint)


def _shown_unknown(unknown: list[str]) -> str:
    """The words a parser did not take, as a usage error may show them before the
    configuration says which values are secret: the flags, each value masked (`-var
    s=***`, `--flag=***`, as a crash report masks --var's), and a value's name; a bare
    word is only counted (a stray value: `--var a=1 b=2`'s second, `--env A=1 B=2`'s)."""
    from dstream.cli.crash import masked_var_words
    from dstream.config.redact import masked_assignment

    shown: list[str] = []
    for masked, word in masked_var_words(unknown):
        if masked or (word.startswith("-") and "=" not in word):
            shown.append(word)
        elif "=" in word:
            shown.append(masked_assignment(word))
    hidden = len(unknown) - len(shown)
    if not hidden:
        return " ".join(shown)
    words = "word" if hidden == 1 else "words"
    if not shown:
        return f"{hidden} {words}, not shown (a value may be secret)"
    return f"{' '.join(shown)}, and {hidden} more {words}, not shown (a value may be secret)"


# -- a parser's flags ----------------------------------------------------------------
# argparse keeps a parser's flags only in its private `_option_string_actions`, and its
# arguments in its private `_actions`: these are the places that look there.


def every_flag(parsers: Iterable[Flags]) -> list[str]:
    """The flags of all `parsers` (a parser and its actions', a command's actions), in
    their order, each once."""
    return list(dict.fromkeys(flag for parser in parsers for flag in parser._option_string_actions))


def flag_action(parser: Flags, flag: str) -> Optional[argparse.Action]:
    """The action of `flag` (as written, without its `=VALUE`) in `parser`; None when
    `parser` has no such flag."""
    return parser._option_string_actions.get(flag)


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every argument `parser` takes, in its order: its flags and its positional ones
    (the action that chooses among its sub-parsers too)."""
    return list(parser._actions)


def takes_value(action: argparse.Action) -> bool:
    """Whether a flag of `action` takes a value (`-c PATH`), rather than none (`--json`:
    argparse's store_true, store_const, count, help and version take none)."""
    return action.nargs != 0


class FlagTable(argparse._ActionsContainer):
    """Flags without a parser: what the functions that add flags to a parser define,
    read before any parser is built (cli/globalflags.py's global flags, written before the
    command). A parser costs more to make (argparse looks up the translations of its
    group titles: ~60 µs, on the start of every command that reads such a table)."""

    def __init__(self) -> None:
        super().__init__(
            description=None, prefix_chars="-", argument_default=None, conflict_handler="error"
        )
        self.register("type", None, _text)  # as ArgumentParser does: a flag's value is text


def _text(value: str) -> str:
    return value


# -- which word names the action --------------------------------------------------------


class Flag:
    """A flag as written on a command line: the words it takes (its value with it, when
    it takes one that is not attached with `=`), and its action in the parser that reads
    it: None when that has none (an unknown flag); for a single-letter flag with its
    value attached or others after it (`-ldebug`, `-qt`), that letter's (`attached`).
    `value_missing`: it takes a value and is the last word, without one."""

    __slots__ = ("action", "attached", "value_missing", "words")

    def __init__(
        self,
        words: list[str],
        action: Optional[argparse.Action] = None,
        *,
        attached: bool = False,
        value_missing: bool = False,
    ) -> None:
        self.words = words
        self.action = action
        self.attached = attached
        self.value_missing = value_missing

    @property
    def name(self) -> str:
        """The flag as written, without its `=VALUE`."""
        return self.words[0].partition("=")[0]

    @property
    def value(self) -> str:
        """Its value as written: the word after it, or what follows its `=` ("" when it
        has none, or takes none)."""
        return self.words[1] if len(self.words) > 1 else self.words[0].partition("=")[2]


class Reading:
    """The words of a command line as argparse reads them with one parser's flags, up
    to the word that names the parser's action (`action`: its index; None when no word
    does): every flag before it, in order (`flags`). The one answer to "which word is
    the action" (a command's, or the command, for the words before it) and "which word
    is a flag's value".

    `choices`: the names of the actions (by default the parser's own); a parser without
    actions has its flags read to the end (`--` ends them). argparse takes the first
    word that is neither a flag nor a flag's value for the action, whatever it is (an
    invalid choice is argparse's to say). A flag the parser does not have may take a
    value: the word after it is taken for that value unless it names an action
    (`--state-d /tmp runs`: `runs` is the command; `--js runs` too)."""

    def __init__(
        self,
        parser: Flags,
        words: Sequence[str],
        choices: Optional[Container[str]] = None,
    ) -> None:
        if choices is None and isinstance(parser, argparse.ArgumentParser):
            choices = action_parsers(parser) or None
        self.flags: list[Flag] = []
        self.action: Optional[int] = None
        i = 0
        while i < len(words):
            word = words[i]
            if word == "--":  # what follows is no flag: its first word, the action
                self.action = i + 1 if choices is not None and i + 1 < len(words) else None
                return
            if not looks_like_flag(word):
                if choices is not None:
                    self.action = i
                    return
                i += 1
                continue
            flag = _read_flag(parser, words, i, choices)
            self.flags.append(flag)
            i += len(flag.words)

    def unknown(self) -> list[str]:
        """The flags the parser does not have, as written (`--bogus=1`)."""
        return [flag.words[0] for flag in self.flags if flag.action is None]


def _read_flag(
    parser: Flags, words: Sequence[str], at: int, choices: Optional[Container[str]]
) -> Flag:
    """The flag written at `words[at]`, with the words it takes."""
    word = words[at]
    name, eq, _ = word.partition("=")
    last = at + 1 == len(words)
    action = flag_action(parser, name)
    if action is not None:
        value_next = takes_value(action) and not eq
        if value_next and last:
            return Flag([word], action, value_missing=True)
        return Flag(list(words[at : at + (2 if value_next else 1)]), action)
    # `-ldebug` is `-l debug` and `-qt` is `-q -t`, as argparse reads a word that begins
    # with a single-letter flag (Parser._get_option_tuples): not unknown.
    letter = None if word.startswith("--") else flag_action(parser, word[:2])
    if letter is not None:
        return Flag([word], letter, attached=True)
    following = None if last else words[at + 1]
    maybe_value = (
        not eq and following is not None and following != "--"
        and not looks_like_flag(following) and (choices is None or following not in choices)
    )  # fmt: skip
    return Flag(list(words[at : at + (2 if maybe_value else 1)]))


def action_parsers(parser: argparse.ArgumentParser) -> Mapping[str, argparse.ArgumentParser]:
    """The parsers of `parser`'s actions (a command's: `state show`), by name; none for
    a parser without actions."""
    actions = subcommands(parser)
    return {} if actions is None else actions.choices


def subcommands(
    parser: argparse.ArgumentParser,
) -> Optional[argparse._SubParsersAction[argparse.ArgumentParser]]:
    """The action that chooses among `parser`'s sub-parsers (a command's actions, `state
    show`; completion's commands), None when it has none."""
    for action in arguments(parser):
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
    # Compared without their dashes: every flag shares them, and they alone made `--all`
    # near `--var`. A flag written with the wrong dashes (`-json`) is that flag.
    names: dict[str, str] = {}
    for flag in flags:
        names.setdefault(flag.lstrip("-"), flag)
    name = word.lstrip("-")
    guess = names.get(name) or names.get(nearest(name, names) or "")
    return f"did you mean `{guess}`?" if guess else ""
