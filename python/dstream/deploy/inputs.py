"""What the pods of a deployment are given so that they evaluate the configuration as
`deploy` did, and never a sensitive value:

- the text of the .hcl files;
- the value of each variable that is not sensitive and was given from outside the files
  (--var, --var-file, DSTREAM_VAR_), as `deploy` evaluated it: a var file that reads
  env() or file() is read here, once, not again in every pod;
- each sensitive variable as a key of the Secret: its value is never read into the
  manifests, and `deploy` evaluates the configuration with a stand-in of its type.

A sensitive variable with a default is refused: its value is in the text of the files.
So is a state DSN holding a password not made of a sensitive value nor read by env()
(written in the files or given by a variable not sensitive; deploy/origin.py tells
which from the expressions): the ConfigMap would hold it in clear text; and so is such
a secret given to a provider under a secret-looking key (`dstream show`'s rule: an
`env` TOKEN or PGPASSWORD, a config's password, api_key or dsn with a password).

What the pods do not get is named for the caller to tell (`lacking`): a file the
configuration reads with file(), and a provider given by a path relative to it: the
pods resolve both in the ConfigMap's directory, which holds the .hcl files only. So is
a relative path the pods would write (`writing`): in that directory, read-only.
"""

from __future__ import annotations

import os
import re

from dstream.config.connstr import dsn_secrets, is_connection_key
from dstream.config.loader import Analysis, analyze
from dstream.config.model import Project
from dstream.config.redact import is_secret_variable, leaves, nearest_key
from dstream.config.scope import ENV_VAR_PREFIX
from dstream.deploy.origin import Origin, evaluate, provider_secrets
from dstream.errors import ConfigError
from dstream.protocol.values import encode_json
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Optional

    from dstream.config.model import Location, ProviderSpec
    from dstream.config.provider_config import KeyPath
    from dstream.config.variables import Declared
    from dstream.protocol.values import JsonValue

# What a sensitive variable is evaluated with here, by its type (the configuration must
# evaluate; the value, never written, does not matter): remembered as sensitive like any.
PLACEHOLDER = "placeholder-from-a-secret"
_PLACEHOLDERS: dict[str, JsonValue] = {
    "number": 918273645,  # no manifest holds it, nor what arithmetic makes of it
    "bool": False,
    "list": [],
    "set": [],
    "tuple": [],
    "map": {},
    "object": {},
}


@record
class Inputs:
    project: Project
    files: dict[str, str]  # the text of each .hcl file, by its path
    values: dict[str, JsonValue]  # not sensitive, given from outside the files
    # Each sensitive variable: whether its Secret key is optional (it has a default,
    # null or "", the only ones allowed).
    secrets: dict[str, bool]
    withheld: list[str]  # sensitive variables given a value here: the pods read the Secret
    # What the pods lack, each as the configuration names it, with what names it
    # ("file()", "task \"a\" output provider_path"): see `lacking`.
    lacking: list[tuple[str, str]]
    # Relative paths the pods would write, as `lacking`: see `writing`.
    written: list[tuple[str, str]]
    # The secrets deploy was given, by what names them ("var.pw (sensitive)", "the
    # environment variable PGPASSWORD"): to say which one a manifest would hold.
    sources: dict[str, str] = field(default_factory=dict, repr=False)


def collect(
    config: Optional[str],
    variables: list[str],
    var_files: list[str],
    environ: Mapping[str, str],
    secret: str,
) -> Inputs:
    """The configuration evaluated as the pods will evaluate it, with the Secret named
    `secret` holding the sensitive variables."""
    first = analyze(config, variables, var_files, environ)
    sensitive = {name: item for name, item in first.variables.items() if item.sensitive}
    for item in sensitive.values():
        _refuse_a_secret_default(item, secret)
    first_environ, environ = environ, dict(environ)
    stand_ins = sorted(name for name in sensitive if ENV_VAR_PREFIX + name not in environ)
    for name in stand_ins:
        environ[ENV_VAR_PREFIX + name] = _placeholder_text(sensitive[name].kind)
    # Evaluated again only with stand-ins: without any, it is the same evaluation.
    result = analyze(config, variables, var_files, environ) if stand_ins else first
    error = result.diagnostics.first_error
    if error is not None:
        if stand_ins and not any(d.location == error.location for d in first.diagnostics.errors):
            error.hint = f"{error.hint}; {_stand_in_hint(stand_ins)}"
        raise error  # `dstream lint` lists them all
    assert result.project is not None
    values, withheld = _given(result)
    textual = sorted(name for name, item in sensitive.items() if item.kind not in _PLACEHOLDERS)
    origin = evaluate(config, variables, var_files, environ, result.project, textual)
    _refuse_a_password_in_the_dsn(result.project, origin, values, secret)
    _refuse_provider_secrets(result.project, origin, values, secret)
    files = {}
    for path in result.files:
        with open(path, encoding="utf-8") as handle:
            files[path] = handle.read()
    secrets = {name: item.has_default for name, item in sorted(sensitive.items())}
    lacking = lacking_files(result, var_files) + lacking_providers(result.project)
    written = writing(result.project)
    sources = _sources(result, withheld, first_environ)
    return Inputs(result.project, files, values, secrets, withheld, lacking, written, sources)


