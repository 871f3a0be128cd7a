"""`dstream version`: versions of dstream, its Rust core and the wire protocol."""

from __future__ import annotations

import argparse
import platform

from dstream.cli.view import View


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
        details = ", ".join(f"{k} {v}" for k, v in build.items())
        view.line(f"python {platform.python_version()}; {details}")
    return 0
