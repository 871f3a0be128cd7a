"""Where a secret the configuration gives comes from (a DSN's password, a provider's
token): from outside the files (read with env(), or a sensitive variable's value), or
written in them, or given by a variable that is not sensitive. It is a fact about the
expressions, not about which values happen to hold the secret's text (PGUSER=postgres
does not make a literal password `postgres` read with env()): `deploy` evaluates the
configuration again with a unique stand-in for each value from outside the files that
may give a secret, and a secret comes from the files when what it evaluates to there
is neither made of stand-ins nor computed from a sensitive value.

The values replaced: each environment variable env() read whose value holds the text of
a secret (one that does not cannot give it whole), and each sensitive variable whose
stand-in is text. Should the configuration not evaluate with them (a stand-in where a
number is needed), the secrets are judged as evaluated: only a sensitive value's is
kept out, the others refused, as one in clear text would be.
"""

from __future__ import annotations

from dstream.config.connstr import connection_secrets, dsn_secrets
from dstream.config.loader import analyze
from dstream.config.redact import secrets_by_key
from dstream.config.scope import ENV_VAR_PREFIX
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Optional

    from dstream.config.model import Project, ProviderSpec
    from dstream.config.provider_config import KeyPath


@record
class Origin:
    """The configuration as evaluated with the stand-ins."""

    project: Project
    stand_ins: tuple[str, ...]

    def written(self, secret: str) -> bool:
        """Whether `secret`, as evaluated here, comes from the files: not empty (no
        secret), not made of stand-ins, not computed from a sensitive value."""
        if not secret or secret in self.project.sensitive_values:
            return False
        for stand_in in self.stand_ins:
            secret = secret.replace(stand_in, "")
        return bool(secret)


def evaluate(
    config: Optional[str],
    variables: list[str],
    var_files: list[str],
    environ: Mapping[str, str],
    project: Project,
    sensitive: list[str],
) -> Origin:
    """`project` evaluated again with stand-ins: of the `sensitive` variables (those
    whose stand-in is text), and of the environment variables holding a secret's text."""
    secrets = [s for s in _secrets(project) if s]
    replaced = dict(environ)
    stand_ins: list[str] = []

    def stand_in() -> str:
        # Letters and digits only (a URI keeps them as they are), ended so that no
        # stand-in is part of another ("...1x" is not in "...10x").
        stand_ins.append(f"dstreamstandin{len(stand_ins)}x")
        return stand_ins[-1]

    for name, value in sorted(project.reads.env.items()):
        if name.startswith(ENV_VAR_PREFIX) or not value:
            continue
        if any(secret in value for secret in secrets):
            replaced[name] = stand_in()
    # After the others, so that each wins (--var is given last: it wins over the
    # environment and var files).
    given = [f"{name}={stand_in()}" for name in sensitive]
    if not stand_ins:
        return Origin(project, ())
    result = analyze(config, [*variables, *given], var_files, replaced)
    if result.project is None or result.diagnostics.first_error is not None:
        return Origin(project, ())
    return Origin(result.project, tuple(stand_ins))


def _secrets(project: Project) -> Iterator[str]:
    yield from dsn_secrets(project.state.dsn or "")
    for task in project.tasks.values():
        for spec in (task.input, task.output):
            yield from (value for _, value in provider_secrets(spec))


def provider_secrets(spec: ProviderSpec) -> Iterator[tuple[KeyPath, str]]:
    """What a provider is given under a secret-looking key (`secrets_by_key`), but a
    whole connection string holding secrets: its secrets are judged, not the text
    around them (a host name is not one)."""
    for path, value in secrets_by_key({"config": spec.config, "env": spec.env}):
        if not connection_secrets(value):
            yield path, value
