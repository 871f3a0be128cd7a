"""init / plan / status / destroy start an input only when it describes itself with
"lifecycle" (runtime/describe.py), never by sending it a command it may not know: the
original .NET SDK takes an unknown command for `run`. The output is always asked, as
the original DStream asked only it. Real processes: the legacy zoo's original-shaped
inputs (they append the command they were started with to $ZOO_STARTED), an input
written with the SDK, and dstream-postgres-cdc."""

from __future__ import annotations

import pytest

from tests.legacy import zoo
from tests.providers import MARKER_PROVIDER, SDK_INPUT
from tests.workspace import Workspace

COMMANDS = [["init"], ["plan"], ["status"], ["destroy", "--auto-approve"]]


def original_input_task(ws: Workspace, program: str, config: str) -> None:
    ws.python_script("marker.py", MARKER_PROVIDER)
    ws.config(
        f"""
        task "t" {{
          type = "providers"
          input {{
            provider_path = "{zoo(program)}"
            env = {{ ZOO_STARTED = "{ws.root / "zoo-started"}" }}
            config {{
              {config}
            }}
          }}
          output {{ provider_path = "./marker.py" }}
        }}
        """
    )


ORIGINAL_INPUTS = {
    "counter_input": "interval = 10\n maxCount = 2",
    "mssql_ingester": 'poll_interval = "5s"\n max_poll_interval = "30s"\n tables = ["Cars"]',
}


@pytest.mark.parametrize("program", sorted(ORIGINAL_INPUTS))
def test_original_input_is_never_started_for_a_lifecycle_command(
    ws: Workspace, program: str
) -> None:
    original_input_task(ws, program, ORIGINAL_INPUTS[program])
    for args in COMMANDS:
        code, doc, err = ws.run_json(*args, "t")
        assert code == 0, (args, err)
        inp, _ = sorted(doc["tasks"][0]["providers"], key=lambda p: p["role"])
        assert inp["outcome"] == "no-infrastructure"
        assert "not asked" in inp["note"] and "original DStream" in inp["note"], inp
        assert "Traceback" not in err
        assert not (ws.root / "zoo-started").exists(), (args, ws.read_text("zoo-started"))
    # the output was asked every time, as the original asked it
    assert ws.read_text("started").split("\n")[:-1] == [
        "output init",
        "output plan",
        "output status",
        "output destroy",
    ]
    # the marker works: a run does start it
    assert ws.run("run", "t").returncode == 0
    assert ws.read_text("zoo-started") == f"{program} run\n"


def test_the_view_says_why_an_input_was_not_asked(ws: Workspace) -> None:
    original_input_task(ws, "counter_input", ORIGINAL_INPUTS["counter_input"])
    for command in ("status", "plan"):
        done = ws.run(command, "t")
        assert done.returncode == 0, done.stderr
        said = [row for row in done.stdout.splitlines() if "not asked" in row]
        assert len(said) == 1, done.stdout
        assert "counter_input.py" in said[0] and "it declares no lifecycle" in said[0]


def sdk_input_task(ws: Workspace, extra: str = "") -> None:
    ws.python_script("sdk_input.py", SDK_INPUT)
    ws.python_script("marker.py", MARKER_PROVIDER)
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "./sdk_input.py"
            {extra}
          }}
          output {{ provider_path = "./marker.py" }}
        }}
        """
    )


def test_sdk_input_declaring_lifecycle_is_asked(ws: Workspace) -> None:
    sdk_input_task(ws)
    code, doc, err = ws.run_json("status", "t")
    assert code == 0, err
    inp = doc["tasks"][0]["providers"][0]
    assert (inp["role"], inp["outcome"]) == ("input", "done")
    assert inp["resources"] == [{"type": "numbers", "name": "n"}]
    assert "input status" in ws.read_text("started")


def test_lifecycle_false_keeps_an_input_from_being_asked_or_probed(ws: Workspace) -> None:
    sdk_input_task(ws, "lifecycle = false")
    code, doc, err = ws.run_json("status", "t")
    assert code == 0, err
    inp = doc["tasks"][0]["providers"][0]
    assert inp["outcome"] == "no-infrastructure"
    assert "lifecycle = false" in inp["note"]
    assert ws.read_text("started") == "output status\n"


def test_an_input_seen_in_a_run_is_known_without_a_probe(ws: Workspace) -> None:
    """One that cannot be probed (it ignores DSTREAM_DESCRIBE and waits for a command)
    is known from the handshake it gave in its last run."""
    ws.python_script(
        "waits.py",
        r"""
        import json, sys
        cmd = json.loads(sys.stdin.readline())
        with open("started", "a") as marker:
            marker.write("input " + cmd["command"] + "\n")
        print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
        if cmd["command"] != "run":
            print(json.dumps({"status": "Success", "resources": []}))
        """,
    )
    ws.python_script("marker.py", MARKER_PROVIDER)
    ws.config(
        """
        task "t" {
          input { provider_path = "./waits.py" }
          output { provider_path = "./marker.py" }
        }
        """
    )
    assert ws.run("run", "t").returncode == 0
    code, doc, err = ws.run_json("status", "t")
    assert code == 0, err
    assert doc["tasks"][0]["providers"][0]["outcome"] == "done"
    assert "input status" in ws.read_text("started")


def test_postgres_cdc_input_is_asked(ws: Workspace) -> None:
    """dstream-postgres-cdc declares lifecycle: asked, it tries its database (none
    listens on port 1 here) and reports that, instead of being skipped."""
    ws.python_script("marker.py", MARKER_PROVIDER)
    ws.config(
        """
        task "t" {
          input {
            provider_path = "dstream-postgres-cdc"
            config {
              dsn    = "postgresql://u@127.0.0.1:1/db?connect_timeout=2"
              tables = ["public.t"]
            }
          }
          output { provider_path = "./marker.py" }
        }
        """
    )
    code, doc, err = ws.run_json("status", "t")
    inp = doc["tasks"][0]["providers"][0]
    assert inp["role"] == "input"
    assert inp["outcome"] == "failed", inp  # asked, and its answer is its own
    assert code == 1, err


def test_a_damaged_cache_entry_describes_nothing() -> None:
    """A cache file edited or cut short never fails a command: it is as if absent."""
    from dstream.runtime.description import CACHE, CACHE_FORMAT, Description

    damaged = b'{"format":"%s","features":5,"protocol":"1"}' % CACHE_FORMAT.encode()
    found = Description.from_json(damaged, CACHE)
    assert found is not None and found.features == frozenset() and found.protocol is None
    assert Description.from_json(b'{"format":', CACHE) is None
