"""Finds, parses and evaluates dstream.hcl files into a Project.

`load_project` is what the runtime calls: it raises the first ConfigError. `analyze`
does the same work but collects every error and warning, for `dstream lint`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from dstream.config import redact
from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator, Module, VariableValue, check_local_name
from dstream.config.functions import FunctionError, to_number, type_name
from dstream.config.limits import TooDeep, check_nesting
from dstream.config.model import Location, Project, TaskSpec
from dstream.config.schema import build_metrics, build_state, build_task
from dstream.config.syntax import Attribute, Block, SourceFile, parse_text, read_source
from dstream.config.templates import SourceMap
from dstream.errors import ConfigError, nearest

DEFAULT_CONFIG = "dstream.hcl"
ENV_CONFIG = "DSTREAM_CONFIG"
ENV_VAR_PREFIX = "DSTREAM_VAR_"
TOP_LEVEL_BLOCKS = ("task", "locals", "variable", "state", "metrics")
VARIABLE_ATTRIBUTES = ("default", "description", "sensitive", "type", "nullable")
_BUILTIN_DEMO = os.path.join(os.path.dirname(__file__), "demo.hcl")


@dataclass
class Declared:
    name: str
    block: Block
    source: SourceFile
    kind: str = "any"  # string, number, bool, or a complex type (list, map, object, ...)
    sensitive: bool = False
    description: Optional[str] = None
    has_default: bool = False
    default: Any = None


@dataclass
class Analysis:
    project: Optional[Project]
    diagnostics: Diagnostics
    files: list[str] = field(default_factory=list)
    variables: dict[str, Declared] = field(default_factory=dict)


# -- entry points ------------------------------------------------------------------------


def load_project(
    config: Optional[str] = None,
    variables: Optional[list[str]] = None,
    var_files: Optional[list[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Project:
    environ = dict(os.environ if environ is None else environ)
    result = analyze(config, variables or [], var_files or [], environ)
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
    with open(_BUILTIN_DEMO, encoding="utf-8") as handle:
        text = handle.read()
    result = analyze_texts([(_BUILTIN_DEMO, text)], [], [], dict(os.environ))
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


def config_files(config: Optional[str], environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The .hcl files to load and the directory relative paths are resolved against."""
    chosen = config or environ.get(ENV_CONFIG) or DEFAULT_CONFIG
    origin = "--config" if config else (ENV_CONFIG if environ.get(ENV_CONFIG) else "default")
    if os.path.isdir(chosen):
        import glob

        files = sorted(glob.glob(os.path.join(chosen, "*.hcl")))
        if not files:
            raise ConfigError(
                f"directory {chosen} has no .hcl files",
                location=Location(chosen),
                hint="put dstream.hcl in it, or pass -c FILE",
            )
        return files, os.path.abspath(chosen)
    if not os.path.exists(chosen):
        where = {"--config": "given by -c/--config", ENV_CONFIG: f"from ${ENV_CONFIG}"}.get(
            origin, "the default"
        )
        raise ConfigError(
            f"configuration file {chosen} does not exist ({where})",
            location=Location(chosen),
            hint="create dstream.hcl or pass -c FILE|DIR; `dstream run demo` works without one",
        )
    return [chosen], os.path.dirname(os.path.abspath(chosen))


def analyze(
    config: Optional[str],
    variables: list[str],
    var_files: list[str],
    environ: dict[str, str],
) -> Analysis:
    try:
        files, base_dir = config_files(config, environ)
    except ConfigError as exc:
        diagnostics = Diagnostics()
        diagnostics.error(exc)
        return Analysis(None, diagnostics)
    texts: list[tuple[str, str]] = []
    diagnostics = Diagnostics()
    for path in files:
        try:
            texts.append((path, read_source(path)))
        except ConfigError as exc:
            diagnostics.error(exc)
    result = analyze_texts(texts, variables, var_files, environ, base_dir, diagnostics)
    return result


