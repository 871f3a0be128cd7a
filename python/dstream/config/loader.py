"""Finds, parses and evaluates dstream.hcl files into a Project.

`load_project` is what the runtime calls: it raises the first ConfigError. `analyze`
does the same work but collects every error and warning, for `dstream lint`. Both take
`needed`, where a variable without a value is an error (config/scope.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial

from dstream.config import redact
from dstream.config.checks import warn_lock_config
from dstream.config.connstr import MIN_SECRET_LENGTH
from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator
from dstream.config.model import Location, Project, TaskSpec
from dstream.config.reads import RecordingEnviron, recording
from dstream.config.schema import build_metrics, build_state
from dstream.config.scope import (
    EVERYWHERE,
    NOWHERE,
    FailsWhereUsed,
    MissingValue,
    Module,
    VariableValue,
    declare_locals,
)
from dstream.config.syntax import (
    Block,
    SourceFile,
    parse_text,
    path_kind,
    read_source,
    unreadable,
)
from dstream.config.tasks import evaluate_task, outline_task
from dstream.config.templates import SourceMap, split_paste_warnings
from dstream.errors import ConfigError, nearest
from dstream.records import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.variables import Declared

DEFAULT_CONFIG = "dstream.hcl"
ENV_CONFIG = "DSTREAM_CONFIG"
TOP_LEVEL_BLOCKS = ("task", "locals", "variable", "state", "metrics")
_BUILTIN_DEMO = os.path.join(os.path.dirname(__file__), "demo.hcl")


@record
class Analysis:
    project: Optional[Project]  # None when there was an error
    diagnostics: Diagnostics
    files: list[str] = field(default_factory=list)
    variables: dict[str, Declared] = field(default_factory=dict)
    # The value each variable got (`deploy` hands the pods those given from outside).
    values: dict[str, VariableValue] = field(default_factory=dict)
    # The project as evaluated, errors or not: the tasks that evaluated without one
    # (lint checks their providers too: it reports every problem).
    evaluated: Optional[Project] = None


# -- entry points ------------------------------------------------------------------------


def load_project(
    config: Optional[str] = None,
    variables: Optional[list[str]] = None,
    var_files: Optional[list[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    needed: str = EVERYWHERE,
) -> Project:
    environ = dict(os.environ if environ is None else environ)
    result = analyze(config, variables or [], var_files or [], environ, needed=needed)
    return _project_or_raise(result)


def load_project_text(
    text: str,
    filename: str = DEFAULT_CONFIG,
    variables: Optional[list[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
    var_files: Optional[list[str]] = None,
) -> Project:
    """Load one configuration given as text (tests, editors); `filename` names it in errors."""
    result = analyze_texts(
        [(filename, text)], variables or [], var_files or [], dict(environ or {})
    )
    return _project_or_raise(result)


def load_builtin_demo() -> Project:
    """The task behind `dstream run demo` when there is no dstream.hcl."""
    environ = RecordingEnviron(os.environ)
    environ.reads.add_file(_BUILTIN_DEMO)
    with open(_BUILTIN_DEMO, encoding="utf-8") as handle:
        text = handle.read()
    result = analyze_texts([(_BUILTIN_DEMO, text)], [], [], environ)
    project = _project_or_raise(result)
    project.base_dir = os.getcwd()  # state and relative paths belong to the user's dir
    return project


def _project_or_raise(result: Analysis) -> Project:
    first = result.diagnostics.first_error
    if first is not None:
        more = len(result.diagnostics.errors) - 1
        if more:
            extra = f"{more} more error(s): `dstream lint` lists them all"
            first.hint = f"{first.hint}; {extra}" if first.hint else extra
        raise first
    assert result.project is not None
    return result.project


def config_files(config: Optional[str], environ: RecordingEnviron) -> tuple[list[str], str]:
    """The .hcl files to load and the directory relative paths are resolved against; a
    directory listed is noted in environ.reads (each file is noted as it is read)."""
    chosen = config or environ.get(ENV_CONFIG) or DEFAULT_CONFIG
    origin = "--config" if config else (ENV_CONFIG if environ.get(ENV_CONFIG) else "default")
    kind = path_kind(chosen)
    if kind == "missing":
        raise _missing(chosen, origin)
    if kind == "dir":
        environ.reads.add_dir(chosen)
        return _hcl_files(chosen), os.path.abspath(chosen)
    return [chosen], os.path.dirname(os.path.abspath(chosen))


def is_config_name(name: str) -> bool:
    """Whether a directory's file of this name is loaded as configuration."""
    return name.endswith(".hcl") and not name.startswith(".")


