"""Workspaces the CLI tests share: a one-task file whose providers succeed, fail, or
run until stopped. Every provider is a real process (dstream's own, or a small script
written without the SDK). How the CLI tests run dstream into a pipe nobody reads, and
what they check of a usage error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Optional

from tests.services import wait_until
from tests.workspace import CliResult, Workspace, environ, json_document

# An input that writes two stderr lines and exits 3 before its handshake: a provider
# that cannot connect, as users meet it.
FAILING_INPUT = """
echo "connecting to db.example:5432" >&2
echo "password authentication failed for user app" >&2
exit 3
"""

# A lifecycle provider (input and output): ready with "lifecycle", then one result;
# with $FAIL set it fails the command the way a provider that cannot reach its service
# does (stderr, non-zero exit, no result line).
LIFECYCLE = r"""
import json, os, sys
if os.environ.get("DSTREAM_DESCRIBE") == "1":  # described without a command (protocol 2)
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
cmd = json.loads(sys.stdin.readline())
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
if os.environ.get("FAIL"):
    sys.stderr.write("cannot reach the broker at amqp://localhost:1\n")
    sys.exit(4)
if os.environ.get("ANSWER_FAILED"):  # it answers, and says it failed
    print(json.dumps({"status": "Failed", "message": "the queue quota is exceeded"}))
    sys.exit(0)
name = cmd["role"] + "-queue"
changes = {"init": [{"action": "create", "type": "queue", "name": name}],
           "plan": [{"action": "delete" if cmd.get("destroy") else "create",
                     "type": "queue", "name": name}],
           "destroy": [{"action": "delete", "type": "queue", "name": name}]}
result = {"status": "Success", "resources": [{"type": "queue", "name": name,
          "exists": cmd["command"] != "plan"}], "changes": changes.get(cmd["command"], [])}
if cmd["command"] == "plan" and os.environ.get("NO_CHANGES"):
    result["changes"] = []
print(json.dumps(result), flush=True)
"""


def counter_file(ws: Workspace, *, count: int = 10, interval: int = 0, restart: str = "") -> None:
    """Task "t": dstream-counter (a checkpoint every 5) into dstream-file out.jsonl."""
    ws.counter_task(
        "t",
        "dstream-file",
        'path = "out.jsonl"',
        count=count,
        checkpoint_every=5,
        interval=interval,
        settings=restart,
    )


def failing_input(ws: Workspace, *, restart: str = "") -> None:
    """Task "t": an input that exits 3 before its handshake, into dstream-file."""
    ws.script("fail.sh", FAILING_INPUT)
    ws.config(
        f"""
        state {{ path = "state" }}
        task "t" {{
          {restart}
          input  {{
            provider_path = "./fail.sh"
            inherit_env   = ["FAIL"]
          }}
          output {{
            provider_path = "dstream-file"
            config {{ path = "out.jsonl" }}
          }}
        }}
        """
    )


def lifecycle(ws: Workspace) -> None:
    """Task "t": LIFECYCLE as input and output (set FAIL=1 in the env to fail without
    an answer, ANSWER_FAILED=1 to answer that it failed)."""
    ws.python_script("lc.py", LIFECYCLE)
    ws.config(
        """
        state { path = "state" }
        task "t" {
          input  {
            provider_path = "./lc.py"
            inherit_env   = ["FAIL", "NO_CHANGES", "ANSWER_FAILED"]
          }
          output {
            provider_path = "./lc.py"
            inherit_env   = ["FAIL", "NO_CHANGES", "ANSWER_FAILED"]
          }
        }
        """
    )


def config_error(ws: Workspace) -> None:
    """A file with a misspelt attribute: a configuration error at 3:5."""
    ws.config(
        """
        task "t" {
          inptu { provider_path = "dstream-counter" }
          output { provider_path = "dstream-null" }
        }
        """
    )


def wait_for(proc: subprocess.Popen[bytes], ws: Workspace, what: str, seconds: float = 30) -> None:
    """Wait until the file `what` in the workspace is non-empty (the run is streaming)."""

    def streaming() -> str:
        assert proc.poll() is None, "dstream ended before it streamed"
        return ws.read_text(what)

    wait_until(f"something in {what}", streaming, seconds, tick=0.05)


def into_a_pipe_nobody_reads(
    ws: Workspace, *args: str, env: Optional[Mapping[str, str]] = None
) -> CliResult:
    """`dstream ARGS` run here writing its stdout into a pipe whose reader has left (as
    `| head` after it read enough), in the environment `env` (the workspace's by
    default); its stdout is b"", none of it read."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            ws.command(*args), cwd=ws.root, env=environ(ws.env) if env is None else env,
            stdout=write, stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    return CliResult(list(args), done.returncode, b"", done.stderr)


def usage_error(done: CliResult, *words: str) -> None:
    """`done` exited 2 with one error block naming every word, and no crash."""
    stderr = done.stderr
    assert done.returncode == 2, stderr
    assert stderr.startswith("error: ") and "\n  hint: " in stderr, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, (word, stderr)


def usage_document(done: CliResult, *words: str) -> None:
    """`done` (a --json run) exited 2 with one UsageError document, with a hint, whose
    message names every word."""
    assert done.returncode == 2, done.stderr
    doc = json_document(done)
    assert doc["ok"] is False and doc["error"] == "UsageError", doc
    assert doc["hint"], doc
    for word in words:
        assert word in doc["message"], (word, doc)