def analyze_texts(
    texts: list[tuple[str, str]],
    variables: list[str],
    var_files: list[str],
    environ: dict[str, str],
    base_dir: Optional[str] = None,
    diagnostics: Optional[Diagnostics] = None,
) -> Analysis:
    diagnostics = diagnostics or Diagnostics()
    if base_dir is None:
        first = texts[0][0] if texts else DEFAULT_CONFIG
        base_dir = os.path.dirname(os.path.abspath(first))
    sources: list[SourceFile] = []
    for path, text in texts:
        try:
            sources.append(parse_text(text, path))
        except ConfigError as exc:
            diagnostics.error(exc)
    module = Module(environ=environ, base_dir=base_dir)
    _check_top_level(sources, diagnostics)
    declared = _declare_variables(sources, diagnostics)
    _assign_variables(module, declared, variables, var_files, environ, diagnostics)
    _declare_locals(module, sources, diagnostics)
    for name in list(module.local_defs):
        try:
            module.local(name, module.local_defs[name][0].location)
        except ConfigError as exc:
            diagnostics.error(exc)
    project = _build_project(module, sources, diagnostics, base_dir)
    # Every output channel masks them from now on, also in the errors found above.
    redact.remember(project.sensitive_values)
    for source in sources:
        for where in source.rewritten.unsupported:
            diagnostics.warn(
                'only {{ env "NAME" }} templates are expanded; this one is left as text',
                where,
                hint='use HCL instead: env("NAME"), var.NAME or local.NAME',
            )
    project.warnings = [str(warning) for warning in diagnostics.warnings]
    analysis = Analysis(project, diagnostics, [p for p, _ in texts], declared)
    if diagnostics.errors:
        analysis.project = None
    return analysis


# -- top level ---------------------------------------------------------------------------


def _check_top_level(sources: list[SourceFile], diagnostics: Diagnostics) -> None:
    for source in sources:
        for name, attribute in source.body.attributes.items():
            if name == "lock_config":
                diagnostics.warn(
                    "lock_config is ignored: dstream takes no distributed lock",
                    attribute.location,
                    hint="remove it; it is accepted so older configs keep working",
                )
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


# -- variables ---------------------------------------------------------------------------


def _declare_variables(sources: list[SourceFile], diagnostics: Diagnostics) -> dict[str, Declared]:
    declared: dict[str, Declared] = {}
    for source in sources:
        for block in source.body.blocks_of("variable"):
            try:
                item = _declare_variable(block, source)
            except ConfigError as exc:
                diagnostics.error(exc)
                continue
            if item.name in declared:
                first = declared[item.name].block.location
                diagnostics.error(
                    ConfigError(
                        f'variable "{item.name}" is declared twice (first at {first})',
                        location=block.label_locations[0],
                        hint="remove one declaration",
                    )
                )
                continue
            declared[item.name] = item
    return declared


def _declare_variable(block: Block, source: SourceFile) -> Declared:
    if len(block.labels) != 1:
        raise ConfigError(
            f"a variable block takes exactly one label, its name; got {len(block.labels)}",
            location=block.location,
            hint='write variable "NAME" { default = ... }',
        )
    name = block.labels[0]
    body = block.body
    from dstream.config.schema import check_names, expect_bool, expect_string

    check_names(body, f'variable "{name}"', VARIABLE_ATTRIBUTES, ("validation",))
    item = Declared(name, block, source)
    evaluator = Evaluator(source, Module(environ={}), allow_references=False)
    attributes = body.attributes
    if "type" in attributes:
        item.kind = _type_keyword(attributes["type"], source)
    if "sensitive" in attributes:
        item.sensitive = expect_bool(
            evaluator.eval(attributes["sensitive"].expr), attributes["sensitive"], "variable"
        )
    if "description" in attributes:
        item.description = expect_string(
            evaluator.eval(attributes["description"].expr), attributes["description"], "variable"
        )
    if "default" in attributes:
        item.has_default = True
        item.default = evaluator.eval(attributes["default"].expr)
        if item.default is not None:
            item.default = _typed(item, item.default, attributes["default"].value_location)
    return item


_TYPES = ("string", "number", "bool", "any", "list", "map", "set", "object", "tuple")


def _type_keyword(attribute: Attribute, source: SourceFile) -> str:
    # `type = string` is a type constraint, not an expression: read its first name.
    for tree in attribute.expr.iter_subtrees_topdown():
        if tree.data == "identifier":
            word = str(tree.children[0])
            if word in _TYPES:
                return word
            break
    raise ConfigError(
        "variable type must be one of " + ", ".join(_TYPES),
        location=attribute.value_location,
        hint="write type = string (no quotes), or list(string), map(string), ...",
    )


def _typed(item: Declared, value: Any, where: Optional[Location]) -> Any:
    """Check and convert `value` to the variable's declared type."""
    kind = item.kind
    try:
        if kind == "string":
            if isinstance(value, (list, dict)) or value is None:
                raise FunctionError("not a string")
            from dstream.config.functions import to_string

            return to_string(value)
        if kind == "number":
            return to_number(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):
                return value == "true"
            raise FunctionError("not a bool")
        if kind in ("list", "set", "tuple") and not isinstance(value, list):
            raise FunctionError("not a list")
        if kind in ("map", "object") and not isinstance(value, dict):
            raise FunctionError("not an object")
    except FunctionError:
        # The type, never the value: it may be a secret, even if not declared sensitive.
        raise ConfigError(
            f'variable "{item.name}" has type {kind}, but its value is a {type_name(value)} '
            f"that is not a {kind}",
            location=where,
            hint=f"give var.{item.name} a {kind} value, or change its type",
        ) from None
    return value


