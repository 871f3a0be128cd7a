"""How a `dstream run` of several tasks holds their leases, and what it says when a
signal stops it: a task that completed, failed or was removed by a reload gives its
lease up at once while the others stream on (a standby elsewhere takes it); a task that
had failed before the signal stays failed; SIGTERM to a waiting standby is SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Callable

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, Database, Host, config
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream, executable, json_document

STATE = """state {{
  backend = "postgres"
  dsn = "{dsn}"
  table = "{table}"
  lease_ttl = "6s"
  lease_renew_interval = "1s"
}}
"""
COUNTER = """task "{name}" {{
  commit_interval = "200ms"
  stop_grace = "1s"
  input  {{ provider_path = "dstream-counter"  config {{ interval = 20  max_count = {count}  checkpoint_every = 10 }} }}
  output {{ provider_path = "dstream-file"     config {{ path = "out_{name}.jsonl" }} }}
}}
"""  # noqa: E501
BROKEN = """task "broken" {
  input  { provider_path = "./fail.sh" }
  output { provider_path = "dstream-file"  config { path = "out_broken.jsonl" } }
}
"""
FAIL = "#!/bin/sh\necho 'cannot reach the source' >&2\nexit 3\n"


def project(dsn: str, table: str, *tasks: str) -> str:
    return STATE.format(dsn=dsn, table=table) + "".join(tasks)


def counter(name: str, count: int = 0) -> str:
    return COUNTER.format(name=name, count=count)


def host(root: Path, name: str, text: str) -> Host:
    made = Host(root, name, text)
    executable(made.root / "fail.sh", FAIL)
    return made


def held_by(db: Database, who: Host) -> bool:
    lease = db.lease()
    return lease is not None and lease.expires_in > 0 and lease.pid == who.pid


def released(db: Database) -> bool:
    lease = db.lease()
    return lease is not None and lease.expires_in <= 0


def test_a_task_that_completed_or_failed_gives_its_lease_up_while_the_others_run(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    text = project(pg_server.dsn, table, counter("endless"), counter("short", 30), BROKEN)
    runner, other = host(tmp_path, "a", text), host(tmp_path, "b", text)
    endless, short, broken = (database(pg_server.dsn, n) for n in ("endless", "short", "broken"))
    try:
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
    finally:
        for each in (runner, other):
            each.stop()


def test_a_task_removed_by_a_reload_gives_its_lease_up(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    runner = host(tmp_path, "a", project(pg_server.dsn, table, counter("kept"), counter("gone")))
    kept, gone = database(pg_server.dsn, "kept"), database(pg_server.dsn, "gone")
    try:
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
    finally:
        runner.stop()


def test_sigterm_to_a_waiting_standby_is_sigterm(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    text = config(pg_server.dsn, table, 6, 1)
    holder, standby = Host(tmp_path, "a", text), Host(tmp_path, "b", text)
    db = database(pg_server.dsn)
    try:
        holder.start("run", TASK, "--json")
        wait_until("the holder to take the lease", lambda: held_by(db, holder))
        standby.start("run", TASK, "--standby")
        wait_until("the standby to wait", lambda: "taking over when it is free" in standby.stderr())
        standby.signal(signal.SIGTERM)
        assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
        said = standby.stderr() + (standby.root / "stdout.1").read_text()
        assert "stopped by SIGTERM" in said and "SIGINT" not in said, said
        history = json_document(dstream("runs", TASK, "--json", cwd=standby.root))["runs"]
        assert (history[-1]["result"], history[-1]["exit_code"]) == ("interrupted", 143)
        assert held_by(db, holder)  # it never took anything
    finally:
        for each in (holder, standby):
            each.stop()


def test_a_task_that_failed_before_the_signal_stays_failed(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    runner = host(tmp_path, "a", project(pg_server.dsn, table, counter("endless"), BROKEN))
    endless, broken = database(pg_server.dsn, "endless"), database(pg_server.dsn, "broken")
    try:
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
        history = json_document(dstream("runs", "broken", "--json", cwd=runner.root))["runs"]
        assert history[-1]["result"] == "failed", history
        assert history[-1]["exit_code"] == tasks["broken"]["exit_code"] != 143, history
    finally:
        runner.stop()
