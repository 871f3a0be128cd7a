"""The release workflow cannot run here (it needs GitHub's macOS and Windows runners), so
its promises are checked on the file: every platform of docs/publishing.md gets a wheel,
every wheel job's output is tested before anything is published, publishing happens
only on a version tag, and the version's changelog section exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml reads the workflow file")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_platform_gets_a_wheel(workflow: dict[str, Any]) -> None:
    matrix = workflow["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    built = {(m["os"], m["target"], m["libc"]) for m in matrix}
    assert built == {
        ("linux", "x86_64", "manylinux"),
        ("linux", "aarch64", "manylinux"),
        ("linux", "x86_64", "musllinux"),
        ("linux", "aarch64", "musllinux"),
        ("macos", "x86_64", ""),
        ("macos", "aarch64", ""),
        ("windows", "x64", ""),
    }
    assert "sdist" in workflow["jobs"]


def test_each_wheel_is_tested_before_publishing(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    built = {
        f"wheel-{m['os']}-{m['target']}-{m['libc']}"
        for m in jobs["wheels"]["strategy"]["matrix"]["include"]
    }
    tested = {m["artifact"] for m in jobs["test-wheels"]["strategy"]["matrix"]["include"]}
    tested |= {
        step["with"]["name"]
        for step in jobs["test-musl"]["steps"]
        if step.get("uses", "").startswith("actions/download-artifact")
    }
    # The aarch64 musl wheel cannot run on an x86_64 Alpine container; all others run.
    assert built - tested == {"wheel-linux-aarch64-musllinux"}
    pythons = {m["python"] for m in jobs["test-wheels"]["strategy"]["matrix"]["include"]}
    assert {"3.9", "3.13"} <= pythons  # the oldest and newest supported CPython
    assert set(jobs["publish"]["needs"]) >= {"wheels", "sdist", "test-wheels", "test-musl"}


def test_publishing_only_on_version_tags(workflow: dict[str, Any]) -> None:
    assert workflow["jobs"]["publish"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    # PyYAML reads the key `on` as True.
    assert (workflow.get("on") or workflow[True])["push"]["tags"] == ["v*"]


def test_the_current_version_has_a_changelog_section() -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', cargo, re.MULTILINE)
    assert match, "no workspace version in Cargo.toml"
    assert f"## [{match.group(1)}]" in (ROOT / "CHANGELOG.md").read_text()


def test_every_wheel_test_takes_its_suite_from_test_wheel_sh(workflow: dict[str, Any]) -> None:
    """One definition of what the installed wheel's tests need (scripts/test-wheel.sh:
    the committed tree without the package's source). The Windows leg copied its own
    short list, which lacked README.md, examples/ and Cargo.toml."""
    runs = [
        (name, step["run"])
        for name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if "pytest" in step.get("run", "") or "test-wheel.sh" in step.get("run", "")
    ]
    assert len(runs) == 3, runs  # test-wheels (Unix, Windows), test-musl
    for name, run in runs:
        assert "scripts/test-wheel.sh" in run, (name, run)
        assert "cp " not in run, (name, run)
