"""Every module of the package imports.

Annotations are strings and the names they use are imported under `TYPE_CHECKING`
(issue 22: `typing` cost every run ~12 M instructions). ruff's TC004 catches such an
import used at run time within a module; this catches the rest: a module importing,
at run time, a name another module defines only for the type checker (an alias such as
`JsonValue`, a Protocol), which mypy cannot see and which fails only on import. A
module whose optional extra is not installed is allowed its one-line MissingPackage.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import dstream

# In a fresh interpreter: modules the test session imported already must load again.
PROBE = """
import importlib, sys, traceback
from dstream.extras import missing_package
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if missing_package(exc) is None:
            print(name, "".join(traceback.format_exception_only(exc)))
"""


def test_every_module_of_the_package_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(dstream.__path__, "dstream.")]
    assert len(names) > 100, names  # the walk found the package, not an empty path
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *names], capture_output=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert done.stdout.decode() == ""
