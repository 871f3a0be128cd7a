"""Helpers for end-to-end runs: write a dstream.hcl and small providers, run the CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest

from tests.providers import SHELL_OUTPUT


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    def script(self, name: str, body: str) -> Path:
        """An executable provider written without the SDK (shell, awk, ...)."""
        path = self.root / name
        text = textwrap.dedent(body).lstrip()
        path.write_text(text if text.startswith("#!") else "#!/bin/sh\n" + text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def config(self, text: str) -> Path:
        path = self.root / "dstream.hcl"
        path.write_text(textwrap.dedent(text))
        return path

    def shell_output_task(self, input_path: str, *, state: bool = False) -> None:
        """Task "t": the given input into SHELL_OUTPUT (out.jsonl), optionally with a
        state directory so acknowledged checkpoints are kept."""
        self.script("output.sh", SHELL_OUTPUT)
        state_block = 'state { path = "state" }\n' if state else ""
        self.config(
            f"""{state_block}task "t" {{
              input  {{ provider_path = "{input_path}" }}
              output {{ provider_path = "./output.sh" }}
            }}
            """
        )

    def popen(self, *args: str, env: Optional[dict[str, str]] = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "dstream.cli.app", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )

    def run(self, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        proc = self.popen(*args, **kw)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def run_json(self, *args: str, timeout: float = 60) -> tuple[int, dict[str, Any], str]:
        done = self.run(*args, "--json", timeout=timeout)
        return done.returncode, orjson.loads(done.stdout), done.stderr.decode()

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
