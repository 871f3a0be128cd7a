"""The optional extras of the package: which feature needs which, and the one-line error
a missing one gives (never a traceback).

    pip install 'dstream-io[postgres]'

A module of an extra is imported only where the feature is used; an ImportError there
reaches `missing_extra`, which names the extra to install. `pyproject.toml`'s
[project.optional-dependencies] lists the same extras (a test checks they agree).
"""

from __future__ import annotations

from dstream.errors import EXIT_USAGE, DstreamError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

DISTRIBUTION = "dstream-io"  # the PyPI name (docs/publishing.md)

# extra -> (top-level modules it installs, what needs it)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "metrics": (("prometheus_client",), "Prometheus metrics (--metrics-addr, metrics block)"),
    "postgres": (("psycopg", "psycopg2"), "PostgreSQL (postgres state, dstream-postgres-cdc)"),
    "mssql": (("pymssql",), "SQL Server (dstream-mssql-cdc)"),
    "docker": (("docker",), "provider_image (containers through the Docker Engine API)"),
    "servicebus": (("azure",), "Azure Service Bus (dstream-servicebus)"),
    "rabbitmq": (("pika",), "RabbitMQ (dstream-rabbitmq)"),
}


class MissingExtra(DstreamError):
    """A feature was asked for whose extra is not installed: the command as given cannot
    run in this installation (exit 2, like a usage error)."""

    exit_code = EXIT_USAGE


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(exc: BaseException) -> Optional[MissingExtra]:
    """The MissingExtra an ImportError of an extra's module means, else None."""
    if not isinstance(exc, ImportError):
        return None
    module = (exc.name or "").split(".")[0]
    for extra, (modules, feature) in EXTRAS.items():
        if module in modules:
            return MissingExtra(
                f"{feature} needs the {extra!r} extra, which is not installed: "
                f"{install_command(extra)}"
            )
    return None