def _parse_literal(text: str, label: str) -> Any:
    """A --var or DSTREAM_VAR_ value for a list/map variable: an HCL (or JSON) literal."""
    try:
        source = parse_text(f"value = {text}\n", label)
        attribute = source.body.attributes["value"]
        return Evaluator(source, Module(environ={}), allow_references=False).eval(attribute.expr)
    except (ConfigError, KeyError) as exc:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise ConfigError(
            f"{label}: {shown} is not a valid HCL value ({getattr(exc, 'reason', exc)})",
            hint='write lists as ["a", "b"] and maps as {k = "v"}',
        ) from None


def _assign_variables(
    module: Module,
    declared: dict[str, Declared],
    variables: list[str],
    var_files: list[str],
    environ: Mapping[str, str],
    diagnostics: Diagnostics,
) -> None:
    # Terraform's order: default < environment < var files < --var (later wins).
    values: dict[str, tuple[Any, Optional[Location], bool]] = {}  # value, where, raw text
    failed: dict[str, ConfigError] = {}  # given a value that could not be read

    def from_text(name: str, text: str, label: str) -> Any:
        if declared[name].sensitive:  # before parsing: an error may quote it
            module.taint.mark(text)
        if declared[name].kind in ("list", "map", "set", "object", "tuple"):
            return _parse_literal(text, label)
        return text

    for key, text in environ.items():
        if key.startswith(ENV_VAR_PREFIX) and key[len(ENV_VAR_PREFIX) :] in declared:
            name = key[len(ENV_VAR_PREFIX) :]
            try:
                values[name] = (from_text(name, text, key), Location(key), True)
            except ConfigError as exc:
                diagnostics.error(exc)
                failed[name] = exc
    for path in var_files:
        try:
            for name, (value, where) in _read_var_file(path, environ).items():
                if name not in declared:
                    diagnostics.warn(
                        f"{path} sets {name!r}, which no variable block declares",
                        where,
                        hint=_declared_hint(name, declared),
                    )
                    continue
                if declared[name].sensitive:
                    module.taint.mark(value)
                values[name] = (value, where, False)
        except ConfigError as exc:
            diagnostics.error(exc)
    for assignment in variables:
        name, equals, text = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            diagnostics.error(
                ConfigError(
                    f"--var {assignment!r} is not NAME=VALUE", hint="write --var region=eu-west-1"
                )
            )
            continue
        if name not in declared:
            diagnostics.error(
                ConfigError(
                    f"--var {name}: no variable {name!r} is declared",
                    hint=_declared_hint(name, declared),
                )
            )
            continue
        try:
            values[name] = (from_text(name, text, f"--var {name}"), None, True)
        except ConfigError as exc:
            diagnostics.error(exc)
            failed[name] = exc

    for name, item in declared.items():
        if name in values:
            value, origin, _ = values[name]
            try:
                value = _typed(item, value, origin or item.block.location)
            except ConfigError as exc:
                diagnostics.error(exc)
                module.unset_variables[name] = exc
                continue
        elif name in failed:
            module.unset_variables[name] = failed[name]
            continue
        elif item.has_default:
            value = item.default
        else:
            missing = ConfigError(
                f'variable "{name}" has no value',
                location=item.block.location,
                hint=f"set it with --var {name}=VALUE, in a --var-file, with the environment "
                f"variable {ENV_VAR_PREFIX}{name}, or give it a default = ...",
            )
            diagnostics.error(missing)
            module.unset_variables[name] = missing
            continue
        if item.sensitive:
            module.taint.mark(value)
        module.variables[name] = VariableValue(value, item.sensitive)


def _declared_hint(name: str, declared: Mapping[str, Declared]) -> str:
    guess = nearest(name, declared)
    known = ", ".join(sorted(declared)) or "none"
    return (f"did you mean {guess}? " if guess else "") + f"declared variables: {known}"


