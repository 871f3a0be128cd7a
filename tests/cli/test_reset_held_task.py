"""`run --reset-state` forgets a task's checkpoint only once the run holds the task (its
run lock, or its lease): a run refused because another run holds it changes nothing,
and a `--standby` run resets only when it has taken over, never the checkpoint of the
run it waits for. Both state backends; the other holder is a store of this process
(another dstream process, or another host, to the CLI under test)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from dstream.state import StateStore, open_store
from tests.cli import scenarios
from tests.services import PostgresServer, table_for, wait_until
from tests.state.backends import BackendWorkspace

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["file", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StateSpec:
    if request.param == "file":
        return StateSpec(backend="file", path=str(tmp_path / "state"))
    server: PostgresServer = request.getfixturevalue("pg_server")
    return StateSpec(backend="postgres", dsn=server.dsn, table=table_for(request, "reset_"))


@pytest.fixture
def ws(spec: StateSpec, tmp_path: Path) -> BackendWorkspace:
    block = (
        'state { path = "state" }'
        if spec.backend == "file"
        else f'state {{\n  backend = "postgres"\n  dsn = "{spec.dsn}"\n  table = "{spec.table}"\n}}'
    )
    return BackendWorkspace(tmp_path, block)


@pytest.fixture
def elsewhere(spec: StateSpec, tmp_path: Path) -> Iterator[StateStore]:
    """The state as another run (another process, another host) sees it."""
    with open_store(spec, str(tmp_path)) as store:
        yield store


def _stored(store: StateStore) -> tuple[bytes, int]:
    record = store.get("t")
    assert record is not None, "no checkpoint stored"
    return record.raw, record.sequence


def _values(ws: BackendWorkspace) -> list[int]:
    return [r["data"]["value"] for r in ws.json_lines("out.jsonl")]


def test_a_reset_refused_because_another_run_holds_the_task_forgets_nothing(
    ws: BackendWorkspace, elsewhere: StateStore
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    before = _stored(elsewhere)
    with elsewhere.hold_run("t"):
        refused = ws.run("run", "t", "--reset-state")
        assert refused.returncode == 1, refused.stderr
        assert "task 't' is already running" in refused.stderr
        assert "forgotten" not in refused.stderr and "to forget" not in refused.stderr
        assert _stored(elsewhere) == before  # the holder's position is still there
    assert _values(ws) == list(range(1, 11))  # nothing ran

    done = ws.run("run", "t", "--reset-state")  # free now: the reset is done
    assert done.returncode == 0, done.stderr
    assert "task t: stored checkpoint forgotten (--reset-state)" in done.stderr
    assert _values(ws) == list(range(1, 11)) * 2


def test_a_standby_reset_waits_for_the_task_before_forgetting_its_checkpoint(
    ws: BackendWorkspace, elsewhere: StateStore
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    before = _stored(elsewhere)
    log = ws.root / "standby.log"
    with log.open("wb") as err:
        with elsewhere.hold_run("t"):
            standby = ws.popen(
                "run", "t", "--standby", "--reset-state", stdout=subprocess.DEVNULL, stderr=err
            )
            try:

                def waiting() -> bool:
                    assert standby.poll() is None, log.read_text()
                    return "taking over when it is free" in log.read_text()

                wait_until("the standby to wait for the task", waiting)
                # Waiting, it has not touched the checkpoint of the run it waits for.
                assert "forgotten" not in log.read_text()
                assert _stored(elsewhere) == before
            except BaseException:
                standby.kill()
                standby.wait()
                raise
        # Released: the standby takes over, forgets the checkpoint and starts over.
        assert standby.wait(timeout=120) == 0, log.read_text()
    text = log.read_text()
    assert "task t: stored checkpoint forgotten (--reset-state)" in text
    assert text.index("taking over when it is free") < text.index("forgotten")
    assert _values(ws) == list(range(1, 11)) * 2
