"""The backstop of `dstream deploy kubernetes`: no manifest holds a value dstream masks
as a secret (written masked it would be wrong, written as it is, a leak), but a task's
name (`kept_names`); a refusal names the value by what it is (a variable, an environment
variable), never by the value, and says what to do for its source."""

from __future__ import annotations

from dstream.config.redact import Redactor, redact_data, remembered
from dstream.config.scope import ENV_VAR_PREFIX
from dstream.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Optional

    from dstream.config.model import Project
    from dstream.deploy.inputs import Inputs


def kept_names(project: Project) -> frozenset[str]:
    """The sensitive values the manifests may hold, as they are: those that are a task's
    name. The manifests name the task's Deployment, its label and its pod's arguments by
    it, so such a value is no secret they could keep (the files name the task anyway);
    refused, the task could not be deployed at all. The view writes the manifests
    unmasked when there are any (cli/deploy.py): masked, they would be wrong."""
    return remembered() & frozenset(project.tasks)


def refuse_secrets(manifests: list[dict[str, object]], inputs: Inputs, values_file: str) -> None:
    """The backstop: no manifest holds a value dstream masks as a secret, but for
    `kept_names`. Says which value by what names it (a variable, never the value)."""
    kept = kept_names(inputs.project)
    check = Redactor(remembered() - kept).value if kept else redact_data
    for manifest in manifests:
        found = _masked(manifest, "", check)
        if found is not None:
            raise _holds_a_secret(manifest, *found, inputs.sources, values_file, check)


def _holds_a_secret(
    manifest: dict[str, object],
    where: str,
    value: object,
    sources: dict[str, str],
    values_file: str,
    check: Callable[[object], object],
) -> ConfigError:
    meta = manifest["metadata"]
    assert isinstance(meta, dict)
    what = f'{manifest["kind"]} "{meta["name"]}", {where}'
    named = [label for label, secret in sources.items() if Redactor([secret]).value(value) != value]
    if not named and isinstance(value, str) and f'["{values_file}"]' in where:
        variables = [f"var.{name}" for name in _masked_variables(value, check)]
        if variables:  # a password given to a variable that is not sensitive
            return ConfigError(
                f"the manifests would hold a secret: {what} holds the value of "
                f"{' and '.join(variables)}, which dstream masks as a secret (a password "
                "in a URL, or a value a provider is given under a key such as password): "
                "written masked, the manifests would be wrong; written as it is, the "
                "secret would be out",
                hint="declare that variable sensitive = true, without a default: the pods "
                "then read it from the Secret",
            )
    if not named and isinstance(value, str) and where.startswith("data["):
        line = _masked_line(value, check)
        if line is not None:  # a secret the files hold themselves
            name = where[len('data["') : -len('"]')]
            return ConfigError(
                f"the manifests would hold a secret: {what} holds one at {name}:{line} (a "
                "password in a URL, or a value under a key such as password or token), "
                "which dstream masks in every output: written masked, the manifests would "
                "be wrong; written as it is, the secret would be out",
                hint="move it into a sensitive variable without a default (`variable "
                '"x" { sensitive = true }`, then `${var.x}` there): the pods read it from '
                "the Secret",
            )
    if not named:
        return ConfigError(
            f"the manifests would hold a secret: {what} holds a value dstream masks as one "
            "(a sensitive variable's, one of a credential of the environment such as "
            "*_PASSWORD or *_TOKEN, or one a provider is given under a key such as password "
            "or token)",
            hint="give a secret to the pods only through a sensitive variable without a "
            "default (it is read from the Secret); if that value is none, rename the "
            "environment variable holding it",
        )
    label = named[0]
    if f'["{values_file}"]' in where:
        hint = (
            f"a variable that is not sensitive was given it ({values_file} holds their "
            "values): declare that variable sensitive = true, without a default; the pods "
            "then read it from the Secret"
        )
    elif label.startswith("var."):
        variable = label.split()[0].removeprefix("var.")
        hint = (
            f"deploy does not need that value (it evaluates var.{variable} with a stand-in "
            f"and the pods read it from the Secret): run it without {ENV_VAR_PREFIX}"
            f"{variable} or --var {variable}=...; if the files hold the secret itself, "
            "remove it from them, or choose a secret that is no part of them"
        )
    else:
        variable = label.rsplit(" ", 1)[-1]
        hint = (
            f"if the files hold that credential, remove it from them; if its value is "
            f"only text they hold besides (a word, a host), run deploy without {variable} "
            f"in its environment (env -u {variable} dstream deploy ...), unless the "
            "configuration reads it with env()"
        )
    return ConfigError(
        f"the manifests would hold a secret: {what} holds the value of {label}, masked "
        "as a secret in every output: written masked, the manifests would be wrong; "
        "written as it is, the secret would be out",
        hint=hint,
    )


def _masked(
    value: object, path: str, check: Callable[[object], object]
) -> Optional[tuple[str, object]]:
    """Where in `value` `check` (a redactor) would mask something (a path such as
    `data["dstream.hcl"]`), and what it would mask there, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f'{path}["{key}"]' if path else str(key)
            if check(key) != key:
                return inner, key
            found = _masked(item, inner, check)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _masked(item, f"{path}[{index}]", check)
            if found is not None:
                return found
        return None
    return (path, value) if check(value) != value else None


def _masked_variables(values_json: str, check: Callable[[object], object]) -> list[str]:
    """The variables of the values file (a JSON object of them) whose value `check`
    masks, by name."""
    from dstream.protocol.values import decode_json

    try:
        values = decode_json(values_json.encode())
    except ValueError:
        return []
    if not isinstance(values, dict):
        return []
    return [str(name) for name, value in values.items() if check(value) != value]


def _masked_line(text: str, check: Callable[[object], object]) -> Optional[int]:
    """The number of the first line of a file's text in which `check` masks something
    (a secret within one line), or None."""
    for number, line in enumerate(text.splitlines(), start=1):
        if check(line) != line:
            return number
    return None
