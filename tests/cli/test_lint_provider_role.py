"""A provider in the wrong block: a provider names its role when described
(docs/protocol.md, section 2: the describe probe's `role`, a built-in's class), and
`lint` and `plan` report an input block that runs an output provider (and the other
way round) at the block's dstream.hcl:LINE:COL, with the fix; once it is described,
`run` refuses the task before starting anything, where it would otherwise fail only when
the provider refuses. An SDK pair and a built-in pair with their blocks swapped, real
processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.providers import SDK_INPUT
from tests.workspace import NO_COLOR, Workspace

SDK_OUTPUT = r"""
from dataclasses import dataclass
from dstream.sdk import OutputProvider, ProviderConfig, run_provider

@dataclass
class Config(ProviderConfig):
    pass

class Sink(OutputProvider[Config]):
    config_class = Config

    async def write(self, batch):
        pass

run_provider(Sink)
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "c")})
    workspace.python_script("source.py", SDK_INPUT)
    workspace.python_script("sink.py", SDK_OUTPUT)
    return workspace


def task(ws: Workspace, inp: str, out: str) -> None:
    """Task "t" from the provider `inp` (its input block) to `out`."""
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "{inp}"
          }}
          output {{
            provider_path = "{out}"
          }}
        }}
        """
    )


def block(ws: Workspace, role: str) -> str:
    """dstream.hcl:LINE:COL of the task's `role` block."""
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, row in enumerate(lines, 1) if f"{role} {{" in row)
    return f"dstream.hcl:{line}:{lines[line - 1].index(role) + 1}"


def says_swapped(ws: Workspace, stderr: str, source: str, sink: str) -> None:
    assert (
        f"{block(ws, 'input')}: task 't': its input block runs '{sink}', an output provider"
        in stderr
    ), stderr
    assert (
        f"{block(ws, 'output')}: task 't': its output block runs '{source}', an input provider"
        in stderr
    ), stderr
    assert "swap the task's input and output blocks" in stderr, stderr


PAIRS = {
    "sdk": ("./source.py", "./sink.py"),
    "built-in": ("dstream-counter", "dstream-null"),
}


@pytest.mark.parametrize(("source", "sink"), PAIRS.values(), ids=PAIRS.keys())
def test_lint_and_plan_report_swapped_blocks(ws: Workspace, source: str, sink: str) -> None:
    task(ws, sink, source)  # swapped
    for attempt in ("described now", "described before"):
        done = ws.run("lint", "--strict")
        assert done.returncode == 2, (attempt, done.stdout, done.stderr)
        says_swapped(ws, done.stderr, source, sink)
        assert "lint failed: 2 error(s)" in done.stderr, (attempt, done.stderr)
    done = ws.run("plan", "t")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{block(ws, 'input')}: task 't': its input block runs '{sink}'" in done.stderr
    done = ws.run("run", "t")  # described by lint: refused before anything starts
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{block(ws, 'input')}: task 't': its input block runs '{sink}'" in done.stderr
    assert not (ws.root / "started").exists()


def test_blocks_in_their_places_lint_clean(ws: Workspace) -> None:
    task(ws, "./source.py", "./sink.py")
    done = ws.run("lint", "--strict")
    assert done.returncode == 0, done.stderr
    assert "0 error(s), 0 warning(s)" in done.stdout, done.stdout
