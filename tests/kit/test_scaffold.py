"""`dstream provider new` end to end: the scaffolded project's own tests pass, the
conformance suite passes it, `publish.sh` pushes it to a real registry on loopback, and
dstream runs it by reference in a task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dstream.kit.scaffold import render
from tests.workspace import dstream, json_document

INPUT_CONFIG = '{"count": 0, "interval_ms": 10}'


def _pytest(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_input_with_lifecycle_new_test_push_run_by_ref(tmp_path: Path, registry: object) -> None:
    created = dstream("provider", "new", "demo-source", "--role", "input", "--lifecycle",
                      "--dir", str(tmp_path), "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    project = tmp_path / "demo-source"
    assert json_document(created)["command"] == "dstream-demo-source"

    tests = _pytest(project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    suite = dstream("provider", "test", "./bin/dstream-demo-source", "--config", INPUT_CONFIG,
                    "--json", cwd=project)  # fmt: skip
    report = json_document(suite)
    assert suite.returncode == 0 and report["failed"] == 0, suite.stdout
    # --lifecycle made the lifecycle checks run, not skip.
    assert {c["name"]: c["status"] for c in report["checks"]}["init-idempotent"] == "pass"

    ref = f"{registry.host}/acme/demo-source:0.1.0"  # type: ignore[attr-defined]
    cache = {"DSTREAM_CACHE_DIR": str(tmp_path / "cache")}
    pushed = subprocess.run(
        [str(project / "publish.sh"), ref],
        capture_output=True,
        text=True,
        env={**os.environ, **cache},
        timeout=120,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert sorted(p.name for p in (project / "dist").iterdir()) == [
        "plugin.darwin_amd64", "plugin.darwin_arm64", "plugin.linux_amd64", "plugin.linux_arm64",
    ]  # fmt: skip

    by_ref = dstream("provider", "test", ref, "--role", "input", "--config", INPUT_CONFIG,
                     "--check", "handshake", "--check", "frames", "--json", env=cache)  # fmt: skip
    assert by_ref.returncode == 0, by_ref.stdout + by_ref.stderr

    out = tmp_path / "out.jsonl"
    (tmp_path / "dstream.hcl").write_text(
        f"""
task "demo" {{
  input {{
    provider_ref = "{ref}"
    config {{ count = 7 }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "{out}" }}
  }}
}}
"""
    )
    run = dstream("run", "demo", "-c", str(tmp_path / "dstream.hcl"), env=cache, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    values = [orjson.loads(line)["data"]["n"] for line in out.read_text().splitlines()]
    assert values == [1, 2, 3, 4, 5, 6, 7]


def test_output_new_passes_its_tests_and_the_suite(tmp_path: Path) -> None:
    created = dstream("provider", "new", "demo-sink", "--role", "output", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    project = tmp_path / "demo-sink"
    assert not (project / "src/dstream_demo_sink/workdir.py").exists()  # no --lifecycle
    tests = _pytest(project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    suite = dstream("provider", "test", str(project / "bin/dstream-demo-sink"), cwd=tmp_path)
    assert suite.returncode == 0, suite.stdout
    assert "conforms" in suite.stdout


def test_the_next_steps_can_be_pasted_into_a_shell(tmp_path: Path) -> None:
    parent = tmp_path / "my providers"
    parent.mkdir()
    created = dstream("provider", "new", "demo-sink", "--role", "output", "--dir", str(parent))
    assert created.returncode == 0, created.stderr
    cd = next(line for line in created.stdout.splitlines() if line.startswith("  cd "))
    shell = subprocess.run(["sh", "-c", f"{cd} && pwd"], capture_output=True, text=True)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.strip() == str(parent / "demo-sink")


def test_refuses_bad_names_and_existing_directories(tmp_path: Path) -> None:
    bad = dstream("provider", "new", "Bad_Name", "--role", "input", "--dir", str(tmp_path))
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    taken = dstream("provider", "new", "taken", "--role", "input", "--dir", str(tmp_path))
    assert taken.returncode == 2 and "--force" in taken.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["a file", "a file under the name", "/proc"])
def test_a_dir_it_cannot_write_into_is_one_line_naming_dir(tmp_path: Path, where: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    (tmp_path / "z").write_text("mine")
    parent = {"a file": str(afile), "a file under the name": str(tmp_path)}.get(where, where)
    made = dstream("provider", "new", "z", "--role", "output", "--dir", parent)
    assert made.returncode == 2, made.stderr
    assert "--dir" in made.stderr and "internal error" not in made.stderr, made.stderr
    assert len(made.stderr.strip().splitlines()) <= 2, made.stderr  # the error and a hint
    assert afile.read_text() == "mine" and (tmp_path / "z").read_text() == "mine"


@pytest.mark.parametrize(
    ("lifecycle", "kept"), [(True, "one\ntwo\nthree\n"), (False, "one\nthree\n")]
)
def test_lifecycle_blocks(lifecycle: bool, kept: str) -> None:
    text = "one\n    # [lifecycle]\ntwo\n    # [/lifecycle]\nthree\n"
    assert render(text, {}, lifecycle) == kept
