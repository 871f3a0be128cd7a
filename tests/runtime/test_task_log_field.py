"""dstream's own log lines about one task carry it as a field of their JSON record, as a
provider's lines do (a log shipper selects by it), and name it in words in a text line:
`task T: ...` (logs.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orjson

import dstream
from tests.cli import scenarios
from tests.workspace import Workspace


def test_a_task_s_own_log_record_carries_its_task(ws: Workspace) -> None:
    scenarios.failing_input(ws, restart="restart {\n attempts = 2\n backoff = 0.01\n}")
    done = ws.run("run", "t", "-f", "json")
    records = [orjson.loads(line) for line in done.stderr.splitlines() if line.strip()]
    restarting = [r for r in records if "restarting in" in r.get("msg", "")]
    assert restarting and restarting[0]["task"] == "t", records
    assert not restarting[0]["msg"].startswith("task t"), restarting  # the field says it
    text = ws.run("run", "t").stderr
    assert "dstream: [warning] task t: " in text and "restarting in" in text, text


_LEVELS = {"debug", "info", "warning", "error"}


def _message(node: ast.expr) -> str:
    """A message's literal text, each `{...}` of an f-string as `{}`."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _message(part) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return ""


def _names_a_task_in_words(call: ast.Call) -> bool:
    """Whether `call` is `logs.log.LEVEL(...)` whose message names a task in words
    (`"task %s: ..."`, `"... running task %s"`, `f"task {name}: ..."`) with no `task=`."""
    func = call.func
    is_log = (
        isinstance(func, ast.Attribute)
        and func.attr in _LEVELS
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "log"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "logs"
    )
    if not is_log or not call.args or any(k.arg == "task" for k in call.keywords):
        return False
    return re.search(r"\btask (%s|%r|\{\})", _message(call.args[0])) is not None


def _calls_naming_a_task() -> dict[str, list[int]]:
    """Each module of python/dstream (relative path) with such calls, and their lines."""
    root = Path(dstream.__file__).parent
    found: dict[str, list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        lines = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _names_a_task_in_words(node)
        ]
        if lines:
            found[path.relative_to(root).as_posix()] = lines
    return found


def test_no_log_call_names_its_task_in_its_message() -> None:
    """A message about one task gives it as `task=` (a field of its JSON record, `task
    T: ` in a text line: logs.about), never as a `task %s` of its own: a log shipper
    selecting a task's records would miss it."""
    assert _calls_naming_a_task() == {}
