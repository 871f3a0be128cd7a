"""Runs of `dstream` in directories of their own sharing one state (the file state by an
absolute path: one host; or PostgreSQL), and a store of this process that holds tasks
as another run would: for the tests of runs that hold tasks (test_standby_tasks.py,
test_input_digest_held.py, test_reset_held_task.py). Their task blocks are the scale
tests' (tests/scale/cluster.py `counter`), as is what a waiting standby says (`WAITING`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from dstream.state import StateStore, open_store
from dstream.state.base import AlreadyRunning
from tests.services import PostgresServer, table_for
from tests.workspace import NO_COLOR, Run, Workspace


def state_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StateSpec:
    """The state of a test parametrized by backend ("file" or "postgres")."""
    if request.param == "file":
        return StateSpec(backend="file", path=str(tmp_path / "state"))
    server: PostgresServer = request.getfixturevalue("pg_server")
    return StateSpec(backend="postgres", dsn=server.dsn, table=table_for(request, "standby_"))


def state_block(spec: StateSpec) -> str:
    if spec.backend == "file":
        return f'state {{ path = "{spec.path}" }}\n'
    return f'state {{\n  backend = "postgres"\n  dsn = "{spec.dsn}"\n  table = "{spec.table}"\n}}\n'


class HostRun(Run):
    """A run on one of the Hosts; each of its tasks (cluster.counter) writes
    out_<name>.jsonl by default."""

    def streams(self, *names: str) -> bool:
        """Whether it wrote envelopes of every task named."""
        return all(self.ws.read_text(f"out_{name}.jsonl") != "" for name in names)

    def started_any(self, *names: str) -> bool:
        return any((self.ws.root / f"out_{name}.jsonl").exists() for name in names)


class Hosts:
    """Workspaces sharing the test's state, each with the same dstream.hcl, and the runs
    started in them (killed at teardown)."""

    def __init__(self, root: Path, state: str) -> None:
        self.root = root
        self.state = state
        self.runs: list[HostRun] = []

    def workspace(self, name: str, *tasks: str) -> Workspace:
        ws = Workspace(self.root / name, env={**NO_COLOR, "XDG_STATE_HOME": str(self.root / "xdg")})
        ws.root.mkdir(exist_ok=True)
        self.configure(ws, *tasks)
        return ws

    def configure(self, ws: Workspace, *tasks: str) -> None:
        (ws.root / "dstream.hcl").write_text(self.state + "".join(tasks))

    def run(self, ws: Workspace, *args: str) -> HostRun:
        run = HostRun(ws, "run", *args)
        self.runs.append(run)
        return run


@contextlib.contextmanager
def hosts_on(spec: StateSpec, tmp_path: Path) -> Iterator[Hosts]:
    made = Hosts(tmp_path, state_block(spec))
    try:
        yield made
    finally:
        for run in made.runs:
            run.kill()


class Elsewhere:
    """The state as another run sees it, holding tasks as that run would (its run lock
    or its lease), each given back on its own."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._held: dict[str, contextlib.ExitStack] = {}

    def hold(self, name: str) -> bool:
        """Take `name` if it is free: whether it is held now."""
        if name in self._held:
            return True
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(self.store.hold_run(name))
        except AlreadyRunning:
            return False
        self._held[name] = stack
        return True

    def release(self, name: str) -> None:
        self._held.pop(name).close()

    def close(self) -> None:
        for name in list(self._held):
            self.release(name)


@contextlib.contextmanager
def elsewhere_on(spec: StateSpec, tmp_path: Path) -> Iterator[Elsewhere]:
    with open_store(spec, str(tmp_path)) as store:
        other = Elsewhere(store)
        try:
            yield other
        finally:
            other.close()
