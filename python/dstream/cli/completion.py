"""`dstream completion bash|zsh|fish`: a shell completion script, generated from the
same argparse parsers the commands use (so it can never list a flag that does not
exist). bash and zsh come from shtab; shtab has no fish, so fish's `complete` lines are
written here from the parsers.

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
    one-line help its description (which `fish` reads)."""
    from dstream.cli.app import COMMANDS, add_command_arguments, load_command
    from dstream.cli.parsing import Parser

    parser = Parser(prog="dstream")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_, description=help_)
        add_command_arguments(sub, load_command(name))
    return parser


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish(parser: argparse.ArgumentParser) -> str:
    """fish's `complete` lines for `parser` (`full_parser`'s): each command, with its
    one-line help (its parser's description), and what it takes."""
    from dstream.cli.parsing import action_parsers, arguments, takes_value

    lines = ["complete -c dstream -f"]
    for name, sub in action_parsers(parser).items():
        lines.append(
            f"complete -c dstream -n __fish_use_subcommand -a {name} "
            f"-d {_fish_quote(sub.description or '')}"
        )
        when = f"-n '__fish_seen_subcommand_from {name}'"
        for action in arguments(sub):
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
            if not action.option_strings and action.choices:  # a shell, a command's actions
                words = " ".join(map(str, action.choices))
                lines.append(f"complete -c dstream {when} -a {_fish_quote(words)}")
    return "\n".join(lines) + "\n"


def execute(args: argparse.Namespace, view: View) -> int:
    parser = full_parser()
    if args.shell == "fish":
        script = fish(parser)
    else:
        import shtab

        script = shtab.complete(parser, shell=args.shell)
    view.out.write(script if script.endswith("\n") else script + "\n")
    view.out.flush()
    return 0