def _read_var_file(path: str, environ: Mapping[str, str]) -> dict[str, tuple[Any, Location]]:
    text = read_source(path)
    if path.endswith(".json"):
        try:
            check_nesting(text, templates=False)
        except TooDeep as exc:
            raise ConfigError(
                f"the JSON is {exc.reason}",
                location=Location(path, *exc.position(text)),
                hint="a variable's value is configuration, not data: flatten it",
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"var file is not valid JSON: {exc.msg}",
                location=Location(path, exc.lineno, exc.colno),
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("a JSON var file must hold an object", location=Location(path, 1, 1))
        return {name: (value, Location(path)) for name, value in data.items()}
    source = parse_text(text, path)
    if source.body.blocks:
        block = source.body.blocks[0]
        raise ConfigError(
            f"a var file holds only NAME = value lines, not a {block.type} block",
            location=block.location,
        )
    evaluator = Evaluator(source, Module(environ=dict(environ)), allow_references=False)
    return {
        name: (evaluator.eval(attribute.expr), attribute.location)
        for name, attribute in source.body.attributes.items()
    }


# -- locals --------------------------------------------------------------------------------


def _declare_locals(module: Module, sources: list[SourceFile], diagnostics: Diagnostics) -> None:
    for source in sources:
        blocks = source.body.blocks_of("locals")
        for extra in blocks[1:]:
            diagnostics.error(
                ConfigError(
                    f"more than one locals block in {source.path} (first at {blocks[0].location})",
                    location=extra.location,
                    hint="keep all locals of a file in one locals { } block",
                )
            )
        for block in blocks[:1]:
            if block.labels:
                diagnostics.error(
                    ConfigError(
                        "a locals block takes no label",
                        location=block.label_locations[0],
                        hint="write locals { NAME = value }",
                    )
                )
            for nested in block.body.blocks:
                diagnostics.error(
                    ConfigError(
                        f"locals cannot contain blocks; found {nested.type} {{ }}",
                        location=nested.location,
                        hint=f"write {nested.type} = {{ ... }} to make an object value",
                    )
                )
            for name, attribute in block.body.attributes.items():
                try:
                    check_local_name(name, attribute.location)
                except ConfigError as exc:
                    diagnostics.error(exc)
                    continue
                if name in module.local_defs:
                    first = module.local_defs[name][0].location
                    diagnostics.error(
                        ConfigError(
                            f"local value {name!r} is defined twice (first at {first})",
                            location=attribute.location,
                            hint="locals are shared by all files of a configuration; rename one",
                        )
                    )
                    continue
                module.local_defs[name] = (attribute, source)


# -- tasks and project -----------------------------------------------------------------------


def _build_project(
    module: Module, sources: list[SourceFile], diagnostics: Diagnostics, base_dir: str
) -> Project:
    tasks: dict[str, TaskSpec] = {}
    task_locations: dict[str, Location] = {}
    project = Project(tasks=tasks, files=[s.path for s in sources], base_dir=base_dir)
    state_block: Optional[Block] = None
    metrics_block: Optional[Block] = None
    for source in sources:
        evaluator = Evaluator(source, module)
        for block in source.body.blocks:
            try:
                if block.type == "task":
                    task = _build_task_lazily(block, evaluator, diagnostics, project)
                    if task is None:
                        continue  # its errors are recorded
                    if task.name in tasks:
                        first = task_locations[task.name]
                        raise ConfigError(
                            f'task "{task.name}" is defined twice: at {first} and here',
                            location=block.label_locations[0],
                            hint="task names must be unique across all files; rename one",
                        )
                    tasks[task.name] = task
                    task_locations[task.name] = block.label_locations[0]
                elif block.type in ("state", "metrics"):
                    previous = state_block if block.type == "state" else metrics_block
                    if previous is not None:
                        raise ConfigError(
                            f"more than one {block.type} block (first at {previous.location})",
                            location=block.location,
                            hint=f"keep one {block.type} block",
                        )
                    if block.type == "state":
                        state_block = block
                        project.state = build_state(block, evaluator)
                    else:
                        metrics_block = block
                        project.metrics = build_metrics(block, evaluator)
            except ConfigError as exc:
                diagnostics.error(exc)
    project.sensitive_values = frozenset(module.taint.values(redact.MIN_SECRET_LENGTH))
    return project


class _TaskDiagnostics(Diagnostics):
    """One task's diagnostics, remembering whether every error came from a template."""

    def __init__(self) -> None:
        super().__init__()
        self.only_templates = True

    def error(self, exc: ConfigError) -> None:
        from dstream.config.sprig import TemplateError  # not imported for a file without any

        self.only_templates = self.only_templates and isinstance(exc, TemplateError)
        super().error(exc)


def _build_task_lazily(
    block: Block, evaluator: Evaluator, diagnostics: Diagnostics, project: Project
) -> Optional[TaskSpec]:
    """A task whose only errors are failing templates ({{ env "X" }} with X unset)
    fails alone, when it is used (Project.task); the file and its other tasks load."""
    own = _TaskDiagnostics()
    task = build_task(block, evaluator, own)
    if own.errors and own.only_templates and own.first_error and block.labels:
        project.broken[block.labels[0]] = own.first_error
        for item in own.items:
            diagnostics.warn(f"{item.message} (task {block.labels[0]!r} cannot be used)",
                             item.location, item.hint)  # fmt: skip
        return None
    for item in own.items:
        diagnostics.items.append(item)
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
