"""A provider that refuses its handshake before dstream knows its config schema: `run`
(which does not probe before starting, docs/protocol.md section 2) probes it then, and
checks the task's config against the schema it describes. A config mistake is then the
same error, exit 2 at dstream.hcl:LINE:COL, on a first run (fresh describe cache) as
after `lint` described the provider; before, the first run exited 1 with the provider's
words and no place. A refusal the schema does not explain stays a provider failure
(exit 1). Real SDK providers, a describe cache of each test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.providers import SDK_INPUT
from tests.workspace import NO_COLOR, Workspace

pytestmark = pytest.mark.timeout(120)

# SDK_INPUT's config has `count` (an integer) and `label`; a negative count passes its
# schema, and the provider refuses it at its handshake (its `validate`).
VALIDATING_INPUT = SDK_INPUT.replace(
    '    label: str = "n"\n',
    '    label: str = "n"\n\n'
    "    def validate(self):\n"
    "        if self.count < 0:\n"
    '            raise ValueError("count must be 0 or more")\n',
)

SDK_OUTPUT = r"""
from dataclasses import dataclass
from dstream.sdk import OutputProvider, ProviderConfig, run_provider

@dataclass
class Config(ProviderConfig):
    path: str = ""

class Sink(OutputProvider[Config]):
    config_class = Config

    async def write(self, batch):
        pass

run_provider(Sink)
"""

COUNTER = """
task "c" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 1 }
  }
  output { provider_path = "dstream-null" }
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "c")})
    workspace.python_script("src.py", SDK_INPUT)
    workspace.python_script("checking.py", VALIDATING_INPUT)
    workspace.python_script("sink.py", SDK_OUTPUT)
    return workspace


def task_s(ws: Workspace, config: str, *, source: str = "./src.py", more: str = "") -> None:
    ws.config(
        f"""
task "s" {{
  input {{
    provider_path = "{source}"
    config {{ {config} }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
{more}"""
    )


def at(ws: Workspace, text: str) -> str:
    """dstream.hcl:LINE:COL of the first `text`."""
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, row in enumerate(lines, 1) if text in row)
    return f"dstream.hcl:{line}:{lines[line - 1].index(text) + 1}"


def test_a_config_mistake_is_exit_2_with_its_place_on_a_first_run(ws: Workspace) -> None:
    task_s(ws, "cout = 5")
    expected = f"{at(ws, 'cout')}: unknown config key 'cout' for input './src.py'"
    done = ws.run("run", "s")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert expected in done.stderr and "(did you mean 'count'?)" in done.stderr, done.stderr
    # the provider's own refusal is still shown with it
    assert "input './src.py' refused to start" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # the same as once lint described it, and as every later run
    assert ws.run("lint").returncode == ExitCode.USAGE
    again = ws.run("run", "s")
    assert again.returncode == ExitCode.USAGE and expected in again.stderr, again.stderr


def test_its_json_error_has_the_place_the_task_and_the_refusal(ws: Workspace) -> None:
    task_s(ws, "cout = 5")
    done = ws.run("run", "s", "--json")
    assert done.returncode == ExitCode.USAGE, done.stderr
    (task,) = json.loads(done.stdout)["tasks"]
    error = task["error"]
    assert error["error"] == "ConfigError" and error["location"] == at(ws, "cout"), error
    assert "refused to start" in error["refusal"], error


def test_a_refusal_its_schema_does_not_explain_stays_exit_1(ws: Workspace) -> None:
    task_s(ws, "count = -1", source="./checking.py")
    done = ws.run("run", "s")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert "input './checking.py' refused to start: " in done.stderr, done.stderr
    assert "count must be 0 or more" in done.stderr, done.stderr
    assert "dstream.hcl:" not in done.stderr, done.stderr


def test_among_several_tasks_it_fails_its_own_task(ws: Workspace) -> None:
    task_s(ws, "cout = 5", more=COUNTER)
    done = ws.run("run", "s", "c")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "task c: completed" in done.stderr, done.stderr
    assert f'error: task "s": {at(ws, "cout")}: unknown config key' in done.stderr, done.stderr


def test_an_output_that_refused_is_a_config_mistake_too(ws: Workspace) -> None:
    """The output's refusal comes while the input already runs: the task still failed
    before streaming (the output read nothing), at the key's place."""
    ws.config(
        """
task "s" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 3 }
  }
  output {
    provider_path = "./sink.py"
    config { pth = "x" }
  }
}
"""
    )
    done = ws.run("run", "s")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"{at(ws, 'pth')}: unknown config key 'pth' for output './sink.py'" in done.stderr
    assert "output './sink.py' refused to start" in done.stderr, done.stderr
    assert "task s: failed before streaming" in done.stderr, done.stderr