def _hcl_files(folder: str) -> list[str]:
    """The folder's `*.hcl` files (not the hidden ones, as the shell's glob), sorted; a
    folder that cannot be listed is said so, never taken for an empty one."""
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise unreadable(folder, exc) from None
    files = sorted(os.path.join(folder, n) for n in names if is_config_name(n))
    if not files:
        raise ConfigError(
            f"directory {folder} has no .hcl files",
            location=Location(folder),
            hint="put dstream.hcl in it, or pass -c FILE",
        )
    return files


def _missing(chosen: str, origin: str) -> ConfigError:
    """A configuration file that does not exist; the hint names the file the user gave."""
    where = {"--config": "given by -c/--config", ENV_CONFIG: f"from ${ENV_CONFIG}"}
    hints = {
        "--config": f"create {chosen}, or give -c/--config the path of an existing .hcl "
        "file or directory",
        ENV_CONFIG: f"create {chosen}, or set ${ENV_CONFIG} to an existing .hcl file or "
        "directory (or unset it)",
    }
    return ConfigError(
        f"configuration file {chosen} does not exist ({where.get(origin, 'the default')})",
        location=Location(chosen),
        hint=hints.get(
            origin, "create dstream.hcl or pass -c FILE|DIR; `dstream run demo` works without one"
        ),
    )


def analyze(
    config: Optional[str],
    variables: list[str],
    var_files: list[str],
    environ: Mapping[str, str],
    *,
    needed: str = EVERYWHERE,
) -> Analysis:
    environ = recording(environ)
    try:
        files, base_dir = config_files(config, environ)
    except ConfigError as exc:
        diagnostics = Diagnostics()
        diagnostics.error(exc)
        return Analysis(None, diagnostics)
    texts: list[tuple[str, str]] = []
    diagnostics = Diagnostics()
    for path in files:
        environ.reads.add_file(path)  # a parse-cache hit still reads the text
        try:
            texts.append((path, read_source(path)))
        except ConfigError as exc:
            diagnostics.error(exc)
    return analyze_texts(texts, variables, var_files, environ, base_dir, diagnostics, needed)


def analyze_texts(
    texts: list[tuple[str, str]],
    variables: list[str],
    var_files: list[str],
    environ: Mapping[str, str],
    base_dir: Optional[str] = None,
    diagnostics: Optional[Diagnostics] = None,
    needed: str = EVERYWHERE,
) -> Analysis:
    """Evaluate the configuration in `texts`; the project's `reads` notes what else it
    read: the environment (through a RecordingEnviron), var files, file(), the clock,
    and the files and directory `analyze` read `texts` from."""
    diagnostics = diagnostics or Diagnostics()
    environ = recording(environ)
    if base_dir is None:
        first = texts[0][0] if texts else DEFAULT_CONFIG
        base_dir = os.path.dirname(os.path.abspath(first))
    parsed = (diagnostics.attempt(partial(parse_text, text, path)) for path, text in texts)
    sources = [source for source in parsed if source is not None]
    module = Module(environ=environ, base_dir=base_dir, reads=environ.reads, needed=needed)
    _check_top_level(sources, diagnostics)
    declared: dict[str, Declared] = {}
    # Without a variable block and a value given to one there is nothing to do: the
    # variables' modules (their type expressions, var files: ~5 M instructions of a
    # start, issue 22) are not imported.
    if variables or var_files or any(source.body.blocks_of("variable") for source in sources):
        from dstream.config.variables import assign_variables, declare_variables

        declared = declare_variables(sources, diagnostics, module.reads)
        assign_variables(module, declared, variables, var_files, environ, diagnostics)
    declare_locals(module, sources, diagnostics)
    for name in list(module.local_defs):
        # Every local once, so lint reports an unused one's errors too. A variable without
        # a value is reported where it was declared, or where it is needed (below); an
        # unset environment variable fails only the tasks that use the local (below).
        try:
            module.evaluate(name)
        except (MissingValue, FailsWhereUsed):
            pass
        except ConfigError as exc:
            diagnostics.error(exc)
    project = _build_project(module, sources, diagnostics, base_dir)
    for name, failure in module.unused_failures():  # it fails nothing: only said
        where = failure.location if isinstance(failure.location, Location) else None
        diagnostics.warn(f"{failure.reason} (no task uses local.{name})", where, failure.hint)
    for source in sources:  # what evaluating them found (config/templates.py)
        for warning in split_paste_warnings(source.rewritten):
            diagnostics.add(warning)
    # Every output channel masks them from now on, also in the errors found above.
    redact.remember_project(project)
    project.warnings = diagnostics.warnings
    project.reads = module.reads
    analysis = Analysis(project, diagnostics, [p for p, _ in texts], declared, module.variables)
    # Tasks with errors of their own too, as far as they evaluated.
    analysis.evaluated = replace(project, tasks={**project.failed, **project.tasks})
    if diagnostics.errors:
        analysis.project = None
    return analysis


