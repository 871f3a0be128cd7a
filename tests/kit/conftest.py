from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

RAW_PROVIDER = Path(__file__).with_name("raw_provider.py")


def dstream(*args: str, cwd: Any = None, env: Any = None) -> subprocess.CompletedProcess[str]:
    """The installed CLI as a user runs it, in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "dstream.cli.app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def report_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        return orjson.loads(proc.stdout)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        raise AssertionError(f"not a JSON report:\n{proc.stdout}\n{proc.stderr}") from None


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Any]:
    """A real CNCF distribution registry on loopback (the OCI tests' fixture)."""
    from tests.oci.conftest import _registry

    yield from _registry(tmp_path)
