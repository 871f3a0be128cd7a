"""Each provider's `config { ... }` checked against the JSON Schema the provider itself
describes (docs/protocol.md, section 2): `lint`, `plan` and `run` report a wrong key
with dstream.hcl:LINE:COL and a did-you-mean, a wrong type with what was expected, and
exit 2, before any provider is started. Built-in providers and one written with the
SDK, all real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.providers import MARKER_PROVIDER, SDK_INPUT
from tests.workspace import NO_COLOR, Workspace

ROOT = Path(__file__).resolve().parents[2]

# provider -> (role, a correct config, a misspelt key, the key it should suggest)
BUILTINS: dict[str, tuple[str, str, str, str | None]] = {
    "dstream-counter": ("input", "interval = 0", "intervall", "interval"),
    "dstream-postgres-cdc": ("input", 'tables = ["public.t"]', "tabels", "tables"),
    "dstream-mssql-cdc": ("input", 'poll_interval = "5s"', "poll_intervall", "poll_interval"),
    "dstream-null": ("output", "", "format", None),  # no keys at all: nothing to suggest
    "dstream-file": ("output", 'path = "out.jsonl"', "pth", "path"),
    "dstream-console": ("output", 'outputFormat = "json"', "formatt", "format"),
    "dstream-rabbitmq": ("output", 'queueName = "q"', "urll", "url"),
    "dstream-servicebus": (
        "output",
        'connectionString = "Endpoint=sb://x/"\n resourceGroup = "rg"',
        "connection_strin",
        "connection_string",
    ),
}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "c")})
    workspace.python_script("marker.py", MARKER_PROVIDER)
    workspace.python_script("sdk_input.py", SDK_INPUT)
    return workspace


def test_every_builtin_provider_is_covered() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(ROOT / "pyproject.toml", "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert sorted(n for n in scripts if n != "dstream") == sorted(BUILTINS)


def task_with(ws: Workspace, provider: str, role: str, config: str) -> None:
    """Task "t": `provider` on `role` with `config`, the marker provider on the other."""
    sides = {
        role: f'provider_path = "{provider}"\n    config {{\n      {config}\n    }}',
        ("output" if role == "input" else "input"): 'provider_path = "./marker.py"',
    }
    ws.config(
        f"""
        task "t" {{
          input {{
            {sides["input"]}
          }}
          output {{
            {sides["output"]}
          }}
        }}
        """
    )


def where(ws: Workspace, text: str) -> str:
    """dstream.hcl:LINE:COL of the first `text`."""
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, row in enumerate(lines, 1) if text in row)
    return f"dstream.hcl:{line}:{lines[line - 1].index(text) + 1}"


def wrong_key_line(ws: Workspace, key: str) -> str:
    """What dstream must print for `key`: its own position in dstream.hcl."""
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if re.search(rf"\b{key}\s*=", text))
    column = lines[line - 1].index(key) + 1
    return f"dstream.hcl:{line}:{column}: unknown config key '{key}'"


@pytest.mark.parametrize("provider", sorted(BUILTINS))
def test_builtin_wrong_key_is_refused_by_lint_plan_and_run(ws: Workspace, provider: str) -> None:
    role, _, key, guess = BUILTINS[provider]
    task_with(ws, provider, role, f"{key} = 1")
    expected = wrong_key_line(ws, key) + f" for {role} '{provider}'"
    if guess:
        expected += f" (did you mean '{guess}'?)"
    for args in (["lint"], ["plan", "t"], ["run", "t"]):
        done = ws.run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert expected in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert not (ws.root / "started").exists(), args  # nothing was started


@pytest.mark.parametrize("provider", sorted(BUILTINS))
def test_builtin_correct_config_lints_clean(ws: Workspace, provider: str) -> None:
    role, config, _, _ = BUILTINS[provider]
    task_with(ws, provider, role, config)
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr
    assert "0 error(s)" in done.stdout


def test_wrong_type_says_what_was_expected(ws: Workspace) -> None:
    task_with(ws, "dstream-counter", "input", 'interval = "fast"\n      tables = "orders"')
    done = ws.run("lint")
    assert done.returncode == 2
    fast = where(ws, '"fast"')
    assert (
        f"{fast}: config key 'interval' for input 'dstream-counter' must be "
        'an integer, got a string "fast"' in done.stderr
    ), done.stderr
    assert "config key 'tables' for input 'dstream-counter' must be a list" in done.stderr
    task_with(ws, "dstream-file", "output", 'path = "o.jsonl"\n      format = "envelop"')
    done = ws.run("lint")
    assert done.returncode == 2
    assert "must be one of 'envelope', 'data', got a string \"envelop\"" in done.stderr
    assert "(did you mean 'envelope'?)" in done.stderr


def test_nested_object_keys_are_located(ws: Workspace) -> None:
    """`config = { ... }` (the original's form) is located key by key too."""
    ws.config(
        """
        task "t" {
          input { provider_path = "./marker.py" }
          output {
            provider_path = "dstream-file"
            config = { path = "o.jsonl", "fsynk" = true }
          }
        }
        """
    )
    done = ws.run("lint")
    assert done.returncode == 2
    fsynk = where(ws, '"fsynk"')
    assert f"{fsynk}: unknown config key 'fsynk'" in done.stderr, done.stderr
    assert "(did you mean 'fsync'?)" in done.stderr


def sdk_task(ws: Workspace, config: str) -> None:
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "./sdk_input.py"
            config {{
              {config}
            }}
          }}
          output {{ provider_path = "./marker.py" }}
        }}
        """
    )


def test_sdk_provider_schema_comes_from_its_handshake(ws: Workspace) -> None:
    sdk_task(ws, 'cuont = 2\n              label = ["x"]')
    # run does not probe before it starts: not described yet, the SDK provider refuses
    # at its handshake, and is probed then: the same error as lint's (test_refused_config)
    done = ws.run("run", "t")
    assert done.returncode == 2 and "(did you mean 'count'?)" in done.stderr, done.stderr
    (ws.root / "started").unlink()
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    assert (
        f"{where(ws, 'cuont')}: unknown config key 'cuont' for input './sdk_input.py' "
        "(did you mean 'count'?)" in done.stderr
    ), done.stderr
    assert "config key 'label' for input './sdk_input.py' must be a string, got a list" in (
        done.stderr
    )
    for args in (["plan", "t"], ["run", "t"]):  # described by lint: run checks it too
        done = ws.run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"{where(ws, 'cuont')}: unknown config key 'cuont'" in done.stderr
        assert not (ws.root / "started").exists(), args


def test_sdk_provider_correct_config_runs(ws: Workspace) -> None:
    sdk_task(ws, 'count = "2"\n              Label = "v"')  # HCL's conversions; any case
    assert ws.run("lint").returncode == 0
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert "input started" in ws.read_text("started")


def test_examples_and_original_configs_still_lint(ws: Workspace) -> None:
    """The original DStream's own example keys (camelCase) pass the built-ins' schemas."""
    ws.config(
        """
        task "oci-counter-demo" {
          type = "providers"
          input {
            provider_path = "dstream-counter"
            config {
              interval = 1000
              maxCount = 5
            }
          }
          output {
            provider_path = "dstream-console"
            config {
              outputFormat = "simple"
            }
          }
        }
        """
    )
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr


def test_the_schema_travels_in_the_probe_answer_only(ws: Workspace) -> None:
    """A probe (DSTREAM_DESCRIBE=1, no command, stdin at /dev/null) gets the schema and an
    exit 0; a command's ready line stays as an older dstream reads it."""
    counter = os.path.join(sysconfig.get_path("scripts"), "dstream-counter")
    env = {"PATH": os.environ["PATH"], "DSTREAM_DESCRIBE": "1"}
    probe = subprocess.run([counter], stdin=subprocess.DEVNULL, capture_output=True, env=env)
    assert probe.returncode == 0, probe.stderr
    ready = json.loads(probe.stdout)
    assert ready["features"] == ["checkpoints"] and ready["role"] == "input"
    assert ready["config_schema"]["properties"]["interval"] == {"type": "integer", "minimum": 0}
    command = b'{"command":"run","config":{"max_count":1,"interval":0}}\n'
    run = subprocess.run([counter], input=command, capture_output=True)
    assert json.loads(run.stdout.splitlines()[0]) == {
        "status": "ready",
        "protocol": 1,
        "features": ["checkpoints"],
    }


