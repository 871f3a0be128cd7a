"""A command resolves each provider_ref once: a run checks its providers' configs and
then starts them, a plan also asks whether the input manages infrastructure, and each
asks for the executable; with a tag due for a re-check and the registry away, the
cached copy runs and the warning that says so comes once per reference, not once per
asking (nor does each asking wait on the registry again). Real registry on loopback,
stopped after the first pull."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.containers import Registry
from tests.oci.test_registry import INPUT_SCRIPT, OUTPUT_SCRIPT, push, run_task, task_config
from tests.workspace import dstream, log_records

DUE = {"DSTREAM_PROVIDER_MAX_AGE": "0"}  # every cached tag is due for a re-check


def cached_copy_warnings(stderr: str, ref: str) -> list[dict[str, Any]]:
    return [
        r for r in log_records(stderr) if "cannot reach registry" in r["msg"] and ref in r["msg"]
    ]


@pytest.mark.timeout(180)
def test_each_reference_is_resolved_and_warned_of_once(registry: Registry, tmp_path: Path) -> None:
    refs = (f"{registry.host}/acme/input:1", f"{registry.host}/acme/output:1")
    push(tmp_path, refs[0], INPUT_SCRIPT)
    push(tmp_path, refs[1], OUTPUT_SCRIPT, name="out.sh")
    out = tmp_path / "o.jsonl"
    config = task_config(tmp_path, *refs, out)
    assert len(run_task(config)) == 5  # pulled
    registry.stop()
    out.unlink()
    for command in ("run", "plan"):  # plan: the input manages nothing, nothing to do
        done = dstream(command, "t", "-c", str(config), "-f", "json", env=DUE, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        for ref in refs:
            said = cached_copy_warnings(done.stderr, ref.split("/", 1)[1] + " as cached")
            assert len(said) == 1, (command, ref, done.stderr)
    assert len(out.read_text().splitlines()) == 5  # the run delivered from the cached copies
