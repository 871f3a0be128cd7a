"""A temporary project directory for end-to-end tests: a dstream.hcl, small provider
scripts written without the SDK, and the real `dstream` CLI run in it as a subprocess.
Any test area can reuse it; its conftest.py makes the fixture:

    from tests.workspace import Workspace
    @pytest.fixture
    def ws(tmp_path): return Workspace(tmp_path)

`run` waits for the CLI and keeps its output both ways (`stdout` / `stderr` as text,
`stdout_bytes` / `stderr_bytes` as written); `popen` starts it and leaves the process
to the test (bytes pipes).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import orjson

from tests.providers import SHELL_OUTPUT

# For areas whose assertions read the CLI's plain text whatever the environment asks.
NO_COLOR = {"NO_COLOR": "1"}


@dataclass(frozen=True)
class CliResult:
    """A finished `dstream` run: its exit code and its output, as bytes and as text."""

    args: list[str]
    returncode: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode()


class Workspace:
    def __init__(self, root: Path, *, env: Optional[Mapping[str, str]] = None) -> None:
        """`env`: variables every command started here gets on top of os.environ."""
        self.root = root
        self.env = dict(env or {})

    # -- files ---------------------------------------------------------------------

    def script(self, name: str, body: str, *, interpreter: str = "/bin/sh") -> Path:
        """An executable provider written without the SDK (shell, awk, ...): run by
        `interpreter` unless the body starts with its own #! line."""
        path = self.root / name
        text = textwrap.dedent(body).lstrip()
        path.write_text(text if text.startswith("#!") else f"#!{interpreter}\n" + text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def python_script(self, name: str, body: str) -> Path:
        """An executable provider in Python (this interpreter), written without the SDK."""
        return self.script(name, body, interpreter=sys.executable)

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

    def counter_task(
        self,
        task: str,
        output: str,
        output_config: str = "",
        *,
        count: int,
        checkpoint_every: int,
        interval: int = 0,
        tables: Optional[list[str]] = None,
        state: str = 'state { path = "state" }',
        settings: str = "",
    ) -> None:
        """Task `task`: dstream-counter (`count` envelopes, 0: no end; over `tables` if
        given, which the output gets too) into the provider `output` with the HCL lines
        `output_config`; `state` is the state block, `settings` more task attributes."""
        tables_hcl = f"tables = {orjson.dumps(tables).decode()}" if tables else ""
        self.config(
            f"""
            {state}
            task "{task}" {{
              {settings}
              input {{
                provider_path = "dstream-counter"
                config {{
                  interval = {interval}
                  max_count = {count}
                  checkpoint_every = {checkpoint_every}
                  {tables_hcl}
                }}
              }}
              output {{
                provider_path = "{output}"
                config {{
                  {tables_hcl}
                  {output_config}
                }}
              }}
            }}
            """
        )

    def read_text(self, name: str) -> str:
        """A file's text, or "" while it does not exist."""
        path = self.root / name
        return path.read_text() if path.exists() else ""

    def json_lines(self, name: str) -> list[Any]:
        """A JSON-lines file's documents (blank lines skipped), or [] while it does not exist."""
        path = self.root / name
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

    # -- the CLI -------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The argv of `dstream ARGS` (for a test that starts it its own way)."""
        return [sys.executable, "-m", "dstream.cli.app", *args]

    def _environ(self, env: Optional[Mapping[str, str]]) -> dict[str, str]:
        return {**os.environ, **self.env, **(env or {})}

    def popen(
        self, *args: str, env: Optional[Mapping[str, str]] = None, **options: Any
    ) -> subprocess.Popen[bytes]:
        """`dstream ARGS` started here with stdout and stderr piped (bytes); `options`
        go to Popen and override those (e.g. stdin/stdout/stderr on a terminal)."""
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            self.command(*args), cwd=self.root, env=self._environ(env), **options
        )

    def run(
        self,
        *args: str,
        timeout: float = 120,
        env: Optional[Mapping[str, str]] = None,
        **options: Any,
    ) -> CliResult:
        """`dstream ARGS` run here to the end (killed after `timeout` seconds); `options`
        go to subprocess.run (e.g. stdin)."""
        done = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self._environ(env),
            capture_output=True,
            timeout=timeout,
            check=False,
            **options,
        )
        return CliResult(done.args, done.returncode, done.stdout, done.stderr)

    def run_json(self, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
        """`dstream ARGS --json`: its exit code, its one JSON document and its stderr."""
        done = self.run(*args, "--json", timeout=timeout)
        try:
            doc = orjson.loads(done.stdout_bytes)
        except orjson.JSONDecodeError:
            raise AssertionError(
                f"not one JSON document: {done.stdout_bytes!r}\n{done.stderr}"
            ) from None
        return done.returncode, doc, done.stderr
