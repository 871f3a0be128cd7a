"""Run providers as real processes: feed a command line (and frames) on stdin, read the
handshake, frames and logs back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Union

import orjson
import pytest

HERE = Path(__file__).parent
SAMPLES = HERE / "providers"
# Bounds a hang in a broken provider; never an assertion about speed.
DEADLINE = 60


def command(
    config: Optional[dict[str, Any]] = None,
    *,
    cmd: str = "run",
    role: Optional[str] = None,
    state: Any = None,
    **extra: Any,
) -> bytes:
    obj: dict[str, Any] = {
        "command": cmd,
        "config": config or {},
        "protocol": 1,
        "task": "t",
        "state": state,
        **extra,
    }
    if role:
        obj["role"] = role
    return orjson.dumps(obj) + b"\n"


def frames(*objs: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def argv(provider: str) -> list[str]:
    """`counter` -> the built-in module; `sample:<file>` -> tests/sdk/providers/<file>.py"""
    if provider.startswith("sample:"):
        return [sys.executable, str(SAMPLES / (provider.split(":", 1)[1] + ".py"))]
    return [sys.executable, "-m", f"dstream.providers.{provider}"]


class Result:
    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def lines(self) -> list[bytes]:
        return self.stdout.splitlines()

    @property
    def objects(self) -> list[Any]:
        return [orjson.loads(line) for line in self.lines]

    @property
    def handshake(self) -> Any:
        return orjson.loads(self.lines[0])

    @property
    def after_handshake(self) -> list[Any]:
        return self.objects[1:]

    @property
    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr.splitlines():
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "level" in obj and "msg" in obj:
                out.append(obj)
        return out


def run(
    provider: str,
    stdin: Union[bytes, str],
    *,
    cwd: Optional[Path] = None,
    env: Optional[dict[str, str]] = None,
) -> Result:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        argv(provider),
        input=data,
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=DEADLINE,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start(
    provider: str, *, cwd: Optional[Path] = None, env: Optional[dict[str, str]] = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv(provider),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def processes() -> Any:
    """Popen objects a test started; any still running at the end is killed by PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
