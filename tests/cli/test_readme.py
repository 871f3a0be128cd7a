"""The README's first example, exactly as printed, shows resume working (issue 19.7):
Ctrl-C, run again, the counter starts after the last acknowledged checkpoint, every
envelope lands in out/orders.jsonl (no `_unknown.jsonl`), and the last line's resume
hint is true."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from tests.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _first_hcl_block() -> str:
    match = re.search(r"```hcl\n(.*?)```", README, re.S)
    assert match, "no hcl block in the README"
    return match.group(1)


def _run_until_interrupted(ws: Workspace, lines: int) -> str:
    proc = ws.popen("run", "orders")
    deadline = time.monotonic() + 60
    while len(ws.json_lines("out/orders.jsonl")) < lines:
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the example wrote too little in 60 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    return err.decode()


def test_the_first_example_resumes_after_ctrl_c(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(_first_hcl_block())
    first = _run_until_interrupted(ws, 25)
    stored = re.search(r'stored \{"seq":(\d+)\}', first)
    assert stored, first  # checkpoints were acknowledged before the stop
    assert first.rstrip().splitlines()[-1].startswith("stopped by SIGINT: `dstream run orders`")

    second = _run_until_interrupted(ws, len(ws.json_lines("out/orders.jsonl")) + 5)
    assert f"counter starting first_seq={int(stored.group(1)) + 1} " in second, second
    values = [r["data"]["value"] for r in ws.json_lines("out/orders.jsonl")]
    assert sorted(set(values)) == list(range(1, max(values) + 1))  # nothing lost
    assert not (ws.root / "out" / "_unknown.jsonl").exists()


def test_a_fresh_machine_needs_two_commands() -> None:
    """The set-up section: one command installs and runs the demo, one installs the
    test extras and runs the tests; nothing else to do first."""
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\w*\n(.*?)```", section, re.S)
    assert [b.strip() for b in blocks] == [
        "pip install . && dstream run demo",
        "pip install '.[test]' && pytest -n 3",
    ]
    # CI runs that test command, quiet and without pytest's cache
    assert "\npytest -q -p no:cacheprovider -n 3\n" in (ROOT / ".ci" / "run").read_text()