@pytest.mark.parametrize("args", [["init"], ["status"], ["destroy", "--auto-approve"]])
def test_every_lifecycle_command_refuses_before_asking(ws: Workspace, args: list[str]) -> None:
    task_with(ws, "dstream-file", "output", 'path = "o.jsonl"\n      fsynk = true')
    done = ws.run(*args, "t")
    assert done.returncode == 2, done.stderr
    assert "unknown config key 'fsynk' for output 'dstream-file' (did you mean 'fsync'?)" in (
        done.stderr
    )
    assert not (ws.root / "started").exists()


def test_a_key_given_twice_in_two_spellings_is_refused_by_lint(ws: Workspace) -> None:
    """The SDK binds `maxCount` and `max_count` to one key and refuses the second at its
    start; lint has the same schema, so it refuses them first, naming both spellings."""
    task_with(ws, "dstream-counter", "input", "max_count = 1\n      maxCount = 2")
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    assert (
        f"{where(ws, 'maxCount')}: config key 'max_count' for input 'dstream-counter' is "
        "given twice, as 'max_count' and as 'maxCount'" in done.stderr
    ), done.stderr


def test_one_block_where_a_list_is_wanted_says_how_to_write_a_list_of_one(ws: Workspace) -> None:
    task_with(ws, "dstream-counter", "input", 'tables { name = "orders" }')
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    assert "config key 'tables' for input 'dstream-counter' must be a list" in done.stderr
    assert "one block is an object: write tables = [{ ... }] for a list of one" in done.stderr


def test_repeated_and_labelled_blocks_are_located_at_their_own_lines(ws: Workspace) -> None:
    """A key written as repeated blocks (a list of objects) or as a labelled block (an
    object by label) is reported at its own (first) block, not at `config {`, and in
    the order the keys were written."""
    ws.config(
        """
        task "t" {
          input { provider_path = "./marker.py" }
          output {
            provider_path = "dstream-file"
            config {
              path = "x.jsonl"
              format { deep = true }
              rotate { size = 5 }
              rotate { size = 6 }
              opts "a" { b = 1 }
            }
          }
        }
        """
    )
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    rotate = f"{where(ws, 'rotate')}: unknown config key 'rotate'"
    opts = f"{where(ws, 'opts')}: unknown config key 'opts'"
    # a single block was located already: a wrong value written as one, for the order
    format_ = f"{where(ws, 'format {')}: config key 'format' for output 'dstream-file' must be"
    for expected in (rotate, opts, format_):
        assert expected in done.stderr, (expected, done.stderr)
    positions = [done.stderr.index(expected) for expected in (format_, rotate, opts)]
    assert positions == sorted(positions), done.stderr
