"""What `dstream run` costs before and after the stream: modules it must not load, and
an exit that leaves nothing unsaid (benches/bench_e2e.py::test_fixed_cost_of_one_envelope
measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dstream
from tests.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]

# Each cost milliseconds of every run, and a run needs none of them (lark and hcl2 only
# to parse a configuration config/quickparse.py declines, whose tree is not cached yet).
NOT_LOADED_BY_A_RUN = (
    "lark",
    "hcl2",
    "regex",
    "importlib.metadata",
    "hashlib",
    "difflib",
    "rich",
    "prometheus_client",
    "socket",  # the state lock names its host with os.uname(), not socket.gethostname()
)

ONE_FRAME_INPUT = """
read -r command
echo '{"status":"ready"}'
echo '{"data":{"n":1},"metadata":{"TableName":"t"}}'
echo '{"checkpoint":{"n":1}}'
echo 'input says goodbye' >&2
"""

LOADED = """
import json, sys
before = set(sys.modules)
from dstream.cli.app import main
code = main(["run", "t", "-q", "--json"])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "loaded": sorted(set(sys.modules) - before)}, out)
"""


def test_a_run_loads_only_what_it_needs(ws: Workspace) -> None:
    ws.shell_output_task(str(ws.script("input.sh", ONE_FRAME_INPUT)), state=True)
    env = {**os.environ, "DSTREAM_CACHE_DIR": str(ws.root / "cache")}
    report = ws.root / "loaded.json"
    for _ in range(2):  # the first run parses (config/quickparse.py), the second reads the cache
        done = subprocess.run(
            [sys.executable, "-c", LOADED, str(report)],
            cwd=ws.root,
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        result = json.loads(report.read_text())
        assert result["code"] == 0
        roots = {name.split(".")[0] for name in result["loaded"]} | set(result["loaded"])
        assert not roots & set(NOT_LOADED_BY_A_RUN), sorted(roots & set(NOT_LOADED_BY_A_RUN))
    assert ws.json_lines("out.jsonl")[0] == {"data": {"n": 1}, "metadata": {"TableName": "t"}}


def test_the_exit_flushes_the_summary_and_the_providers_last_lines(ws: Workspace) -> None:
    """dstream skips the interpreter's teardown: the summary and every line a provider
    wrote to stderr on its way out must still be there, in every run."""
    ws.shell_output_task(str(ws.script("input.sh", ONE_FRAME_INPUT)), state=True)
    for _ in range(5):
        done = ws.run("run", "t", "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["tasks"][0]["last_checkpoint"] == {"n": 1}
        assert "input: input says goodbye" in done.stderr


def test_version_is_the_cargo_workspace_version() -> None:
    """dstream.__version__ is read from the metadata on first use (not on import); the
    metadata comes from Cargo.toml."""
    code = "import sys, dstream; print('importlib.metadata' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert imported.stdout.strip() == "False", imported.stderr
    cargo = (ROOT / "Cargo.toml").read_text()
    assert f'\nversion = "{dstream.__version__}"\n' in cargo
