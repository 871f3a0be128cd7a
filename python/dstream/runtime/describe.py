"""What a provider is, learnt without giving it a command: its handshake's features
(does it manage infrastructure?) and the JSON Schema of its config (docs/protocol.md,
section 2, "Describing a provider without a command").

Never sends a command line: the original .NET SDK takes any command it does not know
for `run`. In this order:

1. the describe cache (dstream's cache dir, describe/): the last handshake seen from
   this very executable, keyed by its identity (path, device, inode, size, mtime), and
   written whenever a provider handshakes in `run` or a lifecycle command too;
2. a provider this installation ships (`dstream-counter`, ...): its own class says it,
   imported in-process on a cache miss (the key then adds the package's files, so an
   edited provider is described again);
3. a probe: the executable started with DSTREAM_DESCRIBE=1 and stdin at /dev/null. A
   provider of this protocol writes its ready line and exits 0; a provider of the
   original DStream reads an empty line and exits 1 without a handshake: it manages no
   infrastructure and describes no config. Bounded by PROBE_TIMEOUT, then killed; that
   silence is kept in the cache too (`probe_unanswered`), so the executable is not
   probed again until it changes (its key), and `lint` and `plan` say its config went
   unchecked.
4. `lifecycle = true|false` in the provider's block overrides the lifecycle feature,
   and saves a probe of a provider that must not be started even so (its schema is
   then known only from 1 or 2).

A container image (provider_image) is not probed: it is known from the cache, by the
ID of the image the engine holds under its tag (a run keeps its handshake so; asked
only where a probe may be: not by `run`), or the `lifecycle` attribute, else described
as unknown.

Here: what is asked when (`describe`), and the configs checked against the schemas
learnt (`check_configs`). The description and its cache are runtime/description.py's,
the asking (a class, a probe) runtime/probe.py's.
"""

from __future__ import annotations

