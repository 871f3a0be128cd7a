"""Drive dstream-postgres-cdc as a real process over its stdin/stdout contract."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Optional

import orjson

from tests.workspace import Workspace

# The output most CDC project tests write to: a file per table.
FILE_OUTPUT = 'provider_path = "dstream-file"\nconfig { path = "out/{TableName}.jsonl" }'

PROVIDER = [sys.executable, "-c", "from dstream.providers.postgres_cdc import main; main()"]


def stop_started() -> None:
    """Kill, by PID, every provider a test started directly that still runs."""
    while Provider.started:
        proc = Provider.started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Provider:
    """The provider run directly, as dstream would run it. Every one started is killed
    by PID when its test ends (`stop_started`): a test that fails before it stops one
    would leave it reading its slot."""

    started: list[subprocess.Popen[bytes]] = []

    def __init__(self, command: str, config: dict[str, Any], *, task: str, state: Any = None):
        self.proc = subprocess.Popen(
            PROVIDER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "DSTREAM_TASK": task},
        )
        Provider.started.append(self.proc)
        line = {"command": command, "config": config, "task": task, "role": "input", "state": state}
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(line) + b"\n")
        self.proc.stdin.flush()
        self.buf = b""

    def line(self, timeout: float = 30) -> Optional[dict[str, Any]]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from the provider; stderr: {self.stderr()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return dict(orjson.loads(raw))

    def notice(self, checkpoint: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"committed": checkpoint}) + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> int:
        """SIGTERM, then read stdout to its end: a provider that flushes what it produced
        must not block on a full pipe nobody reads (a batch of changes fills 64 KiB)."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + 30
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if ready and not os.read(fd, 65536):
                break
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()[-3000:]


def lifecycle(command: str, config: dict[str, Any], *, task: str, **extra: Any) -> dict[str, Any]:
    line = {"command": command, "config": config, "task": task, "role": "input", **extra}
    done = subprocess.run(
        PROVIDER, input=orjson.dumps(line) + b"\n", capture_output=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert orjson.loads(lines[0])["status"] == "ready", done.stderr.decode()
    result = dict(orjson.loads(lines[1]))
    result["exit_code"] = done.returncode
    result["stderr"] = done.stderr.decode()
    return result


def in_one_transaction(dsn: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:  # commits at the end of the block
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def init_project(
    ws: Workspace, dsn: str, task: str, input_config: str, output: str = FILE_OUTPUT
) -> None:
    """Task `task` (slots are per server: every test has its own task name) from the CDC
    input (`input_config`: HCL lines besides dsn) into `output` (HCL), initialised."""
    ws.config(
        f"""
        state {{ path = "state" }}
        task "{task}" {{
          input {{
            provider_path = "dstream-postgres-cdc"
            config {{
              dsn = "{dsn}"
              {input_config}
            }}
          }}
          output {{
            {output}
          }}
        }}
        """
    )
    done = ws.run("init", task)
    assert done.returncode == 0, done.stdout + done.stderr
