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
and Python-repr string escaping, URL encoding, hex, and base64 (standard and URL-safe,
padded or not, and inside a longer base64 text at any alignment, with the groups that
mix it with its neighbours).

Where: the configuration loader `remember`s sensitive values as it evaluates them,
and the secrets under secret-looking keys once the project is built (`remember_project`);
every channel passes its text through `redact_text` (or a structure through
`redact_data`) once, at the point where it leaves dstream: `cli.view.View` (stdout and
stderr of every command, `--json` documents, errors, quoted provider stderr, lifecycle
results), `dstream.logs` (every level and format, provider stderr lines and the fields
of their structured records), the output lines `run` prints, and crash reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from dstream.config.connstr import (
    connection_secrets,
    is_connection_key,
    is_secret_key,
    uri_password,
)
from dstream.config.model import Project, ProviderSpec, TaskSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.provider_config import KeyPath

REDACTED = "***"
# Shorter values are no secret worth the name, and masking them would mangle all output.
MIN_SECRET_LENGTH = 3
# An encoded fragment shorter than this could match unrelated text.
_MIN_FRAGMENT = 8
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


class Redactor:
    """Masks a set of sensitive values, and their encodings, in texts and structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: Optional[re.Pattern[str]] = None
        self._base64: set[str] = set()  # the forms masked with their neighbouring groups
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        if not new <= self._secrets:
            self._secrets |= new
            self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            forms = {form for secret in self._secrets for form in encodings(secret)}
            ordered = sorted(forms, key=lambda f: (-len(f), f))  # the longest match wins
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
            self._base64 = {
                form for secret in self._secrets for form in _base64_forms(_utf8(secret))
            }
        return self._pattern

    def text(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        pieces: list[str] = []
        shown = 0  # the end of the last mask
        for match in self._compiled().finditer(text):
            start, end = match.span()
            if match.group() in self._base64:
                start, end = _neighbouring_groups(text, start, end)
            if start < shown:  # widened into the mask before: one mask for both
                shown = max(shown, end)
                continue
            pieces += [text[shown:start], REDACTED]
            shown = end
        return "".join(pieces) + text[shown:] if pieces else text

    def value(self, value: object) -> object:
        """A copy of a JSON-like value with every string (keys too) redacted, and every
        number whose text holds a secret replaced by "***"."""
        if not self._secrets:
            return value
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(value)
            return REDACTED if self.text(text) != text else value
        return value


def encodings(secret: str) -> set[str]:
    """The forms a secret is masked in: as written, escaped, URL-, hex- and
    base64-encoded."""
    import json  # here: only a process that has secrets pays for these imports
    import urllib.parse

    raw = _utf8(secret)
    forms = {
        secret,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
        raw.hex(),
        raw.hex().upper(),
        *_base64_forms(raw),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _utf8(secret: str) -> bytes:
    return secret.encode("utf-8", "surrogatepass")


def _base64_forms(raw: bytes) -> list[str]:
    """The base64 of `raw` alone, and the part of it that is the same whatever text
    surrounds `raw` (three alignments: each 3 input bytes become 4 characters). That
    part leaves out the groups mixing `raw`'s first and last bytes with their
    neighbours': `_neighbouring_groups` masks them too."""
    import base64

    forms: list[str] = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms += [whole, whole.rstrip("=")]
        for before in (0, 1, 2):
            encoded = encode(bytes(before) + raw).decode()
            first = 1 if before else 0  # the group that mixes in the bytes before
            last = (before + len(raw)) // 3  # the groups made of `raw` only
            core = encoded[4 * first : 4 * last]
            if len(core) >= _MIN_FRAGMENT:
                forms.append(core)
    return forms


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_GROUP = 4  # base64 characters per 3 bytes


def _neighbouring_groups(text: str, start: int, end: int) -> tuple[int, int]:
    """A base64 form at text[start:end] widened to whole groups (counted from `start`,
    where a form begins one) and by the group on each side, as far as the text is
    base64 there, and the padding after: those groups decode to the secret's first and
    last bytes mixed with their neighbours' (an HTTP Basic header's "user:" before the
    password). A form without its padding ends inside its last group."""
    before = start
    while before > max(start - _GROUP, 0) and text[before - 1] in _BASE64_ALPHABET:
        before -= 1
    groups = -(-(end - start) // _GROUP)  # the form's groups, the last one partial or not
    limit = min(start + (groups + 1) * _GROUP, len(text))
    after = end
    while after < limit and text[after] in _BASE64_ALPHABET:
        after += 1
    padding = after
    while padding < min(after + 2, len(text)) and text[padding] == "=":
        padding += 1
    return before, padding


# -- the process's redactor: every output channel calls these ------------------------------

_REDACTOR = Redactor()


def remember(secrets: Iterable[str]) -> None:
    """From now on, mask these values (and their encodings) in every output."""
    _REDACTOR.add(secrets)


def is_secret_variable(name: str, value: str) -> bool:
    """Whether the environment variable `name` holds a credential: named as one, and
    not a switch (USE_TOKEN=true holds no secret)."""
    named = name in CREDENTIAL_VARIABLES or (is_secret_key(name) and name not in _NOT_CREDENTIALS)
    return named and value.lower() not in _SWITCH_WORDS


def remember_environment(environ: Mapping[str, str]) -> None:
    """Mask the values of dstream's own credentials found in `environ`."""
    remember(value for name, value in environ.items() if is_secret_variable(name, value))


def redact_text(text: str) -> str:
    """`text` with every sensitive value remembered so far masked as `***`. For any
    text that leaves dstream: messages, provider stderr, tracebacks of crash reports."""
    return _REDACTOR.text(text)


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
        document = task_document(task)
        remember(secret for _, secret in secrets_by_key(document))
        remember(uri_passwords(document))


def uri_passwords(value: object) -> Iterator[str]:
    """The password of every URI among the strings of a JSON-like `value`: a password in
    a URL is a credential, whatever key holds the URL."""
    if isinstance(value, dict):
        for item in value.values():
            yield from uri_passwords(item)
    elif isinstance(value, list):
        for item in value:
            yield from uri_passwords(item)
    elif isinstance(value, str) and "://" in value:
        password = uri_password(value)
        if password:
            yield password


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
