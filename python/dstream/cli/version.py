"""`dstream version`: versions of dstream, its Rust core and the wire protocol."""

from __future__ import annotations

import argparse
import platform

from dstream.cli.view import View

# Of the core's build facts, what the text says as it is ("rustc 1.95.0 (...)", which
# names the compiler itself), and what its first line already says (the core's version).
NAMES_ITSELF = frozenset({"rustc"})
SAID_ABOVE = frozenset({"core_version"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream import __version__, _core
    from dstream.protocol.frames import PROTOCOL_VERSION

    build = dict(_core.BUILD_INFO)
    info = {
        "dstream": __version__,
        "core": _core.__version__,
        "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(),
        "build": build,
    }
    if view.json:
        view.document(info)
    else:
        view.line(f"dstream {__version__} (core {_core.__version__}, protocol {PROTOCOL_VERSION})")
        details = ", ".join(
            str(value) if key in NAMES_ITSELF else f"{key} {value}"
            for key, value in build.items()
            if key not in SAID_ABOVE
        )
        view.line(f"python {platform.python_version()}; {details}")
    return 0