from dstream.config.model import ProviderSpec
from dstream.errors import ConfigError, DstreamError, ProviderRefused
from dstream.protocol.frames import FEATURE_LIFECYCLE
from dstream.records import field, record, replace
from dstream.runtime.description import (
    CONFIG,
    PROBE,
    Description,
    cache_key,
    image_key,
    is_own_script,
    load,
    store,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.model import Project, TaskSpec


# Keys of executables whose probe timed out in this process: the cache remembers it, but
# may not be writable (a command checks configs, then asks providers: one silent
# executable costs one PROBE_TIMEOUT, not several).
_UNANSWERED: set[str] = set()


# -- the entry point ---------------------------------------------------------------------


def executable_of(
    spec: ProviderSpec, base_dir: str, *, task: str, pull: bool = True
) -> Optional[str]:
    """The local executable `spec` runs; None for an image, and with `pull=False` for a
    reference the cache does not hold. Raises ConfigError for a provider that cannot be
    found."""
    if spec.provider_image:
        return None
    if spec.provider_ref and not pull:
        from dstream.oci import cached_provider_ref

        cached = cached_provider_ref(spec.provider_ref)
        return str(cached) if cached else None
    from dstream.runtime.resolve import resolve

    return resolve(spec, base_dir, task=task).argv[0]


def describe(
    spec: ProviderSpec,
    base_dir: str,
    task: TaskSpec,
    *,
    probe: bool = True,
    pull: bool = True,
    schema: bool = False,
) -> Description:
    """What `spec`'s provider is (see the module's docstring); `schema`: its config
    schema is wanted too, so a cached handshake from a run does not do. Raises
    ConfigError when its executable cannot be found, as starting it would."""
    executable = executable_of(spec, base_dir, task=task.name, pull=pull)
    found = None
    if executable is not None:
        found = _learn(executable, spec, task, base_dir, probe=probe, schema=schema)
    elif spec.provider_image and probe and spec.lifecycle is None:
        found = _seen_image(spec.provider_image)
    if spec.lifecycle is not None:
        features = set(found.features) if found else set()
        if spec.lifecycle:
            features.add(FEATURE_LIFECYCLE)
        else:
            features.discard(FEATURE_LIFECYCLE)
        said = "true" if spec.lifecycle else "false"
        return replace(
            found or Description(),
            features=frozenset(features),
            source=CONFIG,
            note=f"lifecycle = {said} in its block",
            probe_unanswered=False,  # the block says what it is: it is not probed
        )
    if found is None:
        if spec.provider_image:
            note = "it is a container image dstream has not seen start"
        elif executable is None:
            note = "it is not pulled yet"
        else:
            note = "dstream has not seen it start"
        return Description(note=note)
    return found


def _seen_image(image: str) -> Optional[Description]:
    """What a run's handshake said of the image the engine holds under `image` now, by
    its ID (the tag moved to another image is another provider); None when the engine
    holds no such image or does not answer (it is not pulled to be described)."""
    from dstream.runtime.container import local_image_id

    image_id = local_image_id(image)
    key = image_key(image_id) if image_id else None
    return load(key) if key else None


def _learn(
    executable: str, spec: ProviderSpec, task: TaskSpec, base_dir: str, *, probe: bool, schema: bool
) -> Optional[Description]:
    """What the cache, the provider's own class or (`probe`) a probe say of
    `executable`; None when none of them may be asked. What is learnt is cached."""
    own = is_own_script(executable)
    key = cache_key(executable, own)
    cached = load(key) if key else None
    # One learnt from a run is asked again for its schema, unless it never answers.
    if cached is not None and (cached.schema_known or cached.probe_unanswered or not schema):
        return cached
    found = None
    if own:  # a cache miss: the probing module only then (it imports subprocess's kin)
        from dstream.runtime.probe import builtin_description

        found = builtin_description(executable)
    if found is None and probe and spec.lifecycle is None:
        found = _probed(executable, spec, task, base_dir, key, cached)
    if found is not None and key is not None:
        store(key, found, cached)
    return found or cached


def _probed(
    executable: str,
    spec: ProviderSpec,
    task: TaskSpec,
    base_dir: str,
    key: Optional[str],
    cached: Optional[Description],
) -> Description:
    """The probe's answer, or its silence past PROBE_TIMEOUT, which is kept as an answer
    is (not probed again until the executable changes: it would cost as much every
    time); `cached`: what a run said of it, which stands."""
    from dstream.runtime.probe import NO_ANSWER, run_probe

    found = None
    if key is None or key not in _UNANSWERED:
        from dstream.runtime.launch import provider_env

        found = run_probe(executable, provider_env(spec, task), base_dir)
    if found is None:
        if key is not None:
            _UNANSWERED.add(key)
        silent = Description(source=PROBE, note=NO_ANSWER, schema_known=False)
        return replace(cached or silent, probe_unanswered=True)
    if cached is not None and found.protocol is None:
        # Asked only for its schema, it did not answer the probe with one: what its run
        # said stands, and it describes no schema.
        return replace(cached, schema_known=True)
    return found


# -- checking dstream.hcl against what providers describe --------------------------------


@record(frozen=True)
class Unchecked:
    """A provider of a task whose config went unchecked: its probe did not answer."""

    task: str
    spec: ProviderSpec
    error: ConfigError  # what lint and plan warn of


@record
class ConfigCheck:
    """What checking the tasks' provider configs against their schemas found."""

    problems: list[ConfigError] = field(default_factory=list)  # what a schema refuses
    # Providers whose config went unchecked because their probe did not answer, though
    # they may describe a schema: lint and plan warn of them (run leaves it to them: it
    # does not probe).
    unchecked: list[Unchecked] = field(default_factory=list)


UNANSWERED_HINT = (
    "make it answer the describe probe: started with DSTREAM_DESCRIBE=1 and stdin at "
    "/dev/null, it writes its ready line with `config_schema` and exits 0, as the SDK "
    "does (docs/protocol.md, section 2); or give its block `lifecycle = true` (it "
    "implements init/plan/status/destroy) or `lifecycle = false`: it is then not probed, "
    "and its config is left to it. It is probed again once its executable changes "
    "(`touch` it)"
)


def check_configs(
    project: Project, names: list[str], *, probe: bool = True, pull: bool = True
) -> ConfigCheck:
    """Every config key of the tasks' providers that their own schema refuses, located
    in dstream.hcl. A provider that describes no schema is not checked here (it still
    checks its config itself at start); one that cannot be found is left to `pull=False`
    callers' own report (starting it fails with that error)."""
    check = ConfigCheck()
    for name in names:
        try:
            task = project.task(name)
        except DstreamError:  # a task broken by its template: using it says why
            continue
        for spec in (task.input, task.output):
            try:
                found = describe(spec, project.base_dir, task, probe=probe, pull=pull, schema=True)
            except ConfigError as exc:
                if pull:
                    check.problems.append(_of_task(exc, name))
                continue
            except DstreamError:  # a reference that cannot be pulled: start says why
                continue
            problems = _problems(name, spec, found)
            check.problems += problems
            if not problems and found.config_schema is None and found.probe_unanswered:
                check.unchecked.append(Unchecked(name, spec, _unchecked(spec)))
    return check


def _problems(task: str, spec: ProviderSpec, found: Description) -> list[ConfigError]:
    """What `found`, the description of `spec`'s provider, refuses of the block: its role
    (then its schema, another block's, is not checked), else its config's keys."""
    from dstream.config.provider_config import check_config

    wrong_block = _role_problem(task, spec, found)
    if wrong_block is not None:
        return [_of_task(wrong_block, task)]
    if found.config_schema is None:
        return []
    refused = check_config(
        spec.config,
        found.config_schema,
        provider=f"{spec.role} {spec.source!r}",
        locations=spec.config_locations,
        fallback=spec.location,
    )
    return [_of_task(exc, task) for exc in refused]


def explain_refusal(project: Project, task: TaskSpec, refused: ProviderRefused) -> DstreamError:
    """The error of a task whose provider refused its handshake (`refused.role`: in
    which block). `run` checks configs only against schemas known before it starts
    (refuse_bad_configs, probe=False), so a provider not described yet is probed now: it
    refused anyway, and a probe sends it no command. A problem its schema finds in the
    block is the task's error (file:line:col, exit 2, as `lint` and a later run say it),
    the refusal shown with it; none found, the refusal stands. One described before had
    its config checked before the start: the cache answers, it is not probed again.
    A refusal naming a config key (`field`) is placed where the block sets it."""
    spec = task.input if refused.role == "input" else task.output
    where = _key_location(spec, refused.field) if refused.field is not None else None
    if where is not None and refused.location is None:
        refused.place(where)
    try:
        found = describe(spec, project.base_dir, task, pull=False, schema=True)
    except DstreamError:  # it cannot be found now: nothing to add to its refusal
        return refused
    problems = _problems(task.name, spec, found)
    if not problems:
        return refused
    first = _first(problems)
    first.refusal = refused
    return first


def _key_location(spec: ProviderSpec, key: str) -> Optional[object]:
    """Where `spec`'s config sets the top-level `key` (its value), in any of the
    spellings a config key is accepted in (`maxCount` for `max_count`); None when it
    does not (a default, or a key the provider named wrongly)."""
    from dstream.config.provider_config import normalize_key

    wanted = normalize_key(key)
    for path, where in spec.config_locations.items():
        if len(path) == 1 and isinstance(path[0], str) and normalize_key(path[0]) == wanted:
            return where.value
    return None


def _role_problem(task: str, spec: ProviderSpec, found: Description) -> Optional[ConfigError]:
    """A provider that names the role of the task's other block (docs/protocol.md,
    section 2): started in this one, it would refuse (the SDK does) or misread the
    stream."""
    if found.role is None or found.role == spec.role:
        return None
    return ConfigError(
        f"task {task!r}: its {spec.role} block runs {spec.source!r}, an {found.role} "
        "provider (it names its role when described)",
        location=spec.location,
        hint=f"an {found.role} provider belongs in a task's {found.role} block: swap the "
        f"task's input and output blocks if they are the wrong way round, or run an "
        f"{spec.role} provider here",
    )


def _of_task(exc: ConfigError, task: str) -> ConfigError:
    exc.task = task
    return exc


def _unchecked(spec: ProviderSpec) -> ConfigError:
    from dstream.runtime.probe import NO_ANSWER

    what = f"{spec.role} {spec.source!r}: its config was not checked: {NO_ANSWER}"
    return ConfigError(what, location=spec.location, hint=UNANSWERED_HINT)


def refuse_bad_configs(project: Project, names: list[str], *, probe: bool = True) -> ConfigCheck:
    """Before anything starts: raise the first config problem (exit 2), saying how many
    more there are; else the check (what went unchecked). `probe=False` (`run`): only
    what is known without starting anything (built-in providers, and those described
    before), as a probe of a script that does not read its command line would run it
    once more."""
    check = check_configs(project, names, probe=probe)
    if not check.problems:
        return check
    raise _first(check.problems)


def _first(problems: list[ConfigError]) -> ConfigError:
    """The first of `problems`, its hint saying how many more there are."""
    first = problems[0]
    if len(problems) > 1:
        more = f"{len(problems) - 1} more config problem(s): `dstream lint` lists them all"
        first.hint = f"{first.hint}; {more}" if first.hint else more
    return first
