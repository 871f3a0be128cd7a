"""`dstream completion bash|zsh|fish`: a shell completion script, generated from the
same argparse parsers the commands use (so it can never list a flag that does not
exist). bash and zsh come from shtab (zsh's told that a flag's value may follow `=`);
shtab has no fish, so fish's `complete` lines are written here from the parsers.

    dstream completion bash > ~/.local/share/bash-completion/completions/dstream
    dstream completion zsh  > "${fpath[1]}/_dstream"
    dstream completion fish > ~/.config/fish/completions/dstream.fish
"""

from __future__ import annotations

import argparse

from dstream.cli.view import View

SHELLS = ("bash", "zsh", "fish")
# The output is a shell script to source, and it has no JSON form: like kubectl's and
# gh's completion commands, this one takes no --json rather than ignore it.
TAKES_JSON = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def full_parser() -> argparse.ArgumentParser:
    """One parser with every command as a sub-parser, built by the commands' own code
    (app.add_command_arguments) and of their class (parsing.Parser: flags in full), its
    one-line help its description (which `fish` reads); the global flags and --version
    on the top, as `dstream --help` lists them, and `help COMMAND`."""
    from dstream.cli.app import COMMANDS, add_command_arguments, load_command
    from dstream.cli.globalflags import add_every_global_flag
    from dstream.cli.parsing import Parser

    parser = Parser(prog="dstream")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    add_every_global_flag(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_, description=help_)
        add_command_arguments(sub, load_command(name))
    about = "print a command's help (as COMMAND --help)"
    helper = commands.add_parser("help", help=about, description=about)
    helper.add_argument("topic", nargs="?", choices=list(COMMANDS), help="the command")
    return parser


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# fish's condition of a completion: the command and the action typed so far are the
# arguments, exactly (flags and their values skipped: a word counts as the command only
# when it is one, as the action only when it is one of that command's). fish's own
# __fish_seen_subcommand_from took `providers list` for `list`, and a flag before the
# command for none.
FISH_PATH = """function __dstream_is
    set -l found
    for word in (commandline -opc)[2..-1]
        if test (count $found) -eq 0
            contains -- $word $__dstream_commands; and set found $word
        else if test (count $found) -eq 1
            set -l actions __dstream_actions_$found[1]
            set -q $actions; and contains -- $word $$actions; and set -a found $word
        end
    end
    test "$found" = "$argv"
end"""


def fish(parser: argparse.ArgumentParser) -> str:
    """fish's `complete` lines for `parser` (`full_parser`'s): each command with its
    one-line help (its parser's description), each action of a command, and the flags
    each takes where it takes them (the top's before any command)."""
    from dstream.cli.parsing import action_parsers

    commands = action_parsers(parser)
    lines = [
        "complete -c dstream -f",
        "set -g __dstream_commands " + " ".join(commands),
    ]
    for name, sub in commands.items():
        if action_parsers(sub):
            lines.append(f"set -g __dstream_actions_{name} " + " ".join(action_parsers(sub)))
    lines += [FISH_PATH, *_fish_flags(parser, ())]
    for name, sub in commands.items():
        lines.append(
            f"complete -c dstream -n __dstream_is -a {name} -d {_fish_quote(sub.description or '')}"
        )
        lines += _fish_flags(sub, (name,))
        for action, inner in action_parsers(sub).items():
            lines.append(
                f"complete -c dstream -n '__dstream_is {name}' -a {action} "
                f"-d {_fish_quote(inner.description or '')}"
            )
            lines += _fish_flags(inner, (name, action))
    return "\n".join(lines) + "\n"


def _fish_flags(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    """The `complete` lines of what `parser` takes where `path` was typed: its flags, and
    the choices of a positional argument (a shell, a command's name for help)."""
    from dstream.cli.parsing import arguments, subcommands, takes_value

    when = "-n " + _fish_quote(" ".join(("__dstream_is", *path)))
    lines = []
    actions = subcommands(parser)
    for action in arguments(parser):
        if action is actions:  # the actions are completed by name, with their help
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                flag = f"-l {option[2:]}"
            else:  # -h is short; Terraform's -detailed-exitcode an old-style long one
                flag = f"-s {option[1:]}" if len(option) == 2 else f"-o {option[1:]}"
            needs = " -r" if takes_value(action) else ""
            words = " ".join(map(str, action.choices or ()))
            choices = f" -a {_fish_quote(words)}" if words else ""
            text = _fish_quote((action.help or "").replace("%(default)s", str(action.default)))
            lines.append(f"complete -c dstream {when} {flag}{needs}{choices} -d {text}")
        if not action.option_strings and action.choices:
            words = " ".join(map(str, action.choices))
            lines.append(f"complete -c dstream {when} -a {_fish_quote(words)}")
    return lines


def zsh(parser: argparse.ArgumentParser) -> str:
    """shtab's zsh script for `parser` (`full_parser`'s, which this changes), with each
    long flag that takes a value declared to zsh as `--config=`: its value in the next
    word or after `=`, as argparse reads it. Declared as shtab writes it (`--config`),
    zsh took `dstream --config=x` for a command named `--config=x`, and completed
    nothing after it."""
    import shtab

    _equals_values(parser)
    return str(shtab.complete(parser, shell="zsh"))


def _equals_values(parser: argparse.ArgumentParser) -> None:
    """The option strings shtab writes, of `parser` and its actions' parsers: `=` after
    each one that takes a value (argparse reads `-c=x` as `-c x` too). The parser is one
    made for the script, never one that parses."""
    from dstream.cli.parsing import action_parsers, arguments, takes_value

    for action in arguments(parser):
        if action.option_strings and takes_value(action):
            action.option_strings = [name + "=" for name in action.option_strings]
    for inner in action_parsers(parser).values():
        _equals_values(inner)


def execute(args: argparse.Namespace, view: View) -> int:
    parser = full_parser()
    if args.shell == "fish":
        script = fish(parser)
    elif args.shell == "zsh":
        script = zsh(parser)
    else:
        import shtab

        script = shtab.complete(parser, shell=args.shell)
    view.out.write(script if script.endswith("\n") else script + "\n")
    view.out.flush()
    return 0
