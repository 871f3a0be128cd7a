"""A run's configuration error, with `--log-format json`, carries the `task` it is about
(docs/operations.md, "Logs"): one found in a task block, or while checking that task's
providers, or an unset variable that only that task uses. One about the file as a whole
(its state block) carries none. Before, none of them had a `task`."""

from __future__ import annotations

from typing import Any

import pytest

from dstream.errors import ExitCode
from tests.workspace import Workspace, log_records

pytestmark = pytest.mark.timeout(120)

OTHER = """\
task "other" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def _task(inputs: str, *, settings: str = "") -> str:
    """Task "t" with `inputs` as its input block's body, after the task's `settings`."""
    return f"""\
task "t" {{
  {settings}
  input {{
    {inputs}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


COUNTER = 'provider_path = "dstream-counter"'
CASES = {
    # found while its providers are checked (no such executable; its config's schema)
    "provider": (_task('provider_path = "nope-xyz"'), "t"),
    "schema": (_task(f"{COUNTER}\nconfig {{ nope = 1 }}"), "t"),
    # found while the file loads, in the task's block
    "setting": (_task(COUNTER, settings='commit_interval = "abc"'), "t"),
    # an unset variable only this task uses: it fails where the task uses it
    "unset": (_task(f'{COUNTER}\nconfig {{ max_count = env("DSTREAM_TEST_UNSET") }}'), "t"),
    # about the file as a whole: its state block, a local the task uses
    "state": ("state { bogus = 1 }\n", None),
    "local": (
        "locals { n = var.nope }\n" + _task(f"{COUNTER}\nconfig {{ max_count = local.n }}"),
        None,
    ),
}


def _error_record(ws: Workspace, text: str, task: str) -> dict[str, Any]:
    ws.config(text)
    done = ws.run("run", task, env={"DSTREAM_LOG_FORMAT": "json"})
    assert done.returncode == ExitCode.USAGE, done.stderr
    errors = [r for r in log_records(done.stderr) if r["level"] == "error"]
    assert len(errors) == 1 and errors[0]["location"], done.stderr
    return errors[0]


@pytest.mark.parametrize("case", list(CASES))
def test_a_runs_config_error_record_names_its_task(ws: Workspace, case: str) -> None:
    text, task = CASES[case]
    record = _error_record(ws, OTHER + text, "t" if task else "other")
    assert record.get("task") == task, record


def test_a_warning_that_a_task_cannot_be_used_names_it(ws: Workspace) -> None:
    """`run other` warns that task "t", which reads an unset environment variable, cannot
    be used: its JSON record carries `task` "t", as every record about a task does."""
    ended = OTHER.replace(
        '{ provider_path = "dstream-counter" }',
        '{\n    provider_path = "dstream-counter"\n    config { max_count = 1 }\n  }',
    )
    ws.config(ended + _task(f'{COUNTER}\nconfig {{ max_count = env("DSTREAM_TEST_UNSET") }}'))
    done = ws.run("run", "other", env={"DSTREAM_LOG_FORMAT": "json"})
    assert done.returncode == ExitCode.OK, done.stderr
    (warning,) = [r for r in log_records(done.stderr) if "cannot be used" in r["msg"]]
    assert warning["level"] == "warning" and warning.get("task") == "t", warning
