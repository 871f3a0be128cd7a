"""Connecting to PostgreSQL, and psycopg2's errors as the user's DstreamErrors: the one
place that reads them. It branches on the driver's exception types and on SQLSTATEs,
never on message text, and quotes the server's words.

psycopg2 is imported only when a connection is made, so that the provider's other
commands (and this module) import without it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional

from dstream.config.connstr import (
    AMBIGUOUS_DSN,
    AMBIGUOUS_DSN_HINT,
    UNPARSEABLE_DSN,
    UNPARSEABLE_DSN_HINT,
    ambiguous_dsn,
)
from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.values import SESSION_OPTIONS

# psycopg2 (replication needs it) ships no type information.
PgConnection = Any  # Any: a psycopg2 connection
PgCursor = Any  # Any: a psycopg2 cursor
PgRow = Any  # Any: a psycopg2 row (a tuple of driver values)

# SQLSTATEs (psycopg2.errorcodes): here so that the module imports without psycopg2.
INSUFFICIENT_PRIVILEGE = "42501"
QUERY_CANCELED = "57014"
CONFIGURATION_LIMIT_EXCEEDED = "53400"
# Classes that say the connection is gone: connection exception, operator intervention
# (a shutdown, a terminated backend).
_CONNECTION_GONE = ("08", "57P")
# What a run that lost its connection may count on, and how to resume on its own.
RESUMES = (
    "Nothing is lost: the next run resumes after the last stored checkpoint. To resume on "
    'its own, give the task a restart setting: restart = { attempts = 5, backoff = "5s" }'
)


class LostConnection(DstreamError):
    """The server closed a streaming connection (restart, shutdown, terminated backend,
    replication timeout) or the network failed: `address` is the server's host:port."""

    def __init__(self, reason: str, *, address: str, hint: Optional[str] = None) -> None:
        super().__init__(reason, hint=hint)
        self.address = address


def connect(dsn: str, *, replication: bool = False, timeout: Optional[int] = None) -> PgConnection:
    """A connection in the session the converters expect (SESSION_OPTIONS); with
    `replication`, a logical replication connection; with `timeout`, connecting and
    each statement take at most that many seconds."""
    if ambiguous_dsn(dsn):  # libpq would quote a piece of the password as the host
        raise DstreamError(f"'dsn' {AMBIGUOUS_DSN}", hint=AMBIGUOUS_DSN_HINT)
    import psycopg2
    import psycopg2.extras

    factory = psycopg2.extras.LogicalReplicationConnection if replication else None
    bounded: dict[str, Any] = {}
    options = SESSION_OPTIONS
    if timeout is not None:
        bounded["connect_timeout"] = timeout
        options += f" -c statement_timeout={timeout * 1000}"
    try:
        return psycopg2.connect(dsn, connection_factory=factory, options=options, **bounded)
    except psycopg2.ProgrammingError:
        # Not chained: its text quotes the DSN, which no traceback may print either.
        raise unparsable_dsn() from None
    except psycopg2.OperationalError as exc:
        said = str(exc).strip()  # every line: libpq's later ones say what to check
        if replication:
            raise DstreamError(
                f"cannot open a replication connection: {said}",
                hint="the user needs the REPLICATION attribute (or superuser) and "
                "pg_hba.conf must allow it; check 'dsn'",
            ) from exc
        raise DstreamError(
            f"cannot connect to PostgreSQL: {said}",
            hint="check 'dsn' in the input's config (host, port, user, password, dbname)",
        ) from exc


def unparsable_dsn() -> DstreamError:
    """For a DSN libpq cannot parse (psycopg2.ProgrammingError "invalid dsn: ..."): libpq's
    message quotes the piece it stopped at, which can be part of a password (one with a
    space), so this one names no part of the DSN."""
    return DstreamError(f"'dsn' {UNPARSEABLE_DSN}", hint=UNPARSEABLE_DSN_HINT)


def reason(exc: Exception, *, detail: bool = False) -> str:
    """What went wrong, in one line: the server's primary message (with its DETAIL when
    `detail`: a replication error's why; never for statements, whose details quote row
    values), else the first line of libpq's text (a connection failure has no server
    message)."""
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    said = diag.message_detail if diag is not None and detail else None
    if primary and said:
        return f"{primary} ({said.rstrip('.')})"
    text = str(exc).strip()
    return primary or (text.splitlines()[0] if text else type(exc).__name__)


@contextmanager
def server_errors(what: str, hints: Mapping[str, str], default_hint: str) -> Iterator[None]:
    """A psycopg2 error inside the block (a catalog query or a lifecycle command's DDL)
    becomes a DstreamError saying what could not be done, in the server's words, with
    the hint its SQLSTATE (`hints`: code -> hint) calls for."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as exc:
        hint = hints.get(exc.pgcode or "", default_hint)
        raise DstreamError(f"cannot {what}: {reason(exc)}", hint=hint) from exc


def server_error(exc: Exception, address: str, doing: str) -> DstreamError:
    """A psycopg2 error of a streaming connection (replication or snapshot) as the user's
    error. Without an SQLSTATE (or with a connection or shutdown one) the connection is
    gone: a server restart, a network failure; with another, the server refused what was
    asked."""
    code = getattr(exc, "pgcode", None) or ""
    if not code or code.startswith(_CONNECTION_GONE):
        return LostConnection(
            f"lost the connection to PostgreSQL at {address} ({reason(exc)})",
            address=address,
            hint=f"the server restarted or shut down, or the network failed. {RESUMES}",
        )
    return DstreamError(
        f"{doing}: PostgreSQL at {address} said: {reason(exc, detail=True)} (SQLSTATE {code})",
        hint="fix the cause in PostgreSQL (or the input's config) and run again; nothing "
        "after the last stored checkpoint is lost",
    )