def _sources(result: Analysis, withheld: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The sensitive values given to deploy (never written), by what names them: the
    sensitive variables given one, and the credentials of its environment."""
    found = {f"var.{name} (sensitive)": result.values[name].value for name in withheld}
    found.update(
        (f"the environment variable {name}", value)
        for name, value in sorted(environ.items())
        if not name.startswith(ENV_VAR_PREFIX) and is_secret_variable(name, value)
    )
    return {label: value for label, value in found.items() if isinstance(value, str)}


def lacking_files(result: Analysis, var_files: list[str]) -> list[tuple[str, str]]:
    """The files evaluating the configuration read besides its .hcl files and the var
    files (whose values the ConfigMap holds): those file() read, relative to the
    configuration's directory when in it."""
    assert result.project is not None
    base = result.project.base_dir
    known = {os.path.abspath(p) for p in [*result.files, *var_files]}
    return [
        (os.path.relpath(path, base) if path.startswith(base + os.sep) else path, "file()")
        for path in result.project.reads.files
        if path not in known
    ]


def lacking_providers(project: Project) -> list[tuple[str, str]]:
    """Providers given by a path relative to the configuration (a bare name is looked
    up on the image's PATH; an absolute path is the image's to hold)."""
    found = []
    for name, task in sorted(project.tasks.items()):
        for side in (task.input, task.output):
            path = side.provider_path or ""
            if os.sep in path and not os.path.isabs(path):
                found.append((path, f'task "{name}" {side.role} provider_path'))
    return found


# The config keys of dstream's own providers that name a path they write, by provider:
# a relative one is resolved in the configuration's directory, as dead_letter_path.
WRITTEN_PATHS = {"dstream-file": "path", "dstream-postgres-cdc": "dead_letter_path"}


def writing(project: Project) -> list[tuple[str, str]]:
    """Relative paths the pods would write: a task's dead_letter_path, and what dstream's
    own providers write (another provider's keys are its own to know)."""
    found = []
    for name, task in sorted(project.tasks.items()):
        if task.dead_letter_path and not os.path.isabs(task.dead_letter_path):
            found.append((task.dead_letter_path, f'task "{name}" dead_letter_path'))
        for side in (task.input, task.output):
            key = WRITTEN_PATHS.get(os.path.basename(side.provider_path or ""))
            path = side.config.get(key) if key else None
            if isinstance(path, str) and path and not os.path.isabs(path):
                found.append((path, f'task "{name}" {side.role} config.{key}'))
    return found


def _refuse_a_password_in_the_dsn(
    project: Project, origin: Origin, values: dict[str, JsonValue], secret: str
) -> None:
    """The ConfigMap holds the files' text and the given values: a password written
    in the DSN, or in a variable not sensitive, would be in it in clear text."""
    written = any(origin.written(p) for p in dsn_secrets(origin.project.state.dsn or ""))
    if not written and not _given_holds(dsn_secrets(project.state.dsn or ""), values):
        return
    raise _refusal(
        "the state dsn",
        "password",
        project.state.dsn_location,
        secret,
        "dsn",
        "pgpw",
    )


def _refuse_provider_secrets(
    project: Project, origin: Origin, values: dict[str, JsonValue], secret: str
) -> None:
    """The same for what a provider is given under a secret-looking key (what `dstream
    show` masks): an `env` entry such as TOKEN or PGPASSWORD, a config's `password`,
    `api_key` or a `dsn` holding a password."""
    for name, task in sorted(project.tasks.items()):
        twin = origin.project.tasks.get(name, task)
        for spec, evaluated in ((task.input, twin.input), (task.output, twin.output)):
            found = [path for path, value in provider_secrets(evaluated) if origin.written(value)]
            found += [
                path for path, value in provider_secrets(spec) if _given_holds([value], values)
            ]
            if not found:
                continue
            path = found[0]
            key = nearest_key(path)
            what = f'task "{name}" {spec.role} {_dotted(path)}'
            variable = re.sub(r"[^a-z0-9_]", "_", key.lower()) or "secret"
            if is_connection_key(key):  # a password, a SharedAccessKey=...
                kind, variable = "password or key", variable + "_secret"
            else:
                kind = "secret"
            raise _refusal(what, kind, _where(spec, path), secret, key, variable)


def _given_holds(secrets: list[str], values: dict[str, JsonValue]) -> bool:
    """Whether a value given from outside the files holds one of `secrets`: the ConfigMap
    holds those values (a var file reading env() included) in clear text."""
    return any(s and s in text for s in secrets for text in leaves(values))


def _refusal(
    what: str, kind: str, location: Optional[Location], secret: str, key: str, variable: str
) -> ConfigError:
    """The error for a `kind` of secret ("password", "secret", "password or key": a part
    of a connection string) under `key`, written in the files or given by a variable
    not sensitive, with how to give it from the Secret instead."""
    if key == "dsn":
        written = f'dsn = "postgresql://USER:${{var.{variable}}}@HOST/DB"'
    elif kind == "secret":
        written = f"{key} = var.{variable}"
    else:  # a part of a connection string
        written = f"{key} with that part as ${{var.{variable}}}"
    return ConfigError(
        f"{what} holds a {kind}, written in the files or given by a variable that is not "
        "sensitive: the manifests' ConfigMap would hold it in clear text",
        location=location,
        hint=f'declare it as a sensitive variable without a default (variable "{variable}" '
        f"{{ sensitive = true }}), write {written}, and put the {kind} in the Secret "
        f'"{secret}", key "{variable}" (kubectl create secret generic {secret} '
        f"--from-literal={variable}=...); or make the variable that gives the whole "
        f"{key} sensitive",
    )


def _dotted(path: KeyPath) -> str:
    """config.auth.api_key, env.TOKEN, config.hosts[0]"""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
                   for i, p in enumerate(path))  # fmt: skip


