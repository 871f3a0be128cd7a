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
from dstream.cli import boundary
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
boundary.exit_now = lambda code: (sys.stderr.write(json.dumps(seen)), sys.exit(code))
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


# `python -m dstream.cli.app` (what the tests run as `dstream`), probed as above: the
# module is run as __main__ the way -m runs it, and what was seen is written at exit.
MODULE_PROBE = """
import atexit, gc, json, runpy, sys
seen = {{}}
from dstream.config import loader

original = loader.analyze
def analyze(*args, **kwargs):
    seen["loading the configuration"] = gc.isenabled()
    return original(*args, **kwargs)
loader.analyze = analyze
atexit.register(lambda: sys.stderr.write("\\n" + json.dumps(seen)))
sys.argv = ["dstream", *{argv!r}]
runpy.run_module("dstream.cli.app", run_name="__main__", alter_sys=True)
"""


def test_python_m_starts_as_the_console_script_does(ws: Workspace) -> None:
    """`python -m dstream.cli.app` goes through the entry's start (cli/entry.py), the
    collector paused as the configuration loads, not through a copy of its steps."""
    ws.script("input.sh", """printf '%s\\n' '{"data":1}'\n""")
    ws.shell_output_task("./input.sh")
    done = ws.python(MODULE_PROBE.format(argv=["run", "-q"]))
    assert orjson.loads(done.stderr.splitlines()[-1]) == {"loading the configuration": False}
    assert ws.json_lines("out.jsonl") == [{"data": 1}]


# An input a warm start may start (protocol 1): the console script keeps its snapshot.
WARM_INPUT = r"""
read -r command
printf '%s\n' '{"status":"ready","protocol":1}'
printf '{"data":1}\n{"checkpoint":{"n":1}}\n'
"""


def test_python_m_never_starts_warm(ws: Workspace) -> None:
    """The tests' `dstream` (tests/workspace.py) neither keeps a warm start's snapshot
    nor starts from one: a second run in a test is a run as the first was. The console
    script's entry keeps one for the same run."""
    ws.script("input.sh", WARM_INPUT)
    ws.shell_output_task("./input.sh", state=True)
    ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
    for _ in range(2):
        done = ws.run("run", "-q", env={"DSTREAM_LOG_LEVEL": "debug"})
        assert done.returncode == 0, done.stderr
        assert "started by a warm start" not in done.stderr, done.stderr
    assert not (ws.root / "cache" / "warm").exists()
    ws.python(
        "import sys\nsys.argv = ['dstream', 'run', '-q']\nfrom dstream.cli.entry import run\nrun()"
    )
    assert list((ws.root / "cache" / "warm").iterdir()), "the console script kept one"
