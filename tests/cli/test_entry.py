"""The console script's entry (cli/entry.py) pauses the garbage collector while a command
starts, and the command turns it back on before its own work: a stream that runs for
days with the collector off would keep every reference cycle it ever made.

Each check runs the entry in a fresh interpreter, as the console script does, and
records whether the collector was on at the points that matter. "Frozen" means dstream
froze: the permanent generation grew past what the interpreter started with (CPython
3.12 starts with a few hundred objects frozen; the others with none).
"""

from __future__ import annotations

import orjson

from tests.workspace import Workspace

PROBE = """
import gc, sys, json
at_start = gc.get_freeze_count()
seen = {{}}
from dstream.cli import app
from dstream.config import loader
from dstream.runtime import runner

def watch(module, name, label):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        seen[label] = gc.isenabled()
        seen[label + ", frozen"] = gc.get_freeze_count() > at_start
        return original(*args, **kwargs)
    setattr(module, name, wrapper)

watch(loader, "analyze", "loading the configuration")
watch(runner, "run_tasks", "running the tasks")
app._exit = lambda code: (sys.stderr.write(json.dumps(seen)), sys.exit(code))
sys.argv = ["dstream", *{argv!r}]
from dstream.cli.entry import run
run()
"""


def collector_at(ws: Workspace, *argv: str) -> dict[str, bool]:
    done = ws.python(PROBE.format(argv=list(argv)))
    seen: dict[str, bool] = orjson.loads(done.stderr.splitlines()[-1])
    return seen


def test_run_starts_with_the_collector_paused_and_streams_with_it_on(ws: Workspace) -> None:
    ws.script("input.sh", """printf '%s\\n' '{"data":1}'\n""")
    ws.shell_output_task("./input.sh")
    seen = collector_at(ws, "run", "-q")
    assert seen == {
        "loading the configuration": False,
        "loading the configuration, frozen": False,
        "running the tasks": True,
        # what the start made is out of the collector's way: its first collection
        # would otherwise go through all of it before the providers start
        "running the tasks, frozen": True,
    }
    assert ws.json_lines("out.jsonl") == [{"data": 1}]


def test_other_commands_work_with_the_collector_on(ws: Workspace) -> None:
    ws.script("input.sh", """printf '%s\\n' '{"data":1}'\n""")
    ws.shell_output_task("./input.sh")
    assert collector_at(ws, "lint") == {
        "loading the configuration": True,
        "loading the configuration, frozen": True,
    }
