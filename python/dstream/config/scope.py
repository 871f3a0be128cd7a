"""What every file of one configuration shares while it is evaluated: the variables'
values, the locals (evaluated once, on first use, with cycles reported) and the
environment, and the record of what the evaluation read from outside. config/evaluate.py
evaluates one expression within it.
"""

from __future__ import annotations

from functools import partial

from dstream.config.diagnostics import Diagnostics
from dstream.config.model import Location, Reads
from dstream.config.syntax import Attribute, Block, SourceFile
from dstream.config.taint import Taint
from dstream.errors import ConfigError, nearest
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream.protocol.values import JsonObject, JsonValue

# The environment variables that give variables their values (DSTREAM_VAR_region):
# here, not in config/variables.py, which a configuration without variables does not
# import.
ENV_VAR_PREFIX = "DSTREAM_VAR_"
# Terraform's own, never read: a variable left without a value names it in its hint.
TERRAFORM_VAR_PREFIX = "TF_VAR_"

# Names a local may not take: they are roots of references or words of the language.
RESERVED_NAMES = frozenset(
    {
        "local",
        "locals",
        "var",
        "variable",
        "env",
        "task",
        "each",
        "count",
        "self",
        "path",
        "module",
        "terraform",
        "data",
        "resource",
        "for",
        "in",
        "if",
        "true",
        "false",
        "null",
    }
)


# Where a variable without a value is an error (`Module.needed`): EVERYWHERE for the
# commands that run or describe tasks (run, plan, show...), as Terraform's plan; STORED
# for state, which prints the stored checkpoints: the state block's variables and every
# sensitive one (the masking of a checkpoint needs its value); STATE_BLOCK for runs,
# which prints the runs' history and no checkpoint: the state block's variables only (a
# sensitive value given is masked all the same); NOWHERE for list (it reads no store: a
# task that needs one beyond its providers' config keys is listed as one that cannot be
# used) and lint, which says what it could not check, as `terraform validate` needs no
# value.
EVERYWHERE, STORED, STATE_BLOCK, NOWHERE = "everywhere", "stored", "state block", "nowhere"


@record
class VariableValue:
    value: JsonValue
    sensitive: bool = False


@record
class Module:
    """What every file of one configuration shares: locals, variables, environment."""

    environ: dict[str, str]
    variables: dict[str, VariableValue] = field(default_factory=dict)
    # Declared variables that got no value: using one repeats that error, not "undeclared".
    unset_variables: dict[str, ConfigError] = field(default_factory=dict)
    needed: str = EVERYWHERE  # where a variable without a value is an error (above)
    # Config keys given UNKNOWN for a variable without a value (lint): why, for its warning.
    unknown_uses: list[MissingValue] = field(default_factory=list)
    local_defs: dict[str, tuple[Attribute, SourceFile]] = field(default_factory=dict)
    local_values: JsonObject = field(default_factory=dict)
    evaluating: list[str] = field(default_factory=list)  # locals being evaluated, in order
    depth: int = 0  # expressions being evaluated, one inside the other (locals included)
    # A local that failed fails again the same way at once: with thousands of locals in
    # a chain, evaluating each one's chain again would take quadratic time.
    local_errors: dict[str, ConfigError] = field(default_factory=dict)
    # The failures of locals that a task or a setting used (FailsWhereUsed.origin): those
    # no one used are only warned of (loader.analyze_texts).
    failures_met: list[FailsWhereUsed] = field(default_factory=list)
    base_dir: str = "."
    taint: Taint = field(default_factory=Taint)  # which values are sensitive (config/taint.py)
    # What the evaluation read from outside (config/reads.py): a module that sees the
    # environment gets a RecordingEnviron filling this same Reads.
    reads: Reads = field(default_factory=Reads)

    def local(self, name: str, where: Location) -> JsonValue:
        """The value of local.NAME, evaluated on first use and kept; used at `where`."""
        if name in self.local_values:
            return self.local_values[name]
        if name not in self.local_errors:
            if name not in self.local_defs:
                raise self._undefined_local(name, where)
            if name in self.evaluating:
                raise self._local_cycle(name)
            try:
                return self._evaluate_local(name)
            except FailsWhereUsed:
                pass  # kept in local_errors: raised below, where it is used
        raise self._failed_use(name, where)

    def evaluate(self, name: str) -> None:
        """Evaluate local.NAME unless that was done (so lint reports an unused one's
        errors too): the error of its own expression, raised as it is."""
        if name not in self.local_values and name not in self.local_errors:
            self._evaluate_local(name)

    def unused_failures(self) -> list[tuple[str, FailsWhereUsed]]:
        """The locals whose own expression failed as only a use fails (an unset
        environment variable), where no task nor setting used them."""
        return [
            (name, exc)
            for name, exc in self.local_errors.items()
            if isinstance(exc, FailsWhereUsed)
            and exc.origin is exc
            and not any(met is exc for met in self.failures_met)
        ]

    def _failed_use(self, name: str, where: Location) -> ConfigError:
        """The error of using local.NAME, which failed: one that fails its user alone is
        said where the local is used (the task it fails is there), naming the failure."""
        exc = self.local_errors[name]
        if not isinstance(exc, FailsWhereUsed):
            return exc
        origin = exc.origin
        if not self.evaluating:  # a task or a setting met it, not another local
            self.failures_met.append(origin)
        place = f"{origin.location}, " if origin.location else ""
        return FailsWhereUsed(
            f"{origin.reason} ({place}through local.{name})",
            location=where,
            hint=origin.hint,
            origin=origin,
        )

    def _undefined_local(self, name: str, where: Location) -> ConfigError:
        hint = name_hint(
            "local",
            name,
            sorted(self.local_defs),
            "defined locals",
            "no locals are defined; add `locals { " + name + " = ... }`",
        )
        return StaticError(f"undefined local value local.{name}", location=where, hint=hint)

    def _local_cycle(self, name: str) -> ConfigError:
        members = self.evaluating[self.evaluating.index(name) :]
        # Start the cycle at its first name in sorted order, so it reads (and is
        # reported) the same whichever local was evaluated first.
        start = members.index(min(members))
        cycle = [*members[start:], *members[:start], min(members)]
        attribute = self.local_defs[min(members)][0]
        return StaticError(
            "locals refer to each other in a cycle: " + " -> ".join(f"local.{n}" for n in cycle),
            location=attribute.location,
            hint="break the cycle: one of these locals must not depend on the others",
        )

    def _evaluate_local(self, name: str) -> JsonValue:
        # Imported here: the evaluator reads locals through this module (a cycle).
        from dstream.config.evaluate import Evaluator

        attribute, source = self.local_defs[name]
        self.evaluating.append(name)
        try:
            value = Evaluator(source, self).eval(attribute.expr)
        except ConfigError as exc:
            self.local_errors[name] = exc
            raise
        finally:
            self.evaluating.pop()
        self.local_values[name] = value
        return value