# -- top level ---------------------------------------------------------------------------


def _check_top_level(sources: list[SourceFile], diagnostics: Diagnostics) -> None:
    for source in sources:
        for name, attribute in source.body.attributes.items():
            if name == "lock_config":
                warn_lock_config(diagnostics, attribute)
                continue
            diagnostics.error(
                ConfigError(
                    f"unexpected attribute {name!r} at the top level",
                    location=attribute.location,
                    hint="top-level settings live in blocks: "
                    + ", ".join(TOP_LEVEL_BLOCKS)
                    + "; shared values go in locals { }",
                )
            )
        for block in source.body.blocks:
            if block.type not in TOP_LEVEL_BLOCKS:
                guess = nearest(block.type, TOP_LEVEL_BLOCKS)
                hint = f"did you mean {guess}? " if guess else ""
                if block.type == "dstream":
                    hint = "the original's `dstream { }` block is gone: each task names its "
                    hint += "providers; "
                diagnostics.error(
                    ConfigError(
                        f"unknown block {block.type!r} at the top level",
                        location=block.location,
                        hint=hint + "allowed: " + ", ".join(TOP_LEVEL_BLOCKS),
                    )
                )


# -- tasks and project -----------------------------------------------------------------------


def _build_project(
    module: Module, sources: list[SourceFile], diagnostics: Diagnostics, base_dir: str
) -> Project:
    project = Project(tasks={}, files=[s.path for s in sources], base_dir=base_dir)
    task_locations: dict[str, Location] = {}  # where each task's name was written
    settings: dict[str, Block] = {}  # the state and metrics blocks met so far
    for source in sources:
        evaluator = Evaluator(source, module)
        blocks = source.body.blocks
        for block, after in zip(blocks, [*blocks[1:], None]):
            first = diagnostics.first_error
            try:
                if block.type == "task":
                    _add_task(project, block, evaluator, diagnostics, task_locations)
                elif block.type in ("state", "metrics"):
                    _add_setting(project, block, evaluator, settings)
            except MissingValue as exc:
                if module.needed != NOWHERE:  # where the store is: run, runs, state need it
                    diagnostics.error(exc)
                else:
                    _not_checked(f"the {block.type} block", exc, diagnostics)
            except ConfigError as exc:
                diagnostics.error(exc)
            if block.type == "task" and diagnostics.first_error is not first:
                _of_task(diagnostics.first_error, block, after)
    project.sensitive_values = frozenset(module.taint.values(MIN_SECRET_LENGTH))
    return project


def _add_task(
    project: Project,
    block: Block,
    evaluator: Evaluator,
    diagnostics: Diagnostics,
    locations: dict[str, Location],
) -> None:
    # The name first: a block with other errors still claims its name, so that lint
    # reports a second block of that name in the same pass.
    if len(block.labels) == 1:
        name = block.labels[0]
        if name in locations:
            raise ConfigError(
                f'task "{name}" is defined twice: at {locations[name]} and here',
                location=block.label_locations[0],
                hint="task names must be unique across all files; rename one",
            )
        locations[name] = block.label_locations[0]
    task = _build_task_lazily(block, evaluator, diagnostics, project)
    if task is not None:  # else its errors are recorded
        project.tasks[task.name] = task


def _of_task(error: Optional[ConfigError], block: Block, after: Optional[Block]) -> None:
    """`error`, met building the task `block`, is about that task when it was written in
    its block (up to the next block `after`, or the file's end): not one of a local or
    variable the task uses, which is the file's."""
    where = error.location if error is not None else None
    if error is None or len(block.labels) != 1 or not isinstance(where, Location):
        return
    start, end = block.location, after.location if after is not None else None
    if where.file != start.file or (where.line, where.column) < (start.line, start.column):
        return
    if end is None or (where.line, where.column) < (end.line, end.column):
        error.task = block.labels[0]


