"""The real `dstream` CLI run as a subprocess, and a temporary project directory for
end-to-end tests: a dstream.hcl, small provider scripts written without the SDK, the
CLI run in it. Any test area reuses them; tests/conftest.py makes the `ws` fixture.

`dstream(...)` (and `Workspace.run`) waits for the CLI and keeps its output both ways
(`stdout` / `stderr` as text, `stdout_bytes` / `stderr_bytes` as written);
`Workspace.popen` starts it and leaves the process to the test (bytes pipes); `Run`
starts it with its output in files, for a test that watches it while it runs.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import orjson

from tests.providers import SHELL_OUTPUT
from tests.services import before_a_repeat

# For areas whose assertions read the CLI's plain text whatever the environment asks.
NO_COLOR = {"NO_COLOR": "1"}


@dataclass(frozen=True)
class CliResult:
    """A finished `dstream` run: its exit code and its output, as bytes and as text."""

    args: list[str]
    returncode: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode()


@dataclass(frozen=True)
class TerminalRun:
    """A finished `dstream` run on a pseudo-terminal: its exit code, what the terminal
    showed, and its stdout when that was piped instead (b"" otherwise)."""

    returncode: int
    screen: str
    stdout: bytes


def without_escapes(text: str) -> str:
    """What a terminal shows as text: its escape sequences (colours, the live display's
    cursor moves) left out."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _read_terminal(master: int, answer: Optional[bytes]) -> bytes:
    """All a terminal shows until its last writer is gone; `answer` and a newline typed
    once, the first time it shows dstream's prompt."""
    screen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's last writer is gone
            return screen
        if not chunk:
            return screen
        screen += chunk
        if answer is not None and b"Enter a value:" in screen:
            os.write(master, answer + b"\n")
            answer = None


def dstream_argv(*args: str) -> list[str]:
    """The argv of `dstream ARGS` with this interpreter (for a test that starts it its
    own way: under prlimit, in a network namespace, ...)."""
    return [sys.executable, "-m", "dstream.cli.app", *args]


def environ(env: Optional[Mapping[str, str]] = None, *, without: str = "") -> dict[str, str]:
    """os.environ with `env` on top; `without`: a prefix of ambient variables left out
    (e.g. "DSTREAM_", so a developer's own settings cannot change a test)."""
    base = {k: v for k, v in os.environ.items() if not (without and k.startswith(without))}
    return {**base, **(env or {})}


def dstream(
    *args: str,
    cwd: Optional[Path] = None,
    env: Optional[Mapping[str, str]] = None,
    without: str = "",
    timeout: float = 120,
    prefix: Sequence[str] = (),
    **options: Any,
) -> CliResult:
    """`dstream ARGS` run in `cwd` to the end (killed after `timeout` seconds); `env` and
    `without` as in `environ`; `prefix`: the command it is run under (e.g. setpriv, a
    shell); `options` go to subprocess.run (e.g. input)."""
    done = subprocess.run(
        [*prefix, *dstream_argv(*args)],
        cwd=cwd,
        env=environ(env, without=without),
        capture_output=True,
        timeout=timeout,
        check=False,
        **options,
    )
    return CliResult(done.args, done.returncode, done.stdout, done.stderr)


def json_document(done: CliResult) -> dict[str, Any]:
    """The one JSON document a `--json` run printed, or an assertion naming what it was."""
    try:
        doc: dict[str, Any] = orjson.loads(done.stdout_bytes)
    except orjson.JSONDecodeError:
        raise AssertionError(
            f"not one JSON document: {done.stdout_bytes!r}\n{done.stderr}"
        ) from None
    return doc


