"""`dstream provider test`: find the provider, tell its role if not given, run every
check that applies and collect a report."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from typing import Optional

from dstream.errors import ConfigError, DstreamError, UsageError, nearest
from dstream.kit.checks import CHECKS, checks_for
from dstream.kit.harness import Line, Session, Target, Timeout, run_environment
from dstream.kit.outcome import FAIL, PASS, SKIP, Outcome
from dstream.kit.probe import Probe
from dstream.kit.validate import frame_problem, parse_object
from dstream.records import field, record


@record
class Result:
    name: str
    description: str
    status: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "reason": self.reason,
        }


@record
class Report:
    provider: str
    role: str
    argv: list[str]
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status != FAIL for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "role": self.role,
            "argv": self.argv,
            "passed": self.count(PASS),
            "failed": self.count(FAIL),
            "skipped": self.count(SKIP),
            "checks": [r.to_dict() for r in self.results],
        }


def looks_like_ref(text: str) -> bool:
    """An OCI reference such as 127.0.0.1:5000/acme/counter:1.0 or ghcr.io/a/b@sha256:..."""
    if text.startswith((".", "/", "~")) or (os.sep != "/" and os.sep in text):
        return False  # a path, even when the file is missing
    first = text.split("/", 1)[0]
    return "/" in text and ("." in first or ":" in first or first == "localhost")


def resolve_argv(what: str) -> list[str]:
    """A path, a name on PATH, or an OCI reference (pulled into dstream's cache)."""
    if os.path.exists(what):
        path = os.path.abspath(what)
        if os.path.isdir(path):
            raise UsageError(
                f"{what} is a directory",
                hint="give the provider's executable, e.g. a scaffolded project's "
                "./bin/<name> or dist/plugin.linux_amd64",
            )
        if not os.access(path, os.X_OK):
            raise UsageError(f"{path} is not executable", hint=f"chmod +x {path}")
        return [path]
    if looks_like_ref(what):
        from dstream.oci import resolve_provider_ref

        return [str(resolve_provider_ref(what))]
    if os.sep in what or what.startswith("."):
        raise UsageError(f"{what}: no such file", hint="check the path to the executable")
    found = shutil.which(what)
    if found is None:
        beside = os.path.join(os.path.dirname(sys.executable), what)
        found = beside if os.access(beside, os.X_OK) else None
    if found is None:
        raise UsageError(
            f"no provider {what!r}: not a file, not on PATH, not an OCI reference",
            hint="give a path (./my-provider), a name on PATH (dstream-counter) or a "
            "reference (registry.example.com/acme/provider:1.0)",
        )
    return [found]


def described_role(
    argv: list[str], timeout: float, env: Optional[dict[str, str]] = None
) -> Optional[str]:
    """The role a provider names in its answer to a describe probe (docs/protocol.md,
    section 2); None when it names none or does not answer. `env`: as Target.env."""
    from dstream.runtime.probe import run_probe

    found = run_probe(argv[0], run_environment(argv[0], None, env or {}), os.getcwd(), timeout)
    return found.role if found is not None else None


def infer_role(
    argv: list[str],
    config: dict[str, object],
    timeout: float,
    env: Optional[dict[str, str]] = None,
) -> str:
    """The role it describes itself with; else start it as an input with stdin closed:
    an input writes a frame; an output, given nothing, writes nothing more."""
    described = described_role(argv, timeout, env)
    if described is not None:
        return described
    target = Target(
        argv=argv, role="input", label=argv[0], config=config, env=env or {}, timeout=timeout
    )
    probe = Probe(target)
    with Session(target) as session:
        session.send(probe.command())
        session.close_stdin()
        lines: list[Line] = []
        try:
            while len(lines) < 2:
                line = session.read_line()
                if line is None:
                    break
                lines.append(line)
        except Timeout:
            pass
        ended = session.eof
    ready = False
    for line in lines:
        obj, _ = parse_object(line.raw)
        if obj is not None and "status" in obj:
            ready = obj.get("status") == "ready"
            continue
        if frame_problem(line.raw, 1 << 30) is None:
            return "input"  # a frame (or a legacy first line)
        if ready:
            return "output"  # ready, then text for the user: an output's summary line
    if ready and ended and len(lines) == 1:
        return "output"  # ready, then exit 0 on an empty stdin; a source would write
    raise UsageError(
        f"cannot tell whether {argv[0]} is an input or an output",
        hint="pass --role input or --role output",
    )


def refuse_unknown_checks(names: Optional[list[str]], role: Optional[str] = None) -> None:
    """Each of `names` is a check (one for `role`, when given): a check that does not run
    must not read as a provider that conforms."""
    every = list(dict.fromkeys(check.name for check in CHECKS))  # "eof" is in both roles
    ours = [check.name for check in checks_for(role)] if role else every
    for name in names or ():
        if name in ours:
            continue
        if name in every:
            roles = next(c.roles for c in CHECKS if c.name == name)
            raise UsageError(
                f"--check {name!r} tests {' and '.join(roles)} providers only, and this is "
                f"an {role}",
                hint=f"an {role}'s checks are: {', '.join(ours)}",
            )
        guess = nearest(name, every)
        known = f"the checks are: {', '.join(every)}"
        raise UsageError(
            f"--check {name!r}: no such check",
            hint=f"did you mean {guess!r}? {known}" if guess else known,
        )


def run_suite(target: Target, *, only: Optional[list[str]] = None) -> Report:
    refuse_unknown_checks(only, target.role)
    report = Report(provider=target.label, role=target.role, argv=target.argv)
    probe = Probe(target)
    for check in checks_for(target.role):
        if only and check.name not in only:
            continue
        try:
            outcome = check.run(probe)
        except DstreamError:
            raise
        except Exception as exc:  # a bug of the suite must not read as the provider's
            outcome = Outcome(
                FAIL,
                f"the check itself crashed: {type(exc).__name__}: {exc} "
                f"(please report) {traceback.format_exc(limit=1).strip()}",
            )
        report.results.append(Result(check.name, check.description, outcome.status, outcome.reason))
    return report


def parse_json_option(text: Optional[str], option: str) -> Optional[dict[str, object]]:
    if text is None:
        return None
    # decode_json: exact integers, as dstream sends them
    from dstream.protocol.values import decode_json, json_kind

    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as f:
                text = f.read().decode()
        except OSError as exc:
            raise UsageError(
                f"{option}: cannot read {text[1:]}: {exc.strerror}",
                hint=f"{option} @FILE reads the JSON from FILE: check its path",
            ) from None
    try:
        value = decode_json(text)
    except ValueError as exc:
        raise ConfigError(
            f"{option} is not JSON: {exc}", hint=f"""e.g. {option} '{{"interval": 0}}'"""
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{option} must be a JSON object, got {json_kind(value)}",
            hint=f"""e.g. {option} '{{"interval": 0}}'""",
        )
    return dict(value)


def parse_env_option(pairs: Optional[list[str]]) -> dict[str, str]:
    """`--env NAME=VALUE`, repeatable: what the provider gets on top of what `dstream
    run` gives it, as its block's `env` map (harness.run_environment)."""
    env: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name or not name.replace("_", "a").isalnum():
            from dstream.config.redact import masked_assignment

            # The value may be a credential (PGPASSWORD=...), whatever its name.
            shown = masked_assignment(pair)
            raise UsageError(
                f"--env {shown!r} is not NAME=VALUE",
                hint='e.g. --env JAVA_HOME="$JAVA_HOME": the provider gets only what '
                "dstream run gives it (docs/protocol.md, section 1) and these",
            )
        env[name] = value
    return env
