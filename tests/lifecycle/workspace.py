"""A directory with a dstream.hcl, small provider scripts, and the real `dstream` CLI
run in it as a subprocess."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    def script(self, name: str, body: str) -> Path:
        """An executable provider in Python, written without the SDK."""
        path = self.root / name
        path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body).lstrip())
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def config(self, text: str) -> Path:
        path = self.root / "dstream.hcl"
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dstream.cli.app", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )

    def run_json(self, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
        done = self.run(*args, "--json", timeout=timeout)
        try:
            doc = orjson.loads(done.stdout)
        except orjson.JSONDecodeError:
            raise AssertionError(f"not one JSON document: {done.stdout!r}\n{done.stderr}") from None
        return done.returncode, doc, done.stderr

    def read(self, name: str) -> str:
        path = self.root / name
        return path.read_text() if path.exists() else ""