def _add_setting(
    project: Project, block: Block, evaluator: Evaluator, seen: dict[str, Block]
) -> None:
    """A state or metrics block: one of each in the whole configuration."""
    previous = seen.get(block.type)
    if previous is not None:
        raise ConfigError(
            f"more than one {block.type} block (first at {previous.location})",
            location=block.location,
            hint=f"keep one {block.type} block",
        )
    seen[block.type] = block
    if block.type == "state":
        project.state = build_state(block, evaluator)
    else:
        project.metrics = build_metrics(block, evaluator)


class _TaskDiagnostics(Diagnostics):
    """One task's diagnostics, remembering whether every error fails only its user (an
    unset environment variable), and keeping apart the variables without a value where
    they are not errors (`lenient`)."""

    def __init__(self, lenient: bool) -> None:
        super().__init__()
        self.only_use_errors = True
        self.lenient = lenient
        self.missing: list[MissingValue] = []

    def error(self, exc: ConfigError) -> None:
        if self.lenient and isinstance(exc, MissingValue):
            self.missing.append(exc)
            return
        self.only_use_errors = self.only_use_errors and isinstance(exc, FailsWhereUsed)
        super().error(exc)


def _set_broken(
    project: Project, name: str, error: ConfigError, block: Block, evaluator: Evaluator
) -> None:
    """Task `name` cannot be used, for `error` (raised when it is used): what is known of
    it is kept for `dstream list`."""
    project.broken[name] = error
    project.outlines[name] = outline_task(block, evaluator, name)


def _not_checked(what: str, exc: MissingValue, diagnostics: Diagnostics) -> None:
    """A warning that `what` needs a value this command was not given (lint, list, runs,
    state need none): at the variable's declaration, with every way to set it."""
    where = exc.location if isinstance(exc.location, Location) else None
    diagnostics.warn(f"{what} was not checked: {exc.reason}", where, exc.hint)


def _build_task_lazily(
    block: Block, evaluator: Evaluator, diagnostics: Diagnostics, project: Project
) -> Optional[TaskSpec]:
    """A task whose only errors are an unset environment variable's ({{ env "X" }},
    env("X"), in the task or a local it uses: FailsWhereUsed) fails alone, when it is
    used (Project.task); the file and its other tasks load. So does one that needs a
    variable without a value, where the command needs none: it is checked as far as it
    can be: only the config keys that need it are not (UNKNOWN), and anything else that
    needs it leaves the task unbuilt, said to be unchecked."""
    module = evaluator.module
    own = _TaskDiagnostics(lenient=module.needed != EVERYWHERE)
    unknown_before = len(module.unknown_uses)
    try:
        task = evaluate_task(block, evaluator, own)
    except MissingValue as exc:  # met where the rest of the task depends on it
        own.error(exc)
        task = None
    if own.errors and task is not None:  # unusable; lint still checks its providers
        project.failed[task.name], task = task, None
    missing = own.missing + module.unknown_uses[unknown_before:]
    if missing and not own.errors and block.labels:
        name = block.labels[0]
        for item in own.items:  # warnings only
            diagnostics.add(item)
        if task is not None and not own.missing and module.needed == NOWHERE:
            # Only config keys needed it (UNKNOWN): lint checks the rest, its providers
            # and their config's other keys. Anything else leaves the task unbuilt.
            _not_checked(f"what task {name!r} builds from it", missing[0], diagnostics)
            project.incomplete[name] = missing[0]
            return task
        _set_broken(project, name, missing[0], block, evaluator)
        _not_checked(f"task {name!r}", missing[0], diagnostics)
        return None
    if own.errors and own.only_use_errors and own.first_error and block.labels:
        name = block.labels[0]
        _set_broken(project, name, own.first_error, block, evaluator)
        for item in own.items:
            message = f"{item.message} (task {name!r} cannot be used)"
            diagnostics.warn(message, item.location, item.hint, task=name)
        return None
    for item in own.items:
        diagnostics.add(item)
    if missing and block.labels:  # beside its other errors: what was not checked
        _not_checked(f"what task {block.labels[0]!r} builds from it", missing[0], diagnostics)
    if own.first_error is not None and diagnostics.first_error is None:
        diagnostics.first_error = own.first_error
    return task


__all__ = [
    "Analysis",
    "SourceMap",
    "analyze",
    "analyze_texts",
    "config_files",
    "load_builtin_demo",
    "load_project",
    "load_project_text",
]
