"""A provider_ref that fails at run, plan or init --pull time says which one, as lint
does: file:line:col, the task, input or output; the registry's reason and hint stay."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.containers import Registry
from tests.workspace import dstream, executable

COMMANDS = [("run", "b"), ("plan", "b"), ("init", "--pull", "b")]
WHERE = re.compile(r"dstream\.hcl:7:\d+: provider_ref of the output of task 'b': ")


def config(tmp_path: Path, ref: str) -> Path:
    path = tmp_path / "dstream.hcl"
    path.write_text(
        textwrap.dedent(
            f"""\
            task "b" {{
              input {{
                provider_path = "dstream-counter"
                config = {{ max_count = 1 }}
              }}

              output {{
                provider_ref = "{ref}"
              }}
            }}
            """
        )
    )
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_reference_not_in_the_registry(
    registry: Registry, tmp_path: Path, command: tuple[str, ...]
) -> None:
    hcl = config(tmp_path, f"{registry.host}/acme/missing:1")
    done = dstream(*command, "-c", str(hcl), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert WHERE.search(done.stderr) and "not found" in done.stderr, done.stderr
    assert "hint: check the repository name" in done.stderr  # the registry error's own


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_reference_without_this_platform(
    registry: Registry, tmp_path: Path, command: tuple[str, ...]
) -> None:
    script = executable(tmp_path / "p.sh", "#!/bin/sh\n")
    ref = f"{registry.host}/acme/other:1"
    pushed = dstream("providers", "push", f"{script}:plan9/mips", "--ref", ref)
    assert pushed.returncode == 0, pushed.stderr
    done = dstream(*command, "-c", str(config(tmp_path, ref)), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert WHERE.search(done.stderr) and "has no executable for" in done.stderr, done.stderr
    assert "hint: push it with every platform" in done.stderr
