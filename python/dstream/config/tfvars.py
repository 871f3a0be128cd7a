"""The var files Terraform loads by itself from the configuration's directory and dstream
does not (it reads only those given with --var-file): named in the hint of a variable
left without a value (config/variables.py), as the flags that would give their values.
"""

from __future__ import annotations

import os

# Terraform's order: terraform.tfvars, its JSON twin, then the *.auto.* files by name.
TERRAFORM_VAR_FILES = ("terraform.tfvars", "terraform.tfvars.json")
AUTO_SUFFIXES = (".auto.tfvars", ".auto.tfvars.json")


def unread_terraform_var_files(directory: str, given: list[str]) -> list[str]:
    """The var files in `directory` that Terraform loads by itself, in its order, but for
    those among `given` (the --var-file paths): each a path from the current directory,
    as a --var-file flag takes it. None when the directory cannot be listed: the hint
    names only what is there."""
    try:
        names = set(os.listdir(directory))
    except OSError:
        return []
    auto = sorted(n for n in names if n.endswith(AUTO_SUFFIXES) and not n.startswith("."))
    ordered = [n for n in TERRAFORM_VAR_FILES if n in names] + auto
    read = {os.path.realpath(path) for path in given}
    paths = (os.path.join(directory, name) for name in ordered)
    return [_shown(p) for p in paths if os.path.isfile(p) and os.path.realpath(p) not in read]


def _shown(path: str) -> str:
    """`path` (absolute) from the current directory, unless it is outside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith(os.pardir) else relative
