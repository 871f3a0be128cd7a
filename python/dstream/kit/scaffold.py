"""`dstream provider new`: write a standalone provider project from the templates in
dstream/kit/templates. Templates use `{{key}}` placeholders (so Python braces and shell
`${}` stay untouched) and `# [lifecycle]` ... `# [/lifecycle]` blocks kept only with
--lifecycle."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from dstream.errors import UsageError
from dstream.protocol.frames import ROLES
from dstream.records import field, record

TEMPLATES = Path(__file__).with_name("templates")
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_BLOCK = re.compile(r"^[ \t]*# \[(/?)lifecycle\][ \t]*\n", re.MULTILINE)


@record
class Project:
    root: Path
    name: str
    command: str
    package: str
    role: str
    lifecycle: bool
    files: list[str] = field(default_factory=list)

    @property
    def test_config_flag(self) -> str:
        return ' --config \'{"count": 0, "interval_ms": 10}\'' if self.role == "input" else ""

    def to_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "name": self.name,
            "command": self.command,
            "package": self.package,
            "role": self.role,
            "lifecycle": self.lifecycle,
            "files": self.files,
        }


def render(text: str, values: dict[str, str], lifecycle: bool) -> str:
    """Fill `{{key}}`s and keep or drop the lifecycle blocks."""
    out, keep, pos = [], True, 0
    for match in _BLOCK.finditer(text):
        if keep:
            out.append(text[pos : match.start()])
        keep = bool(match.group(1)) or lifecycle
        pos = match.end()
    out.append(text[pos:])
    rendered = "".join(out)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return re.sub(r"\{\{(\w+)\}\}", fill, rendered)


def _values(name: str, role: str, lifecycle: bool) -> dict[str, str]:
    from dstream import __version__
    from dstream.extras import distribution_name

    base = name[len("dstream-") :] if name.startswith("dstream-") else name
    command = f"dstream-{base}"
    package = "dstream_" + base.replace("-", "_")
    klass = "".join(part.capitalize() for part in base.split("-")) + (
        "Input" if role == "input" else "Output"
    )
    if role == "input":
        sample, hcl_config = '{"count":3}', "{ count = 100 }"
        suite_config = '{"count": 0, "interval_ms": 10}'
        hcl_example = (
            f'  input {{\n    provider_path = "./{base}/bin/{command}"\n'
            "    config { count = 100 }\n  }\n"
            '  output { provider_path = "dstream-console" }'
        )
        what = "reads its source"
    else:
        sample, hcl_config = "{}", '{ path = "out.jsonl" }'
        suite_config = "{}"
        hcl_example = (
            '  input {\n    provider_path = "dstream-counter"\n'
            "    config {\n      max_count = 100\n"
            "      interval  = 10  # ms: the counter's default is 1 s\n    }\n  }\n"
            f'  output {{\n    provider_path = "./{base}/bin/{command}"\n'
            '    config { path = "out.jsonl" }\n  }'
        )
        what = "writes to its sink"
    role_tests = (TEMPLATES / f"{role}_tests.tmpl").read_text()
    if lifecycle:
        role_tests += "\n\n" + (TEMPLATES / "lifecycle_tests.tmpl").read_text()
    return {
        "name": base,
        "command": command,
        "package": package,
        "klass": klass,
        "role": role,
        "table": base.replace("-", "_"),
        "python": sys.executable,
        "dstream_version": __version__.split("+")[0],
        # what pip knows this installation as: `dstream-io` from PyPI, else `dstream`
        "dstream_distribution": distribution_name() or "dstream",
        "sample_config": sample,
        "hcl_config": hcl_config,
        "hcl_example": hcl_example,
        "suite_config": suite_config,
        "test_config_flag": (
            ' --config \'{"count": 0, "interval_ms": 10}\'' if role == "input" else ""
        ),
        "what": what,
        "role_tests": role_tests.rstrip("\n"),
    }


def scaffold(
    name: str, *, role: str, lifecycle: bool = False, parent: str = ".", force: bool = False
) -> Project:
    if not NAME.match(name):
        raise UsageError(
            f"provider name {name!r} is not usable",
            hint="lower-case letters, digits and single dashes, starting with a letter: "
            "e.g. http-poller",
        )
    values = _values(name, role, lifecycle)
    root = Path(parent) / values["name"]
    if root.is_file() or (root.is_symlink() and not root.is_dir()):  # a dangling link
        raise UsageError(
            f"{root} already exists and is not a directory",
            hint="choose another name or --dir",
        )
    try:
        occupied = root.exists() and any(root.iterdir())
    except OSError as exc:
        raise _unwritable(parent, exc) from None
    if occupied and not force:
        raise UsageError(
            f"{root} already exists and is not empty",
            hint="choose another name or --dir, or pass --force to write into it",
        )
    package, command = values["package"], values["command"]
    layout = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        ".gitignore": "gitignore.tmpl",
        f"bin/{command}": "launcher.tmpl",
        "build.sh": "build.sh.tmpl",
        "publish.sh": "publish.sh.tmpl",
        f"src/{package}/__init__.py": None,
        f"src/{package}/__main__.py": "main.py.tmpl",
        f"src/{package}/provider.py": f"{role}.py.tmpl",
        "tests/test_provider.py": "test_provider.py.tmpl",
    }
    if lifecycle:
        layout[f"src/{package}/workdir.py"] = "workdir.py.tmpl"
    executables = {f"bin/{command}", "build.sh", "publish.sh"}
    project = Project(root, values["name"], command, package, role, lifecycle)
    for relative, template in layout.items():
        path = root / relative
        if template is None:
            text = f'"""{command}: a dstream {role} provider."""\n'
        else:
            text = render((TEMPLATES / template).read_text(), values, lifecycle)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if relative in executables:
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as exc:
            raise _unwritable(parent, exc) from None
        project.files.append(relative)
    return project


def _unwritable(parent: str, exc: OSError) -> UsageError:
    """--dir is a file, a path through one, or a place that takes no new files (/proc,
    a read-only mount, another user's directory)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return UsageError(
        f"cannot create the project in --dir {parent}: {exc.strerror or exc}{where}",
        hint="give --dir a directory you can write to (missing directories are created)",
    )


def _check_templates() -> None:  # pragma: no cover - used while editing templates
    for role in ROLES:
        for lifecycle in (False, True):
            values = _values("example", role, lifecycle)
            for template in TEMPLATES.iterdir():
                render(template.read_text(), values, lifecycle)
    print("templates render", file=sys.stderr)


if __name__ == "__main__" and os.environ.get("DSTREAM_CHECK_TEMPLATES"):  # pragma: no cover
    _check_templates()
