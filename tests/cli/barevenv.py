"""A real virtual environment holding dstream and its required dependencies only, none
of its extras: `python -m venv` of this interpreter's base, without system site
packages. The packages are not downloaded: the distributions this interpreter already
has are made visible to the venv (symlinks named in a .pth file), for exactly the
closure of dstream's requirements that carry no `extra ==` marker, and the dstream
package this interpreter imports (the source tree of an editable install, or the
installed package with its compiled core as CI has it). So `import psycopg` (an
extra) fails there as on a user's machine that installed plain `pip install dstream`.
The venv also sees dstream's metadata (its version, its console scripts, its
requirements), as pip's install leaves it: a copy of this interpreter's, under the name
asked for (`dstream` as built from this repository, `dstream-io` as the release workflow
builds the PyPI wheel), the only line of it the release workflow changes."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.workspace import executable


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]


def host_distribution() -> md.Distribution:
    """The distribution this interpreter's dstream came from, whatever its name: the one
    that declares the `dstream` command."""
    for dist in md.distributions():
        if any(ep.group == "console_scripts" and ep.name == "dstream" for ep in dist.entry_points):
            return dist
    raise AssertionError("no installed distribution declares the dstream command")


def required_distributions() -> set[str]:
    """dstream's dependency closure, without anything only an extra asks for."""
    dist = host_distribution().metadata["Name"]
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        for req in md.requires(name) or []:
            if "extra ==" not in req:
                todo.append(requirement_name(req))
    seen.discard(dist)
    return seen


def _top_level(dist: str) -> set[Path]:
    """The importable names a distribution installed (packages and modules)."""
    found = md.distribution(dist)
    tops: set[Path] = set()
    for file in found.files or []:
        parts = Path(str(file)).parts
        if parts[0].endswith((".dist-info", ".data")) or parts[0] == "..":
            continue
        top = parts[0]
        if len(parts) == 1 and not top.endswith((".py", ".so")):
            continue
        tops.add(Path(str(found.locate_file(top))))
    return tops


def _metadata(deps: Path, name: str) -> None:
    """The host distribution's .dist-info, copied into `deps` as distribution `name`:
    what the release workflow's sed of pyproject.toml's name makes of it."""
    dist = host_distribution()
    info = next(
        Path(str(dist.locate_file(f))).parent
        for f in dist.files or []
        if f.name == "METADATA" and f.parent.name.endswith(".dist-info")
    )
    copy = deps / f"{re.sub(r'[-.]+', '_', name)}-{dist.version}.dist-info"
    shutil.copytree(info, copy)
    text = (copy / "METADATA").read_text()
    (copy / "METADATA").write_text(re.sub(r"(?m)^Name: .*$", f"Name: {name}", text, count=1))


def make(
    where: Path,
    without: frozenset[str] = frozenset(),
    distribution: str = "",
    metadata: bool = True,
) -> Path:
    """The venv's python. `without`: required distributions left out, as an
    installation that lost them; `distribution`: the name dstream's metadata gives
    (default: this interpreter's); `metadata`: False for none, as a source tree on
    PYTHONPATH has."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = where / "deps"
    deps.mkdir()
    for dist in required_distributions() - without:
        for top in _top_level(dist):
            link = deps / top.name
            if not link.exists():
                link.symlink_to(top)
    import dstream

    (deps / "dstream").symlink_to(Path(dstream.__file__).parent)
    if metadata:
        _metadata(deps, distribution or host_distribution().metadata["Name"])
    Path(site, "dstream-bare.pth").write_text(f"{deps}\n")
    return python


def env_for(python: Path) -> dict[str, str]:
    """An environment in which `dstream` and the providers are the venv's."""
    return {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}"}


def install_scripts(python: Path) -> None:
    """dstream's console scripts (`dstream`, `dstream-rabbitmq`, ...) in the venv's bin,
    as pip would write them from the package's entry points."""
    for ep in host_distribution().entry_points:
        if ep.group != "console_scripts":
            continue
        module, _, func = ep.value.partition(":")
        script = python.parent / ep.name
        executable(
            script, f"#!{python}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        )
