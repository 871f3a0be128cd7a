"""A duration that cannot work at 0 is a configuration error at its value's
file:line:col (exit 2, `lint` too), rather than a run that fails every time:
`start_timeout = 0` failed each run with "did not answer within 0 s of start". Where a
0 has a meaning (`commit_interval`: store every checkpoint; `stop_grace`: a stop kills
at once; `backoff`: restart at once) it stays allowed."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

TASK = """
task "t" {{
  {setting}
  input {{
    provider_path = "dstream-counter"
    config {{
      interval  = 0
      max_count = 3
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "out.jsonl" }}
  }}
}}
"""


@pytest.mark.parametrize(
    ("setting", "name"),
    [
        ("start_timeout = 0", "start_timeout"),
        ('start_timeout = "0s"', "start_timeout"),
        ('start_timeout = "0"', "start_timeout"),
        ('flush_timeout = "0ms"', "flush_timeout"),
        ('restart {\n    attempts = 1\n    reset_after = "0s"\n  }', "reset_after"),
    ],
)
def test_a_zero_that_cannot_work_is_a_configuration_error(
    ws: Workspace, setting: str, name: str
) -> None:
    ws.config(TASK.format(setting=setting))
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith(name))
    column = lines[line - 1].index("=") + 3  # the value's
    for args in (["lint"], ["run", "t"]):
        done = ws.run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"dstream.hcl:{line}:{column}: {name} in " in done.stderr, (args, done.stderr)
        assert "must be more than 0" in done.stderr, (args, done.stderr)
        assert "hint: " in done.stderr and "Traceback" not in done.stderr
    assert not (ws.root / "out.jsonl").exists()  # nothing was started


@pytest.mark.parametrize(
    "setting", ["commit_interval = 0", 'stop_grace = "0s"', "restart { backoff = 0 }"]
)
def test_a_zero_with_a_meaning_still_runs(ws: Workspace, setting: str) -> None:
    ws.config(TASK.format(setting=setting))
    assert ws.run("lint").returncode == 0
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("out.jsonl")) == 3
