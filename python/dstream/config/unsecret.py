"""A definition without its secrets, for the digests whoever reads the state can see:
the input digest next to a checkpoint (runtime/resume.py) and the definition hash a lease
keeps and agents compare (runtime/taking.py). A fast hash over a password would confirm
a guessed one at billions of guesses a second, so secrets are replaced by a marker
first, keeping what names the source (a host, a database, a table): a new password is
no new source, another database is."""

from __future__ import annotations

from collections.abc import Iterable

from dstream.config.connstr import (
    is_connection_key,
    is_secret_key,
    names_source,
    source_parts,
    without_uri_password,
)
from dstream.config.redact import uri_passwords

MARK = "<secret>"
# What a secret-looking key (or environment variable) holds: the whole value is secret,
# or it is a connection string whose parts that name the source are kept.
_PLAIN, _WHOLE, _CONNECTION = range(3)


def without_secrets(value: object, sensitive: Iterable[str]) -> object:
    """`value` (a definition) with its secrets replaced by MARK (`masked`): the
    `sensitive` values and what its texts hold that the redactor masks under any key
    (`uri_passwords`: a JDBC, ADO.NET, keyword or SAS string's password), shortest
    first, so that a DSN built around a password keeps its host, and ties in a fixed
    order, so every process masks alike."""
    found = {*sensitive, *uri_passwords(value)}
    return masked(value, sorted(found, key=lambda secret: (len(secret), secret)))


def masked(value: object, sensitive: list[str], kind: int = _PLAIN) -> object:
    """`value` with every secret replaced by MARK: each of the `sensitive` values (in
    that order) wherever it appears, the password of any URI, and what a secret-looking
    key or variable name holds (`kind`): whole, or all but the parts of a connection
    string that name the source."""
    if isinstance(value, dict):
        return {
            _text(str(k), sensitive): masked(v, sensitive, _kind(str(k), kind))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [masked(item, sensitive, kind) for item in value]
    if isinstance(value, str):
        if kind == _WHOLE:
            return MARK
        if kind == _CONNECTION or value in sensitive:
            # A connection string, or a secret that may be a whole one (a DSN in one
            # sensitive variable): only what names the source is left, which must count
            # (another database is another input), so the value itself is no longer
            # one of the secrets to mask in it.
            rest = [secret for secret in sensitive if secret != value]
            return _text(source_parts(value, MARK), rest)
        return _text(without_uri_password(value, MARK), sensitive)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return MARK if kind != _PLAIN or str(value) in sensitive else value
    return value


def _kind(key: str, outer: int) -> int:
    """What the value under `key` is, inside a value that is `outer` (a connection
    written as an object keeps its SOURCE_KEYS, as one written as a string)."""
    if outer == _CONNECTION:
        return _PLAIN if names_source(key) else _WHOLE
    if outer == _WHOLE or not is_secret_key(key):
        return outer
    return _CONNECTION if is_connection_key(key) else _WHOLE


def _text(text: str, sensitive: list[str]) -> str:
    for secret in sensitive:
        text = text.replace(secret, MARK)
    return text
