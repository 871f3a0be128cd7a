"""Secrets never reach any output: the one redactor, and `dstream show`'s documents.

What is secret (a *sensitive value*):
- the value of a `sensitive = true` variable, and every value the evaluator computes
  from one (string templates, function results, arithmetic: see config/taint.py);
- the value of each variable of dstream's own environment whose name says it is a
  credential (DSTREAM_REGISTRY_PASSWORD, GITHUB_TOKEN, DOCKER_AUTH_CONFIG, *_PASSWORD,
  *_TOKEN, *_SECRET*, *_KEY, ...: `is_secret_variable`), and every value the evaluator
  computes from one that the configuration reads (env(), {{ env }}), as from a
  sensitive variable's;
- what a task gives a provider under a secret-looking key (`is_secret_key`, the rule
  `dstream show` hides values by): such a text, or what a connection string holds that
  is secret, its password or a SharedAccessKey (`secrets_by_key`).

How it is masked: a sensitive value of at least MIN_SECRET_LENGTH characters is
replaced by `***` wherever it appears in a text, and so are its common encodings: JSON
string escaping (Python's, .NET's and Go's), Python-repr escaping, URL encoding, hex,
and base64 (standard and URL-safe, padded or not, and inside a longer base64 text at any
alignment, with the groups that mix it with its neighbours). A value with white space
around it or on several lines is masked without that white space and line by line
(`_parts`): line-based channels see its lines one at a time; blank lines and a PEM's
BEGIN/END lines are no secret.

Mask, then cut: a channel that shortens a text masks it first (`redact_cut`); a text cut
before dstream's Python sees it (the pump's frame excerpt and legacy log lines, a
stderr line cut at its bound, runtime/pipes.py) also has the fragment of a secret at a
cut edge masked (`redact_edges`).

Where: the configuration loader `remember`s sensitive values as it evaluates them,
and the secrets under secret-looking keys once the project is built (`remember_project`);
every channel passes its text through `redact_text` (or a structure through
`redact_data`: a checkpoint written verbatim in one, a `Fragment`, by its text) once,
at the point where it leaves dstream: `cli.view.View` (stdout and
stderr of every command, `--json` documents, errors, quoted provider stderr, lifecycle
results), `dstream.logs` (every level and format, provider stderr lines and the fields
of their structured records), the output lines `run` prints, and crash reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from dstream.config.connstr import (
    MIN_SECRET_LENGTH,
    connection_secrets,
    embedded_secrets,
    is_connection_key,
    is_secret_key,
)
from dstream.config.model import Project, ProviderSpec, TaskSpec
from dstream.protocol.values import Fragment, decode_json
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.encodings import Base64Finder
    from dstream.config.provider_config import KeyPath

REDACTED = "***"
# A line of a multi-line secret shorter than this is masked only within the whole: a
# kubeconfig's "kind: Config" or "users:" would be masked in every output, and its key
# material (a PEM's lines of 64) is longer.
MIN_LINE_LENGTH = 16
# Credential variables of dstream's environment that `is_secret_key` would not name.
CREDENTIAL_VARIABLES = frozenset({"DOCKER_AUTH_CONFIG", "REGISTRY_AUTH"})
_NOT_CREDENTIALS = frozenset({"PWD", "OLDPWD"})  # "pwd" names a password elsewhere
_SWITCH_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none"})
# dstream's own settings and credentials: never passed to a provider, not even when a
# task's inherit_env names them (a task's env map may pass a value explicitly).
OWN_PREFIX = "DSTREAM_"
OWN_CREDENTIALS = frozenset(
    {"GITHUB_TOKEN", "DOCKER_AUTH_CONFIG", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"}
)


def is_own_credential(name: str) -> bool:
    return name.startswith(OWN_PREFIX) or name in OWN_CREDENTIALS


@record(frozen=True)
class _Matchers:
    secrets: frozenset[str]  # what they match
    literal: re.Pattern[str]  # the forms of `encodings`
    base64: Base64Finder
    edge_forms: tuple[str, ...]  # what a fragment at a cut edge is a part of (`edges`)


class Redactor:
    """Masks a set of sensitive values, and their encodings, in texts and structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Replaced whole, never changed: threads redact while another adds secrets.
        self._secrets: frozenset[str] = frozenset()
        self._matchers: Optional[_Matchers] = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {
            part
            for secret in secrets
            if isinstance(secret, str)
            for part in _parts(secret)
            if len(part) >= MIN_SECRET_LENGTH
        }
        if not new <= self._secrets:
            self._secrets = self._secrets | new

    def __bool__(self) -> bool:
        return bool(self._secrets)

    @property
    def secrets(self) -> frozenset[str]:
        """What it masks (each secret's parts, `_parts`)."""
        return self._secrets

    def _compiled(self) -> _Matchers:
        """The matchers of the current secrets, built once for each set of them."""
        matchers, secrets = self._matchers, self._secrets
        if matchers is None or matchers.secrets is not secrets:
            from dstream.config.encodings import Base64Finder, encodings, plain_base64, utf8

            forms = {form for secret in secrets for form in encodings(secret)}
            ordered = sorted(forms, key=lambda f: (-len(f), f))  # the longest match wins
            literal = re.compile("|".join(re.escape(f) for f in ordered))
            base64 = Base64Finder(utf8(secret) for secret in secrets)
            edge_forms = tuple(forms | {b64 for s in secrets for b64 in plain_base64(s)})
            matchers = self._matchers = _Matchers(secrets, literal, base64, edge_forms)
        return matchers

    def text(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        matchers = self._compiled()
        spans = [match.span() for match in matchers.literal.finditer(text)]
        spans += matchers.base64.spans(text)
        pieces: list[str] = []
        shown = 0  # the end of the last mask
        for start, end in sorted(spans):
            if start < shown:  # overlapping the mask before: one mask for both
                shown = max(shown, end)
                continue
            pieces += [text[shown:start], REDACTED]
            shown = end
        return "".join(pieces) + text[shown:] if pieces else text

    def cut(self, text: str, limit: int, mark: str = "…") -> str:
        """`text` masked, then cut to `limit` characters (`mark` ending one that was):
        cut first, a secret across the cut would show its first part."""
        text = self.text(text)
        return text if len(text) <= limit else text[: max(0, limit - len(mark))] + mark

    def edges(self, text: str, *, cut_before: bool = False, cut_after: bool = False) -> str:
        """`text` masked, and, for a text something outside dstream's Python cut (the
        pump's excerpt, a stderr line split by the reader), its fragment of a secret at
        a cut edge too: at its end, the longest start of a secret or of one of its
        encodings (`cut_after`); at its start, the longest end of one (`cut_before`);
        from MIN_SECRET_LENGTH characters on."""
        text = self.text(text)
        if not self._secrets or not text:
            return text
        from dstream.config.encodings import longest  # loaded by _compiled

        forms = self._compiled().edge_forms
        # A cut in bytes may split a character, decoded as U+FFFD: part of the fragment.
        if cut_after and (size := longest(body := text.rstrip("\ufffd"), forms, at_end=True)):
            text = body[: len(body) - size] + REDACTED
        if cut_before and (size := longest(body := text.lstrip("\ufffd"), forms, at_end=False)):
            text = REDACTED + body[size:]
        return text

    def value(self, value: object) -> object:
        """A copy of a JSON-like value with every string (keys too, each kept apart:
        `_keys`) redacted, every number whose text holds a secret replaced by "***",
        and every Fragment holding a secret replaced by its value, redacted
        (`_fragment`)."""
        if not self._secrets:
            return value
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in self._keys(value).items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(value)
            return REDACTED if self.text(text) != text else value
        if isinstance(value, Fragment):
            return self._fragment(value)
        return value

    def _keys(self, mapping: dict[object, object]) -> dict[object, object]:
        """`mapping` with its keys masked, every entry kept: a masked key that another
        key already takes (`{for t in var.tables : t => ...}` masks each key to `***`)
        is numbered, `***#2`, `***#3`, ..., so that no entry overwrites another."""
        masked = {key: self.text(key) if isinstance(key, str) else key for key in mapping}
        taken = {key for key, shown in masked.items() if shown == key}
        out: dict[object, object] = {}
        for key, item in mapping.items():
            shown = masked[key]
            if shown != key:
                number = 1
                while shown in taken:
                    number += 1
                    shown = f"{masked[key]}#{number}"
                taken.add(shown)
            out[shown] = item
        return out

    def _fragment(self, fragment: Fragment) -> object:
        """A Fragment (a stored checkpoint's exact JSON, written verbatim) as it is when
        its text holds no secret; else its value, decoded and redacted as any value, so
        that a secret that is a number becomes "***" and the output stays valid JSON.
        Text that is no JSON value (no checkpoint is: they are checked when stored) is
        shown as a string, redacted; a secret the text held but no member of the value
        does (one across a key and its value) hides the whole value."""
        contents = fragment.contents
        text = contents.decode("utf-8", "replace") if isinstance(contents, bytes) else contents
        if self.text(text) == text:
            return fragment
        try:
            decoded = decode_json(text)
        except ValueError:
            return self.text(text)
        redacted = self.value(decoded)
        return REDACTED if redacted == decoded else redacted


def _parts(secret: str) -> set[str]:
    """What masks a secret: the value, and, for one with white space around it or on
    several lines, the value without it and each line of MIN_LINE_LENGTH or more
    (line-based channels, a provider's stderr, see its lines one by one), but for a
    PEM's BEGIN/END lines, which are no secret. A `key: value` line (YAML's, a
    kubeconfig's) counts by its value: a short one ("current-context: production") is
    none worth masking everywhere, a long one is masked alone and with its key. Each
    part is masked on its own, as a secret."""
    parts = {secret, secret.strip()}
    for line in (line.strip() for line in secret.splitlines()):
        pair = re.fullmatch(_YAML_PAIR, line)
        value = pair.group(1) if pair else line
        if len(value) >= MIN_LINE_LENGTH and not re.fullmatch(_PEM_BOUNDARY, value):
            parts |= {line, value}
    return parts


# (Compiled on first use, as connstr.py's patterns: issue 22.)
_PEM_BOUNDARY = r"-----(?:BEGIN|END) [A-Z0-9 ]+-----"
# A YAML mapping line, perhaps a list item's: its value (a PEM line has no ": ").
_YAML_PAIR = r"(?:-\s+)?[\w.\-]+:\s+(.*?)"


# -- the process's redactor: every output channel calls these ------------------------------

_REDACTOR = Redactor()


def remember(secrets: Iterable[str]) -> None:
    """From now on, mask these values (and their encodings) in every output."""
    _REDACTOR.add(secrets)


def remembered() -> frozenset[str]:
    """The sensitive values remembered so far, for a check that masks fewer of them than
    the outputs do (deploy/kubernetes.py: a secret that is a task's name)."""
    return _REDACTOR.secrets


def is_secret_variable(name: str, value: str) -> bool:
    """Whether the environment variable `name` holds a credential: named as one, and
    not a switch (USE_TOKEN=true holds no secret)."""
    named = name in CREDENTIAL_VARIABLES or (name not in _NOT_CREDENTIALS and is_secret_key(name))
    return named and value.lower() not in _SWITCH_WORDS


def remember_environment(environ: Mapping[str, str]) -> None:
    """Mask the values of dstream's own credentials found in `environ`, and what any of
    its values holds that is secret (DATABASE_URL's password: `embedded_secrets`)."""
    remember(value for name, value in environ.items() if is_secret_variable(name, value))
    remember(secret for value in environ.values() for secret in embedded_secrets(value))


def redact_text(text: str) -> str:
    """`text` with every sensitive value remembered so far masked as `***`. For any
    text that leaves dstream: messages, provider stderr, tracebacks of crash reports."""
    return _REDACTOR.text(text)


def redact_cut(text: str, limit: int, mark: str = "…") -> str:
    """`text` masked, then cut to `limit` characters, `mark` ending it if it was: the
    one way any channel shortens a text it shows (mask, then cut)."""
    return _REDACTOR.cut(text, limit, mark)


def redact_edges(text: str, *, cut_before: bool = False, cut_after: bool = False) -> str:
    """`text`, cut outside dstream's Python (the pump's excerpt of a frame, a stderr
    line split by the reader), masked, with a fragment of a secret at a cut edge too
    (`Redactor.edges`)."""
    return _REDACTOR.edges(text, cut_before=cut_before, cut_after=cut_after)


def masked_assignment(text: str) -> str:
    """`NAME=VALUE` as shown before the configuration says which values are secret: the
    name kept, the value masked whatever its length (the redactor leaves short values
    alone); a word without `=` is all value. How a usage error, a crash report and
    `provider test` show a --var or --env they were given."""
    name, equals, _ = text.partition("=")
    return f"{name}{equals}{REDACTED}" if equals else REDACTED


def redact_data(value: object) -> object:
    """A JSON-like value (a --json document, a log record) redacted structurally."""
    return _REDACTOR.value(value)


def redact_bytes(line: bytes) -> bytes:
    """A line of a provider's output shown to the user, redacted (unchanged, and not
    even decoded, when there is no secret)."""
    if not _REDACTOR:
        return line
    return _REDACTOR.text(line.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape"
    )


def redact_value(
    value: object, sensitive: Iterable[str], *, under_secret_key: bool = False
) -> object:
    """`value` with the `sensitive` values masked, and every value under a key that
    looks like a secret's (password, token, dsn, ...) replaced whole."""
    return Redactor(sensitive).value(_hide_secret_keys(value, under_secret_key))


def _hide_secret_keys(value: object, hidden: bool) -> object:
    if isinstance(value, dict):
        return {k: _hide_secret_keys(v, _secret_below(k, hidden)) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_secret_keys(item, hidden) for item in value]
    if hidden and value is not None and not isinstance(value, bool):
        return REDACTED
    return value


def _secret_below(key: object, hidden: bool) -> bool:
    """Whether the value under `key` is hidden by its key: `show`'s rule, and the one
    of what every other channel masks (`secrets_by_key`)."""
    return hidden or is_secret_key(str(key))


def secrets_by_key(
    value: object, path: KeyPath = (), hidden: bool = False
) -> Iterator[tuple[KeyPath, str]]:
    """The secrets held under secret-looking keys in `value` (what `dstream show` hides),
    each with the path of keys to it: such a text, and what a connection string holds
    that is secret (`connection_secrets`) after the whole string. A connection string
    without such a part holds none, nor does a number or a switch (true, no): hiding
    those would blank every "3600" and every "true" in every output."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from secrets_by_key(item, (*path, key), _secret_below(key, hidden))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secrets_by_key(item, (*path, index), hidden)
    elif hidden and isinstance(value, str) and value.lower() not in _SWITCH_WORDS:
        held = connection_secrets(value)
        if held:
            yield from ((path, secret) for secret in (value, *held))
        elif not is_connection_key(nearest_key(path)):
            yield path, value


def remember_project(project: Project) -> None:
    """From now on, mask what `project` holds that is secret: its sensitive values, the
    password of any URI in its tasks (`amqp://user:password@host`), and what its tasks
    hold under secret-looking keys, so that every channel masks what `dstream show`
    does (a provider echoing its config, a literal password)."""
    remember(project.sensitive_values)
    for task in project.tasks.values():
        remember_block(task_document(task), {**task.input.env, **task.output.env})


def remember_block(config: object, env: Mapping[str, str]) -> None:
    """From now on, mask what a block's `config` and `env` hold that is secret: values
    under secret-looking keys, the password of any URI (and of a JDBC, ADO.NET or
    keyword string) in either, and the values of variables named as credentials. The
    one rule for a task's blocks and for `dstream provider test`'s flags."""
    remember(secret for _, secret in secrets_by_key(config))
    remember(uri_passwords(config))
    remember(value for name, value in env.items() if is_secret_variable(name, value))
    remember(uri_passwords(dict(env)))


def uri_passwords(value: object) -> Iterator[str]:
    """What the strings of a JSON-like `value` hold that is secret whatever key holds
    them (`embedded_secrets`): a URI's password, that of a JDBC, ADO.NET or keyword
    string, an Authorization header's credentials."""
    for text in leaves(value):
        yield from embedded_secrets(text)


def leaves(value: object) -> Iterator[str]:
    """The texts a value consists of: strings and numbers as text. Not object keys: an
    object's are its type's attribute names ("user", "password"), and masking those
    would blank every such word in every log while hiding nothing; a secret belongs in
    a value (docs/security.md)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def key_names(value: object) -> Iterator[str]:
    """The key names of the objects a JSON-like value holds, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from key_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from key_names(item)


def nearest_key(path: KeyPath) -> str:
    """The key a value is under: that of the list or object holding it, if in one."""
    return next((key for key in reversed(path) if isinstance(key, str)), "")


def provider_document(spec: ProviderSpec) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in ("provider_path", "provider_ref", "provider_image"):
        if getattr(spec, name):
            out[name] = getattr(spec, name)
    out["config"] = spec.config
    if spec.env:
        out["env"] = spec.env
    return out


def task_document(task: TaskSpec) -> dict[str, object]:
    """The fully evaluated task, in the shape it is written in dstream.hcl."""
    return {
        "name": task.name,
        "type": task.type,
        "input": provider_document(task.input),
        "output": provider_document(task.output),
        "max_frame_size": task.max_frame_size,
        "invalid_frames": task.invalid_frames,
        "dead_letter_path": task.dead_letter_path,
        "passthrough": not task.validate,
        "start_timeout": task.start_timeout,
        "stop_grace": task.stop_grace,
        "flush_timeout": task.flush_timeout,
        "commit_interval": task.commit_interval,
        "restart": {
            "attempts": task.restart.attempts,
            "backoff": task.restart.backoff,
            "max_backoff": task.restart.max_backoff,
            "reset_after": task.restart.reset_after,
        },
        "location": str(task.location) if task.location else None,
    }


def shown_task(
    project: Project, task: TaskSpec, *, show_secrets: bool = False
) -> dict[str, object]:
    document = task_document(task)
    if show_secrets:
        return document
    redacted = redact_value(document, [*project.sensitive_values, *uri_passwords(document)])
    assert isinstance(redacted, dict)  # masking keeps a value's shape
    return redacted
