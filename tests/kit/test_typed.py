"""A provider author's type checker sees the SDK's types: the package ships a
`py.typed` marker (PEP 561). Without it mypy skips an installed `dstream.sdk` ("missing
library stubs or py.typed marker") and a config class subclasses `Any`. The SDK is held
to `mypy --strict` in pyproject.toml; this is the author's side of that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is one of the test extras")

PROVIDER = """
from __future__ import annotations

from dataclasses import dataclass

from dstream.sdk import InputProvider, ProviderConfig


@dataclass
class Config(ProviderConfig):
    count: int = 3


class Source(InputProvider[Config]):
    pass


def count_of(source: Source) -> int:
    return source.config.count
"""


@pytest.mark.timeout(600)
def test_mypy_strict_reads_the_sdk_of_the_installed_package(tmp_path: Path) -> None:
    (tmp_path / "provider.py").write_text(PROVIDER)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "provider.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_marker_is_in_the_package() -> None:
    import dstream

    assert (Path(dstream.__file__).parent / "py.typed").is_file()