def _where(spec: ProviderSpec, path: KeyPath) -> Optional[Location]:
    """Where the value at `path` ("config", ...) was written, else its nearest parent's,
    else the provider block's (an env entry)."""
    if path[:1] == ("config",):
        inner = path[1:]
        while True:
            found = spec.config_locations.get(inner)
            if found is not None:
                return found.value
            if not inner:
                break
            inner = inner[:-1]
    return spec.location


def _given(result: Analysis) -> tuple[dict[str, JsonValue], list[str]]:
    """The values of the variables not sensitive given from outside the files, and the
    sensitive variables given a value."""
    values: dict[str, JsonValue] = {}
    withheld: list[str] = []
    for name, item in sorted(result.variables.items()):
        value = result.values[name].value
        if item.sensitive:
            if not _same(value, _PLACEHOLDERS.get(item.kind, PLACEHOLDER)):
                withheld.append(name)
        elif not (item.has_default and _same(value, item.default)):
            values[name] = value
    return values, withheld


def _stand_in_hint(names: list[str]) -> str:
    shown = ", ".join(f"var.{name}" for name in names)
    return (
        f"deploy evaluates {shown} with a stand-in of each one's type, not its value (it "
        f"is sensitive): if that is why, give it here a value of the right shape with "
        f"{ENV_VAR_PREFIX}<name>; it is never written into the manifests"
    )


def _refuse_a_secret_default(item: Declared, secret: str) -> None:
    """The ConfigMap holds the files' text: a sensitive default (but null or "") would be
    in it in clear text, and a pod would run with it whenever the Secret lacks the key."""
    if item.has_default and any(leaves(item.default)):
        attribute = item.block.body.attributes["default"]
        raise ConfigError(
            f'variable "{item.name}" is sensitive and has a default: the manifests would '
            "hold its value in clear text (the ConfigMap holds the .hcl files)",
            location=attribute.location,
            hint=f'remove the default and put the value in the Secret "{secret}", key '
            f'"{item.name}" (kubectl create secret generic {secret} '
            f"--from-literal={item.name}=...); locally, give it with --var or "
            f"{ENV_VAR_PREFIX}{item.name}",
        )


def _placeholder_text(kind: str) -> str:
    """The placeholder as an environment variable gives it: text, an HCL literal."""
    if kind in _PLACEHOLDERS:
        return encode_json(_PLACEHOLDERS[kind]).decode()
    return PLACEHOLDER


def _same(value: JsonValue, other: JsonValue) -> bool:
    """Equal as JSON: 1, 1.0 and true are three values (== would say one)."""
    return encode_json(value, sort_keys=True) == encode_json(other, sort_keys=True)
