"""How providers are started (runtime/spawn.py): each gets SIGKILL as its parent-death
signal, whether setpriv or the fork-and-exec function sets it, and one that the kernel
cannot execute is still reported by dstream itself, having taken down the provider
started before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dstream.errors import ProviderError
from dstream.runtime import spawn
from dstream.runtime.process import Prepared, start_providers
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


def _running_with(token: str) -> list[int]:
    """Pids of live processes whose command line holds `token`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if token.encode() in handle.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def test_a_provider_that_cannot_start_takes_down_the_one_started_before_it(
    tmp_path: Path,
) -> None:
    """A run's input is spawned before its output (issue 22: the stream waits for the
    input first); an output the kernel cannot execute must not leave that input
    running, as it would for as long as dstream runs other tasks."""
    token = f"dstream-test-{os.getpid()}-orphan"
    unrunnable = tmp_path / "output.txt"
    unrunnable.write_text("not a program\n")
    unrunnable.chmod(0o755)

    def prepared(role: str, argv: list[str]) -> Prepared:
        return Prepared(
            role=role, task="t", label=f"{role} {argv[0]!r}", image=None, prefix=[],
            argv=argv, cwd=str(tmp_path), env={"PATH": os.environ["PATH"]},
            command=b'{"command":"run","config":{}}\n', notices=False,
        )  # fmt: skip

    started = [
        prepared("input", ["/bin/sh", "-c", f"sleep 30; : {token}"]),
        prepared("output", [str(unrunnable)]),
    ]
    with pytest.raises(ProviderError, match="could not start output"):
        start_providers(started)
    assert _running_with(token) == []
