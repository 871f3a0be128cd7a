"""dstream-rabbitmq's two URLs, `url` (AMQP) and `management_url` (HTTP): checked when
the configuration is read, so that a typo is a config error naming its key rather than
a client library's traceback at connect time, and quoted with the password masked:
a URL that does not parse is the one most likely to be shown whole."""

from __future__ import annotations

import urllib.parse
from typing import Any

from dstream.errors import ConfigError

Pika = Any  # Any: pika's URLParameters ships no type information

MASK = "***"
AMQP_SCHEMES = ("amqp://", "amqps://")
AMQP_HINT = (
    "write it as amqp://user:password@host:port/vhost (amqps:// for TLS; %2F is the "
    "vhost /; an IPv6 host in brackets, as [::1]), with pika's connection options, if "
    "any, in the query (?heartbeat=30)"
)
MANAGEMENT_HINT = (
    'e.g. "http://rabbit.example:15672", or "off" not to look for queues no longer in '
    "the configuration"
)


def _password_span(url: str) -> tuple[int, int]:
    """Where the password of `url`'s `user:password@` is: (start, end), equal when there
    is none. Found without parsing, so that a URL no parser accepts is masked too: from
    the first ':' after the scheme's '//' up to the last '@' (a password may hold '@',
    ':' or '/' unencoded; masking too much never shows a secret)."""
    scheme = url.find("://")
    start = scheme + 3 if scheme >= 0 else 0
    at = url.rfind("@")
    colon = url.find(":", start, at) if at > start else -1
    return (colon + 1, at) if colon >= 0 else (start, start)


def masked(url: str) -> str:
    """`url` as it may be shown: the password of its `user:password@` as ***."""
    start, end = _password_span(url)
    return url if start == end else url[:start] + MASK + url[end:]


def _scrubbed(text: str, url: str) -> str:
    """A parser's words about `url`, without its password should they quote it."""
    start, end = _password_span(url)
    password = url[start:end]
    if len(password) < 3:  # shorter ones would mangle the words, as the redactor's rule
        return text
    for form in {password, urllib.parse.unquote(password)}:
        text = text.replace(form, MASK)
    return text


def amqp_parameters(url: str) -> Pika:
    """pika's connection parameters for `url`; a ConfigError naming the key when it is
    not an AMQP URL pika can use."""
    if not url.startswith(AMQP_SCHEMES):
        raise ConfigError(f"url {masked(url)!r} is not an AMQP URL", hint=AMQP_HINT)
    import pika

    try:
        return pika.URLParameters(url)
    # What pika's parser raises is what its parts raise: ValueError (a port, an option's
    # value, an unknown option, an IPv6 host), SyntaxError and TypeError (an ssl_options
    # literal), OSError (a CA or certificate file ssl_options names).
    except OSError as exc:  # the OS's or OpenSSL's words name no file: say which part
        reason = f"a file its ssl_options names cannot be used: {exc.strerror or exc}"
        raise ConfigError(
            f"url {masked(url)!r}: {_scrubbed(reason, url)}",
            hint="ssl_options' ca_certs, certfile and keyfile name PEM files dstream can read "
            '(docs/queues.md, "TLS")',
        ) from None
    except (ValueError, TypeError, SyntaxError) as exc:
        reason = _scrubbed(str(exc) or type(exc).__name__, url)
        raise ConfigError(
            f"url {masked(url)!r} is not a usable AMQP URL: {reason}", hint=AMQP_HINT
        ) from None


def check_management_url(url: str) -> None:
    """A ConfigError naming the key unless `url` is "", "off" or an HTTP URL with a host
    and a numeric port."""
    if url in ("", "off"):
        return
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"management_url {masked(url)!r} is not an HTTP URL", hint=MANAGEMENT_HINT
        )
    try:
        parts = urllib.parse.urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises for one that is no number
    except ValueError as exc:
        reason = _scrubbed(str(exc), url)
        raise ConfigError(
            f"management_url {masked(url)!r} is not a usable URL: {reason}", hint=MANAGEMENT_HINT
        ) from None
    if not host:
        raise ConfigError(f"management_url {masked(url)!r} names no host", hint=MANAGEMENT_HINT)


__all__ = ["amqp_parameters", "check_management_url", "masked"]
