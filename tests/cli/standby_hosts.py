"""Runs of `dstream` in directories of their own sharing one state (the file state by an
absolute path: one host; or PostgreSQL), and a store of this process that holds tasks
as another run would: for the tests of --standby runs (test_standby_tasks.py,
test_input_digest_held.py)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from dstream.state import StateStore, open_store
from dstream.state.base import AlreadyRunning
from tests.services import PostgresServer, table_for
from tests.workspace import NO_COLOR, Workspace

# A task `name`: dstream-counter (`count` envelopes, 0: no end) into dstream-file `out`.
TASK = """
task "{name}" {{
  stop_grace = "2s"
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = {interval}
      max_count        = {count}
      checkpoint_every = 5
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "{out}" }}
  }}
}}
"""


def task(name: str, *, count: int = 0, out: str = "") -> str:
    """A task block: endless (count 0: 20 ms apart) or `count` envelopes at once, into
    `out` (out_<name>.jsonl by default)."""
    interval = 20 if count == 0 else 0
    return TASK.format(name=name, count=count, interval=interval, out=out or f"out_{name}.jsonl")


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


class Run:
    """`dstream ARGS` started in its own directory; its stdout and stderr in files."""

    def __init__(self, ws: Workspace, *args: str) -> None:
        self.ws = ws
        with open(ws.root / "stdout", "wb") as out, open(ws.root / "stderr", "wb") as err:
            self.proc = ws.popen(*args, stdout=out, stderr=err)

    def stderr(self) -> str:
        return self.ws.read_text("stderr")

    def says(self, text: str) -> bool:
        """Whether its stderr says `text` by now (it must still run to say more)."""
        if text in self.stderr():
            return True
        assert self.proc.poll() is None, f"it ended, exit {self.proc.returncode}:\n{self.stderr()}"
        return False

    def streams(self, *names: str) -> bool:
        """Whether it wrote envelopes of every task named."""
        return all(self.ws.read_text(f"out_{name}.jsonl") != "" for name in names)

    def started_any(self, *names: str) -> bool:
        return any((self.ws.root / f"out_{name}.jsonl").exists() for name in names)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self) -> int:
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Hosts:
    """Workspaces sharing the test's state, each with the same dstream.hcl, and the runs
    started in them (killed at teardown)."""

    def __init__(self, root: Path, state: str) -> None:
        self.root = root
        self.state = state
        self.runs: list[Run] = []

    def workspace(self, name: str, *tasks: str) -> Workspace:
        ws = Workspace(self.root / name, env={**NO_COLOR, "XDG_STATE_HOME": str(self.root / "xdg")})
        ws.root.mkdir(exist_ok=True)
        self.configure(ws, *tasks)
        return ws

    def configure(self, ws: Workspace, *tasks: str) -> None:
        (ws.root / "dstream.hcl").write_text(self.state + "".join(tasks))

    def run(self, ws: Workspace, *args: str) -> Run:
        run = Run(ws, "run", *args)
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
