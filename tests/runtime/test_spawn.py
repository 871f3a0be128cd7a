"""How providers are started (runtime/spawn.py): each gets SIGKILL as its parent-death
signal, whether setpriv or the fork-and-exec function sets it, and one that the kernel
cannot execute is still reported by dstream itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dstream.runtime import spawn
from tests.workspace import Workspace

# A provider that reports its own parent-death signal (prctl PR_GET_PDEATHSIG) as data.
PDEATHSIG_INPUT = """
import ctypes, json, sys
sig = ctypes.c_int(-1)
ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
sys.stdout.write(json.dumps({"data": {"pdeathsig": sig.value}}) + "\\n")
"""

# `dstream run t` with setpriv taken away: the provider is started the other way.
WITHOUT_SETPRIV = (
    "import sys; from dstream.runtime import spawn; spawn._prefix = []; "
    "from dstream.cli.app import run; sys.argv[1:] = ['run', 't']; run()"
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "preexec"])
def test_a_provider_dies_with_dstream_by_sigkill(ws: Workspace, setpriv: bool) -> None:
    if setpriv and not spawn.pdeathsig_prefix():
        pytest.fail("this host has no setpriv with --pdeathsig (util-linux >= 2.33)")
    ws.python_script("input.py", PDEATHSIG_INPUT)
    ws.shell_output_task("./input.py")
    argv = ws.command("run", "t") if setpriv else [sys.executable, "-c", WITHOUT_SETPRIV]
    done = subprocess.run(argv, cwd=ws.root, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert ws.json_lines("out.jsonl") == [{"data": {"pdeathsig": 9}}]


def test_a_file_the_kernel_cannot_execute_is_reported_by_dstream(ws: Workspace) -> None:
    (ws.root / "input.txt").write_text("not a program\n")
    (ws.root / "input.txt").chmod(0o755)
    ws.shell_output_task("./input.txt")
    result = ws.run("run", "t")
    assert result.returncode != 0
    assert "could not start input './input.txt'" in result.stderr
    assert "setpriv" not in result.stderr
