"""`dstream version` says each fact once, in its own words (it printed `rustc rustc
1.95.0` and the core's version twice); `dstream show` of two tasks says it shows one
(it said "unrecognized arguments: 1 word, not shown")."""

from __future__ import annotations

from tests.workspace import Workspace

TWO = """
task "orders" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
task "users" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def test_version_says_each_fact_once(ws: Workspace) -> None:
    done = ws.run("version")
    assert done.returncode == 0, done.stderr
    assert "rustc rustc" not in done.stdout, done.stdout
    assert "core_version" not in done.stdout, done.stdout
    assert "rustc " in done.stdout, done.stdout


def test_show_of_two_tasks_says_it_shows_one(ws: Workspace) -> None:
    ws.config(TWO)
    done = ws.run("show", "orders", "users")
    assert done.returncode == 2, done.stderr
    assert "show takes one task" in done.stderr, done.stderr
    assert "not shown" not in done.stderr, done.stderr
    assert done.stdout == ""
    usage = ws.run("show", "--help").stdout
    assert "[TASK]" in usage and "[TASK ...]" not in usage, usage
