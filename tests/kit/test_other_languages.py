"""The C provider of docs/providers-other-languages.md, compiled from the page itself
(so the documentation cannot drift from code that works), must pass every conformance
check and run in a real task."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.kit.conftest import statuses
from tests.services import require_service
from tests.workspace import dstream, json_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers-other-languages.md"


@pytest.fixture(scope="module")
def wc_provider(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        require_service("no C compiler (apt-get install gcc)")
    blocks = re.findall(r"```c\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "the page should hold exactly one C listing"
    build = tmp_path_factory.mktemp("wc")
    (build / "dstream-wc.c").write_text(blocks[0])
    subprocess.run(
        [str(compiler), "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o",
         str(build / "dstream-wc"), str(build / "dstream-wc.c")],
        check=True,
    )  # fmt: skip
    return build / "dstream-wc"


def test_the_c_provider_passes_every_check(wc_provider: Path) -> None:
    proc = dstream("provider", "test", str(wc_provider), "--role", "output", "--json")
    report = json_document(proc)
    assert proc.returncode == 0, proc.stdout
    assert set(statuses(report).values()) == {"pass"}, proc.stdout


def test_its_role_is_found_out(wc_provider: Path) -> None:
    proc = dstream("provider", "test", str(wc_provider), "--check", "handshake", "--json")
    assert json_document(proc)["role"] == "output"


def test_the_c_provider_in_a_task(wc_provider: Path, tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(
        f"""
task "count" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval  = 0
      max_count = 1000
    }}
  }}
  output {{
    provider_path = "{wc_provider}"
  }}
}}
"""
    )
    run = dstream("run", "count", "-c", str(tmp_path / "dstream.hcl"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dstream-wc: 1000 envelopes" in run.stdout + run.stderr
    state = dstream("state", "show", "count", "-c", str(tmp_path / "dstream.hcl"), "--json")
    assert state.returncode == 0, state.stdout + state.stderr
    # The counter's final checkpoint, acknowledged by the C output and stored by dstream.
    assert b'"seq":1000' in orjson.dumps(orjson.loads(state.stdout))