class StaticError(ConfigError):
    """An expression wrong for any input: an undefined local or variable, an unknown
    function, locals in a cycle. `try()` and `can()` do not hide it, as in Terraform
    (they catch what depends on values: a missing key, a failed conversion)."""


class FailsWhereUsed(ConfigError):
    """A value the environment did not give: a template that failed while evaluated
    ({{ env "X" }} with X unset), env("X") of an unset X without a default. It fails only
    the task that uses the value (loader._build_task_lazily), not the file: its other
    tasks still run, and list, state and runs still work. `origin`: the failure itself,
    when this is the use of a local that failed."""

    def __init__(
        self,
        reason: str,
        *,
        location: Optional[object] = None,
        hint: Optional[str] = None,
        origin: Optional[FailsWhereUsed] = None,
    ) -> None:
        super().__init__(reason, location=location, hint=hint)
        self.origin: FailsWhereUsed = origin or self


class MissingValue(ConfigError):
    """A declared variable that got no value at all (not one given a wrong value): where
    the command needs no value (`Module.needed`), what uses it goes unchecked instead."""


class _Unknown:
    """The value of a provider's config key that needs a variable without a value, where
    the command needs none (lint): the key is there, its value is not known, and the
    schema check passes over it (config/provider_config.py). Never sent anywhere: only
    the commands that load at NOWHERE (lint, list) make it, and neither starts a
    provider with a config."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "(not known without its variable)"


UNKNOWN: Any = _Unknown()  # Any: it stands for a value of any type


def name_hint(root: str, name: str, known: list[str], listing: str, when_none: str) -> str:
    """The hint for an unknown ROOT.NAME: the nearest known name, then all of them under
    `listing`, or `when_none` when there are none."""
    guess = nearest(name, known)
    hint = f"did you mean {root}.{guess}? " if guess else ""
    return hint + (f"{listing}: {', '.join(known)}" if known else when_none)


def check_local_name(name: str, where: Location) -> None:
    if name in RESERVED_NAMES:
        raise ConfigError(
            f"{name!r} is a reserved word and cannot name a local value",
            location=where,
            hint=f"rename it, e.g. {name}_value; reserved: {', '.join(sorted(RESERVED_NAMES))}",
        )


def declare_locals(module: Module, sources: list[SourceFile], diagnostics: Diagnostics) -> None:
    """Record every file's locals in `module` (evaluated later, on first use)."""
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
        if blocks:
            _check_locals_block(blocks[0], diagnostics)
            for name, attribute in blocks[0].body.attributes.items():
                diagnostics.attempt(partial(_declare_local, module, name, attribute, source))


def _check_locals_block(block: Block, diagnostics: Diagnostics) -> None:
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


def _declare_local(module: Module, name: str, attribute: Attribute, source: SourceFile) -> None:
    check_local_name(name, attribute.location)
    if name in module.local_defs:
        first = module.local_defs[name][0].location
        raise ConfigError(
            f"local value {name!r} is defined twice (first at {first})",
            location=attribute.location,
            hint="locals are shared by all files of a configuration; rename one",
        )
    module.local_defs[name] = (attribute, source)
