"""The packages dstream imports: which feature needs which optional extra, which are
required, and the one-line error a missing one gives (never a traceback).

    pip install 'dstream[postgres]'

A module of an extra is imported only where the feature is used; an ImportError there
reaches `missing_package`, which names the extra to install. A required package that
is missing is an installation that lost it (a half-finished upgrade, a stray `pip
uninstall`): the same one line, naming it and how to repair the installation, not a
crash report asking to report a bug. `pyproject.toml` lists the same extras and
required packages (tests check they agree).

The pip command of a missing extra names the distribution that installed this
package, read from the installed metadata: `dstream` built from this repository (a
checkout, a wheel built here, a release asset), `dstream-io` from PyPI
(docs/publishing.md). pip finds it installed and only adds the extra's packages; the
other name would fail, or fetch the unrelated project PyPI calls `dstream`.
"""

from __future__ import annotations

from dstream.errors import EXIT_USAGE, DstreamError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.metadata import Distribution
    from typing import Optional

COMMAND = "dstream"  # the console script every installation declares (pyproject.toml)

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


_installed: list[Optional[Distribution]] = []  # the lookup's answer, once made


def installed_distribution() -> Optional[Distribution]:
    """The installed distribution this package came from, whatever its name: the first
    on sys.path that declares the `dstream` command as a function of this package (the
    unrelated PyPI `dstream` declares none). None when it runs from a source tree with
    no metadata. Looked up once, on first use: it reads every installed distribution's
    entry points (~6 ms), which no command's start pays."""
    if not _installed:
        from importlib.metadata import distributions

        _installed.append(next((d for d in distributions() if _declares_command(d)), None))
    return _installed[0]


def _declares_command(dist: Distribution) -> bool:
    return any(
        ep.group == "console_scripts"
        and ep.name == COMMAND
        and ep.value.startswith(f"{__package__}.")
        for ep in dist.entry_points
    )


def distribution_name() -> Optional[str]:
    found = installed_distribution()
    return found.metadata["Name"] if found is not None else None


def install_command(extra: str) -> str:
    name = distribution_name()
    if name is None:  # nothing for pip to find installed: the name alone would fetch another
        return f"install dstream again with its {extra!r} extra (docs/publishing.md)"
    return f"pip install '{name}[{extra}]'"


def reinstall_command(distribution: str) -> str:
    """What puts a lost required package back: that package, as this installation
    requires it (never dstream itself by name, which pip would fetch from PyPI)."""
    found = installed_distribution()
    declared = (found.requires or []) if found is not None else []
    requirement = next(
        (
            r.split(";")[0].strip()
            for r in declared
            if _requirement_name(r) == _normalized(distribution) and "extra ==" not in r
        ),
        distribution,
    )
    return f"pip install '{requirement}'"


def _normalized(name: str) -> str:
    """PEP 503's form of a distribution name."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    import re

    return _normalized(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])


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
                f"this installation of {distribution_name() or 'dstream'} lacks its "
                f"required package {distribution} (no module {module!r}): install it again",
                hint=reinstall_command(distribution),
            )
    return None
