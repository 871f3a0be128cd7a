"""The packages dstream imports: which feature needs which optional extra, which are
required, and the one-line error a missing one gives (never a traceback).

    pip install 'dstream-io[postgres]'

A module of an extra is imported only where the feature is used; an ImportError there
reaches `missing_package`, which names the extra to install. A required package that
is missing is an installation that lost it (a half-finished upgrade, a stray `pip
uninstall`): the same one line, naming it and how to repair the installation, not a
crash report asking to report a bug. `pyproject.toml` lists the same extras and
required packages (tests check they agree).
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


# The required dependencies (pyproject.toml's [project] dependencies; a test checks they
# agree) and the top-level modules each installs.
REQUIRED: dict[str, tuple[str, ...]] = {
    "orjson": ("orjson",),
    "python-hcl2": ("hcl2",),
    "lark": ("lark",),
    "regex": ("regex",),
    "rich": ("rich",),
    "shtab": ("shtab",),
}


class MissingPackage(DstreamError):
    """A package the command needs is not installed (an extra not asked for, or a
    required one lost): the command as given cannot run in this installation (exit 2,
    like a usage error: nothing was started)."""

    exit_code = EXIT_USAGE


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def reinstall_command() -> str:
    return f"pip install --force-reinstall {DISTRIBUTION}"


def missing_package(exc: BaseException) -> Optional[MissingPackage]:
    """What an ImportError of an extra's or a required package's module means, else
    None (an ImportError of anything else is a bug)."""
    if not isinstance(exc, ImportError):
        return None
    module = (exc.name or "").split(".")[0]
    for extra, (modules, feature) in EXTRAS.items():
        if module in modules:
            return MissingPackage(  # the command on the one line a provider's refusal is
                f"{feature} needs the {extra!r} extra, which is not installed: "
                f"{install_command(extra)}",
                hint="install it into the environment dstream runs from, then run again",
            )
    for distribution, modules in REQUIRED.items():
        if module in modules:
            return MissingPackage(
                f"this installation of {DISTRIBUTION} lacks its required package "
                f"{distribution} (no module {module!r}): reinstall it",
                hint=reinstall_command(),
            )
    return None
