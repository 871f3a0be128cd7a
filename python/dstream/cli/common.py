"""Arguments and loading shared by every command that reads dstream.hcl."""

from __future__ import annotations

import argparse
import os

from dstream.cli.flags import VAR_FILE_FLAGS, VAR_FLAGS, add_config_flag, non_empty_path
from dstream.config.model import Project
from dstream.records import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


ONLY_TASK = "the only task of a one-task file"  # what a command given no task acts on


class _TaskNames(argparse.Action):
    """The task names given, each once, in the order first given. Named twice, a task is
    named once, as Terraform's `-target` makes a set of its targets: a script that
    builds its list from several sources may repeat a name, and it means the same task
    (a second run of it beside the first would only be refused by its own lock)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: object = None,
    ) -> None:
        assert isinstance(values, list)  # nargs="*"
        setattr(namespace, self.dest, list(dict.fromkeys(values)))


def add_task_names(parser: argparse.ArgumentParser, text: str) -> None:
    """The TASK... arguments of a command (each name once: _TaskNames)."""
    parser.add_argument("tasks", nargs="*", metavar="TASK", action=_TaskNames, help=text)


def add_task_arguments(parser: argparse.ArgumentParser, acting: str) -> None:
    """The tasks a command acts on: names, or --all; `acting` says how ("to run side by
    side")."""
    add_task_names(parser, f"tasks {acting} (default: {ONLY_TASK})")
    parser.add_argument("--all", action="store_true", help="every task in the configuration")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flag(parser)
    parser.add_argument(
        "--state-dir",
        type=non_empty_path,
        metavar="DIR",
        help="keep the file backend's state here (default: $DSTREAM_STATE_DIR, the state "
        "block, or $XDG_STATE_HOME/dstream/<project>)",
    )
    parser.add_argument(
        *VAR_FLAGS,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable (repeatable)",
    )
    parser.add_argument(
        *VAR_FILE_FLAGS,
        action="append",
        type=non_empty_path,
        default=[],
        metavar="FILE",
        help="read variables from a .hcl/.tfvars or .json file (repeatable)",
    )


def load_project_from_args(args: argparse.Namespace, *, needed: Optional[str] = None) -> Project:
    """The configuration the arguments name. `needed`: where a variable without a value
    is an error (config/scope.py), for a command that lists the tasks or prints what the
    store holds; every variable needs one by default."""
    from dstream.config.loader import load_project
    from dstream.config.scope import EVERYWHERE

    project = load_project(
        config=args.config,
        variables=list(args.var),
        var_files=list(args.var_file),
        environ=dict(os.environ),
        needed=needed or EVERYWHERE,
    )
    apply_state_dir(project, args)
    return project


def apply_state_dir(project: Project, args: argparse.Namespace) -> None:
    """--state-dir, else $DSTREAM_STATE_DIR, replaces the state block's directory."""
    from dstream.errors import UsageError

    where = getattr(args, "state_dir", None) or os.environ.get("DSTREAM_STATE_DIR")
    if not where:
        return
    if project.state.backend != "file":
        raise UsageError(
            f"--state-dir / DSTREAM_STATE_DIR name a directory, but the state block uses "
            f"the {project.state.backend} backend",
            hint="drop one of the two: the state is either in a directory or in postgres",
        )
    project.state = replace(project.state, path=os.path.abspath(where))


def task_names(project: Project, args: argparse.Namespace) -> list[str]:
    """The tasks a command acts on: those named, every one with --all, or the only task
    of a file that defines exactly one (Meltano's and the original's one-task habit).
    An unknown name, or a task that cannot be evaluated (project.broken), fails here,
    before anything starts."""
    defined = _defined(project)
    if args.all:
        names = defined
    elif args.tasks:
        names = list(args.tasks)
    else:
        names = [
            _only(project, "name one or more tasks (`dstream list` shows them), or pass --all")
        ]
    for name in names:
        project.task(name)
    return names


def one_task(project: Project, name: Optional[str]) -> str:
    """The task a command of one TASK acts on (show, state show): the one named, or the
    only task of a one-task file, as task_names takes it."""
    return name if name is not None else _only(project, "name one (`dstream list` shows them)")


def _defined(project: Project) -> list[str]:
    from dstream.errors import UsageError

    defined = project.names()
    if not defined:  # --all of nothing did nothing, said nothing and exited 0
        where = ", ".join(project.files) or "the configuration"
        raise UsageError(
            f"{where} defines no task",
            hint='add one: task "NAME" { input { ... } output { ... } } (docs/configuration.md)',
        )
    return defined


def _only(project: Project, hint: str) -> str:
    """The task of a file that defines exactly one; `hint`: how to choose among several."""
    from dstream.errors import UsageError

    defined = _defined(project)
    if len(defined) != 1:
        known = ", ".join(defined)
        raise UsageError(
            f"no task given, and the configuration defines {len(defined)} (known: {known})",
            hint=hint,
        )
    return defined[0]
