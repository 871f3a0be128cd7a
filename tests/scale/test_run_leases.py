"""How a `dstream run` of several tasks holds their leases, and what it says when a
signal stops it: a task that completed, failed or was removed by a reload gives its
lease up at once while the others stream on (a standby elsewhere takes it); a task that
had failed before the signal stays failed; SIGTERM to a waiting standby is SIGTERM."""

from __future__ import annotations

import signal
from typing import Callable

from dstream.errors import ExitCode
from tests.scale.cluster import (
    TASK,
    Database,
    Host,
    Hosts,
    config,
    counter,
    held_by,
    holder_and_standby,
    project,
    released,
)
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream, executable, task_runs

BROKEN = """task "broken" {
  input  { provider_path = "./fail.sh" }
  output {
    provider_path = "dstream-file"
    config { path = "out_broken.jsonl" }
  }
}
"""
FAIL = "#!/bin/sh\necho 'cannot reach the source' >&2\nexit 3\n"


def with_broken(host: Host) -> Host:
    """`host`, with the broken task's input script in its directory."""
    executable(host.root / "fail.sh", FAIL)
    return host


def test_a_task_that_completed_or_failed_gives_its_lease_up_while_the_others_run(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    text = project(pg_server.dsn, table, counter("endless"), counter("short", max_count=30), BROKEN)
    runner, other = with_broken(hosts("a", text)), with_broken(hosts("b", text))
    endless, short, broken = (database(pg_server.dsn, n) for n in ("endless", "short", "broken"))
    runner.start("run", "--all", "--json")
    wait_until("the run to hold endless", lambda: held_by(endless, runner))
    wait_until("failed broken's lease to be released", lambda: released(broken))
    wait_until("completed short's lease to be released", lambda: released(short))
    assert runner.proc is not None and runner.proc.poll() is None, runner.stderr()
    shown = dstream("status", "short", cwd=runner.root)
    assert "short: not running" in shown.stdout, shown
    # Another host's standby takes it at once (it resumes after the stored checkpoint,
    # so it completes at once), while the first run still streams endless.
    other.start("run", "short", "--standby", "--json")
    assert other.wait() == 0, other.stderr()
    assert held_by(endless, runner)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 1, runner.stderr()  # broken failed: that wins over 143


def test_a_task_removed_by_a_reload_gives_its_lease_up(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    runner = hosts("a", project(pg_server.dsn, table, counter("kept"), counter("gone")))
    kept, gone = database(pg_server.dsn, "kept"), database(pg_server.dsn, "gone")
    runner.start("run", "--all", "--json")
    wait_until(
        "the run to hold both tasks", lambda: held_by(kept, runner) and held_by(gone, runner)
    )
    (runner.root / "dstream.hcl").write_text(project(pg_server.dsn, table, counter("kept")))
    runner.signal(signal.SIGHUP)
    wait_until("the removed task's lease to be released", lambda: released(gone))
    assert held_by(kept, runner)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == ExitCode.TERMINATED, runner.stderr()
    outcomes = {t["task"]: t["outcome"] for t in runner.summary()["tasks"]}
    assert outcomes == {"kept": "interrupted", "gone": "removed"}, outcomes


def test_sigterm_to_a_waiting_standby_is_sigterm(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    text = config(pg_server.dsn, table, 6, 1)
    holder, standby = hosts("a", text), hosts("b", text)
    db = database(pg_server.dsn)
    holder_and_standby(db, holder, standby)
    standby.signal(signal.SIGTERM)
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
    said = standby.stderr() + (standby.root / "stdout.1").read_text()
    assert "stopped by SIGTERM" in said and "SIGINT" not in said, said
    history = task_runs(standby.root, TASK)
    assert (history[-1]["result"], history[-1]["exit_code"]) == ("interrupted", 143)
    assert held_by(db, holder)  # it never took anything


def test_a_task_that_failed_before_the_signal_stays_failed(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    runner = with_broken(hosts("a", project(pg_server.dsn, table, counter("endless"), BROKEN)))
    endless, broken = database(pg_server.dsn, "endless"), database(pg_server.dsn, "broken")
    runner.start("run", "endless", "broken", "--json")
    wait_until("the run to hold endless", lambda: held_by(endless, runner))
    # Its lease goes once its outcome is settled: the signal comes after its failure.
    wait_until("broken to have failed", lambda: released(broken))
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 1, runner.stderr()
    tasks = {t["task"]: t for t in runner.summary()["tasks"]}
    assert (tasks["broken"]["outcome"], tasks["broken"]["stopped_by"]) == ("failed", None)
    assert (tasks["endless"]["outcome"], tasks["endless"]["stopped_by"]) == (
        "interrupted",
        "SIGTERM",
    )
    history = task_runs(runner.root, "broken")
    assert history[-1]["result"] == "failed", history
    assert history[-1]["exit_code"] == tasks["broken"]["exit_code"] != 143, history