def task_runs(root: Path, task: str) -> list[dict[str, Any]]:
    """The task's history as `dstream runs TASK --json` in `root` shows it."""
    done = dstream("runs", task, "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json_document(done)["runs"]
    return runs


def log_records(stderr: str) -> list[dict[str, Any]]:
    """Every line of `stderr` (a `--log-format json` command's), each a JSON log record,
    or an assertion naming the first line that is not one."""
    found = []
    for number, line in enumerate(stderr.splitlines(), 1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(
                f"stderr line {number} is no JSON record: {line!r}\n{stderr}"
            ) from None
        assert isinstance(record, dict) and {"time", "level", "msg"} <= record.keys(), line
        found.append(record)
    return found


def dstream_json(*args: str, **options: Any) -> tuple[int, dict[str, Any], str]:
    """`dstream ARGS --json` (options as for `dstream`): its exit code, its one JSON
    document and its stderr."""
    done = dstream(*args, "--json", **options)
    return done.returncode, json_document(done), done.stderr


def executable(path: Path, text: str) -> Path:
    """`text` written to `path` and made executable by everyone."""
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def children(pid: int) -> list[int]:
    """The processes `pid` started, from every thread's /proc/PID/task/TID/children
    (dstream starts providers from its task threads, and each file lists only what its
    thread forked); none for a process that is gone, even one that goes meanwhile."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for entry in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in entry.read_text().split())
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # "pid (comm) state ...": comm may hold spaces and parentheses.
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def with_descendants(pids: list[int]) -> list[int]:
    """`pids` first, then every process they started, children of children too (what
    a provider's kill must end too): `with_descendants([pid])[1:]` is the tree below."""
    found = list(pids)
    for pid in found:  # grows as it goes: breadth first
        found.extend(children(pid))
    return found


def _hcl_env(env: Mapping[str, str]) -> str:
    """A provider block's `env` attribute (one line)."""
    pairs = ", ".join(f"{key} = {orjson.dumps(value).decode()}" for key, value in env.items())
    return f"env = {{ {pairs} }}"


def _hcl_provider(role: str, path: str, env: Optional[Mapping[str, str]]) -> list[str]:
    """The lines of a task's `input` or `output` block: the provider, and its `env`."""
    if not env:
        return [f'  {role} {{ provider_path = "{path}" }}']
    return [f"  {role} {{", f'    provider_path = "{path}"', f"    {_hcl_env(env)}", "  }"]


class Workspace:
    def __init__(self, root: Path, *, env: Optional[Mapping[str, str]] = None) -> None:
        """`env`: variables every command started here gets on top of os.environ."""
        self.root = root
        self.env = dict(env or {})

    # -- files ---------------------------------------------------------------------

    def script(self, name: str, body: str, *, interpreter: str = "/bin/sh") -> Path:
        """An executable provider written without the SDK (shell, awk, ...): run by
        `interpreter` unless the body starts with its own #! line."""
        text = textwrap.dedent(body).lstrip()
        return executable(
            self.root / name, text if text.startswith("#!") else f"#!{interpreter}\n" + text
        )

    def python_script(self, name: str, body: str) -> Path:
        """An executable provider in Python (this interpreter), written without the SDK."""
        return self.script(name, body, interpreter=sys.executable)

    def config(self, text: str) -> Path:
        path = self.root / "dstream.hcl"
        path.write_text(textwrap.dedent(text))
        return path

    def task(
        self,
        input_path: str,
        output_path: str,
        *,
        name: str = "t",
        state: bool = False,
        input_env: Optional[Mapping[str, str]] = None,
        output_env: Optional[Mapping[str, str]] = None,
        settings: str = "",
        restart: Optional[tuple[int, str]] = None,
    ) -> Path:
        """A dstream.hcl of one task `name` from the input to the output provider, each
        with its `env`; `settings`: more task attributes (HCL lines); `state`: a state
        directory, so acknowledged checkpoints are kept; `restart`: (attempts, backoff)."""
        restart_block = (
            f'restart {{\n    attempts = {restart[0]}\n    backoff  = "{restart[1]}"\n  }}'
            if restart
            else ""
        )
        lines = [
            'state { path = "state" }' if state else "",
            f'task "{name}" {{',
            *(f"  {line.strip()}" for line in settings.splitlines()),
            f"  {restart_block}",
            *_hcl_provider("input", input_path, input_env),
            *_hcl_provider("output", output_path, output_env),
            "}",
        ]
        return self.config("\n".join(line for line in lines if line.strip()) + "\n")

    def shell_output_task(self, input_path: str, *, state: bool = False) -> None:
        """Task "t": the given input into SHELL_OUTPUT (out.jsonl), optionally with a
        state directory so acknowledged checkpoints are kept."""
        self.script("output.sh", SHELL_OUTPUT)
        self.task(input_path, "./output.sh", state=state)

    def counter_task(
        self,
        task: str,
        output: str,
        output_config: str = "",
        *,
        count: int,
        checkpoint_every: int,
        interval: int = 0,
        tables: Optional[list[str]] = None,
        state: str = 'state { path = "state" }',
        settings: str = "",
        output_env: Optional[Mapping[str, str]] = None,
    ) -> None:
        """Task `task`: dstream-counter (`count` envelopes, 0: no end; over `tables` if
        given, which the output gets too) into the provider `output` with the HCL lines
        `output_config` and the environment `output_env`; `state` is the state block,
        `settings` more task attributes."""
        tables_hcl = f"tables = {orjson.dumps(tables).decode()}" if tables else ""
        env_hcl = _hcl_env(output_env) if output_env else ""
        self.config(
            f"""
            {state}
            task "{task}" {{
              {settings}
              input {{
                provider_path = "dstream-counter"
                config {{
                  interval = {interval}
                  max_count = {count}
                  checkpoint_every = {checkpoint_every}
                  {tables_hcl}
                }}
              }}
              output {{
                provider_path = "{output}"
                {env_hcl}
                config {{
                  {tables_hcl}
                  {output_config}
                }}
              }}
            }}
            """
        )

    def console_tasks(self, names: tuple[str, ...], *, tables: bool = False) -> None:
        """A task per name: 3 envelopes of dstream-counter into dstream-console, over the
        table `{name}_table` if `tables` (so each printed line says whose it is)."""
        self.config(
            "\n".join(
                f"""
                task "{name}" {{
                  input {{
                    provider_path = "dstream-counter"
                    config {{
                      interval  = 0
                      max_count = 3
                      {f'tables = ["{name}_table"]' if tables else ""}
                    }}
                  }}
                  output {{ provider_path = "dstream-console" }}
                }}
                """
                for name in names
            )
        )

    def read_text(self, name: str) -> str:
        """A file's text, or "" while it does not exist."""
        path = self.root / name
        return path.read_text() if path.exists() else ""

    def json_lines(self, name: str) -> list[Any]:
        """A JSON-lines file's documents (blank lines skipped), or [] while it does not exist."""
        path = self.root / name
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

    # -- the CLI -------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The argv of `dstream ARGS` (for a test that starts it its own way)."""
        return dstream_argv(*args)

    def popen(
        self, *args: str, env: Optional[Mapping[str, str]] = None, **options: Any
    ) -> subprocess.Popen[bytes]:
        """`dstream ARGS` started here with stdout and stderr piped (bytes); `options`
        go to Popen and override those (e.g. stdin/stdout/stderr on a terminal)."""
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            dstream_argv(*args), cwd=self.root, env=environ({**self.env, **(env or {})}), **options
        )

    def run(
        self,
        *args: str,
        timeout: float = 120,
        env: Optional[Mapping[str, str]] = None,
        prefix: Sequence[str] = (),
        **options: Any,
    ) -> CliResult:
        """`dstream ARGS` run here to the end (killed after `timeout` seconds), under the
        command `prefix` if given; `options` go to subprocess.run (e.g. stdin)."""
        return dstream(
            *args,
            cwd=self.root,
            env={**self.env, **(env or {})},
            timeout=timeout,
            prefix=prefix,
            **options,
        )

    @contextlib.contextmanager
    def live_on_a_terminal(self, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], bytearray]]:
        """`dstream ARGS` running here with stdin and stderr on a new pseudo-terminal (an
        xterm of 120 columns, colours on), stdout discarded: the process and what the
        terminal has shown so far, read on a thread while the test acts on the run. At
        the end the run is killed if it still runs, and all it showed has been read."""
        master, slave = pty.openpty()
        env = environ({**self.env, "TERM": "xterm", "COLUMNS": "120"})
        env.pop("NO_COLOR", None)
        proc = subprocess.Popen(
            dstream_argv(*args),
            cwd=self.root,
            env=env,
            stdin=slave,
            stdout=subprocess.DEVNULL,
            stderr=slave,
        )
        os.close(slave)
        shown = bytearray()

        def read() -> None:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last writer is gone
                    return
                if not chunk:
                    return
                shown.extend(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            yield proc, shown
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(timeout=30)
            os.close(master)

    def on_a_terminal(
        self,
        *args: str,
        answer: Optional[bytes] = None,
        pipe_stdout: bool = False,
        env: Optional[Mapping[str, Optional[str]]] = None,
    ) -> TerminalRun:
        """`dstream ARGS` run here with stdin and stderr on a new pseudo-terminal, stdout
        too unless `pipe_stdout`; a person's terminal, so without the workspace's NO_COLOR.
        `env`: variables on top (None: unset, from os.environ too). When it asks,
        `answer` is typed (once; with none, a question waits for ever)."""
        master, slave = pty.openpty()
        full = environ({key: value for key, value in self.env.items() if key != "NO_COLOR"})
        for name, value in (env or {}).items():
            if value is None:
                full.pop(name, None)
            else:
                full[name] = value
        proc = subprocess.Popen(
            dstream_argv(*args),
            cwd=self.root,
            env=full,
            stdin=slave,
            stdout=subprocess.PIPE if pipe_stdout else slave,
            stderr=slave,
        )
        os.close(slave)
        try:
            screen = _read_terminal(master, answer)
        finally:
            os.close(master)
        out, _ = proc.communicate(timeout=30)
        return TerminalRun(proc.returncode, screen.decode("utf-8", "replace"), out or b"")

    def python(self, code: str, *flags: str) -> subprocess.CompletedProcess[bytes]:
        """`code` run here by a fresh interpreter like this one (with `flags`), with the
        workspace's environment; it must exit 0."""
        done = subprocess.run(
            [sys.executable, *flags, "-c", code],
            cwd=self.root,
            env=environ(self.env),
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done

    def run_json(self, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
        """`dstream ARGS --json`: its exit code, its one JSON document and its stderr."""
        return dstream_json(*args, cwd=self.root, env=self.env, timeout=timeout)


class Run:
    """`dstream ARGS` started in a workspace, its stdout and stderr in the files stdout
    and stderr there (one such run a workspace): a run a test watches and signals."""

    def __init__(self, ws: Workspace, *args: str) -> None:
        self.ws = ws
        with open(ws.root / "stdout", "wb") as out, open(ws.root / "stderr", "wb") as err:
            self.proc = ws.popen(*args, stdout=out, stderr=err)
        self._sent: set[int] = set()

    def stderr(self) -> str:
        return self.ws.read_text("stderr")

    def says(self, text: str) -> bool:
        """Whether its stderr says `text` by now (it must still run to say more)."""
        if text in self.stderr():
            return True
        assert self.proc.poll() is None, f"it ended, exit {self.proc.returncode}:\n{self.stderr()}"
        return False

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig`; a repeat, once the run has taken the first (services.py)."""
        before_a_repeat(self._sent, sig)
        self.proc.send_signal(sig)

    def wait(self) -> int:
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
