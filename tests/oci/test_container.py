"""provider_image through the Docker Engine API, against podman's Docker-compatible
service started by the fixture (images built locally with `podman import`, no network)."""

from __future__ import annotations

import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.config.model import ProviderSpec, TaskSpec
from dstream.errors import DstreamError
from dstream.protocol.frames import DEFAULT_STOP_GRACE
from dstream.runtime.container import engine, ensure_image, start_container
from dstream.runtime.prefetch import pull_task_providers
from dstream.runtime.stopping import STOP_MARGIN
from tests.containers import EngineProxy, Podman, Registry
from tests.providers import SHELL_COUNTING_INPUT as INPUT_SCRIPT
from tests.services import wait_until
from tests.workspace import CliResult, dstream, dstream_argv, environ, json_document

CONTAINER_OUTPUT = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) echo "$line" ;;
    *) echo "$DSTREAM_ROLE/$DSTREAM_TASK/$MARK $line" ;;
  esac
done
echo "output saw EOF" >&2
"""

SLEEPER = """#!/bin/sh
trap 'echo got TERM >&2; exit 0' TERM
sleep 600 &
wait
"""

TICKER = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
i=0
while true; do
  i=$((i + 1))
  echo "{\\"data\\":{\\"n\\":$i},\\"metadata\\":{}}"
  sleep 0.2
done
"""

# An input that sends a frame, waits until its memory limit is lowered (by the test,
# through its cgroup), then takes more memory than the limit allows.
MEMORY_HOG = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
echo '{"data":{"n":1},"metadata":{}}'
limit() {
  cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
}
while [ "$(limit)" = max ] || [ "$(limit)" -gt 100000000 ]; do sleep 0.1; done
echo "limited to $(limit) bytes: taking 200 MB" >&2
hog=$(busybox head -c 200000000 /dev/zero | busybox tr '\\0' a)
echo "still here with ${#hog} bytes" >&2
"""

# An input that declares "lifecycle" in its handshake: a run gets one envelope, any
# other command its result, a queue it would create.
LIFECYCLE_INPUT = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1,"features":["lifecycle"]}'
case "$command" in
  *'"command":"run"'*) echo '{"data":{"n":1},"metadata":{}}' ;;
  *) echo '{"status":"Success","resources":[],"changes":[{"action":"create",'\
'"type":"queue","name":"boxed_queue"}],"metadata":{},"message":"","error":null}' ;;
esac
"""

MISBEHAVING = """#!/bin/sh
read -r command
echo "about to fail: $command" >&2
exit 3
"""


@pytest.fixture(scope="module")
def images(podman: Podman) -> dict[str, str]:
    return {
        "input": podman.build(
            "localhost/dstream-test-input:1", {"provider": INPUT_SCRIPT}, ["/provider"]
        ),
        "output": podman.build(
            "localhost/dstream-test-output:1", {"provider": CONTAINER_OUTPUT}, ["/provider"]
        ),
        "fail": podman.build(
            "localhost/dstream-test-fail:1", {"provider": MISBEHAVING}, ["/provider"]
        ),
        "sleep": podman.build(
            "localhost/dstream-test-sleep:1", {"provider": SLEEPER}, ["/provider"]
        ),
        "ticker": podman.build(
            "localhost/dstream-test-ticker:1", {"provider": TICKER}, ["/provider"]
        ),
        "hog": podman.build(
            "localhost/dstream-test-hog:1", {"provider": MEMORY_HOG}, ["/provider"]
        ),
    }


@pytest.fixture
def docker_host(podman: Podman, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DOCKER_HOST", podman.docker_host)
    yield podman.docker_host
    left = podman.podman("ps", "--all", "--quiet").stdout.decode().split()
    assert left == [], "containers were left-behind"


def test_a_task_with_provider_image_on_both_sides_runs(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    config = tmp_path / "dstream.hcl"
    config.write_text(
        textwrap.dedent(
            f"""
            task "boxed" {{
              input  {{
                provider_image = "{images["input"]}"
                env = {{ COUNT = "7", TAG = "in-a-box" }}
              }}
              output {{
                provider_image = "{images["output"]}"
                env = {{ MARK = "m1" }}
              }}
            }}
            """
        )
    )
    done = dstream("run", "boxed", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("output/")]
    assert len(lines) == 7
    assert all(line.startswith("output/boxed/m1 ") for line in lines)
    assert '"from":"in-a-box"' in lines[0] and '"n":7' in lines[-1]
    assert "output saw EOF" in done.stderr  # stdin EOF reached the container


def test_exit_code_and_stderr_come_back(images: dict[str, str], docker_host: str) -> None:
    proc = start_container(images["fail"], env={"X": "1"}, name="dstream-test-fail")
    proc.stdin.write(b'{"command":"run"}\n')
    proc.stdin.flush()
    proc.stdin.close()
    assert proc.wait(timeout=60) == 3
    assert proc.poll() == 3 and proc.returncode == 3
    assert proc.stderr.read() == b'about to fail: {"command":"run"}\n'
    assert proc.stdout.read() == b""


def test_terminate_stops_the_container(images: dict[str, str], docker_host: str) -> None:
    proc = start_container(images["sleep"], env={}, name="dstream-test-sleep")
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert b"got TERM" in proc.stderr.read()
    proc.send_signal(signal.SIGKILL)  # after exit: a no-op, not an error


def test_kill_when_terminate_is_ignored(images: dict[str, str], docker_host: str) -> None:
    proc = start_container(images["sleep"], env={}, name="dstream-test-sleep")
    proc.kill()
    assert proc.wait(timeout=30) == 128 + signal.SIGKILL


def test_no_engine_reachable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = f"unix://{tmp_path}/no-such.sock"
    monkeypatch.setenv("DOCKER_HOST", missing)
    with pytest.raises(DstreamError) as info:
        start_container("localhost/whatever:1", env={}, name="x")
    assert "no container engine reachable" in info.value.reason
    assert info.value.hint and missing in info.value.hint


def test_pull_policies(images: dict[str, str], docker_host: str) -> None:
    assert ensure_image(images["input"])["pulled"] is False
    with pytest.raises(DstreamError, match="not present in the container engine"):
        ensure_image("localhost/not-built-here:1", pull="never")
    with pytest.raises(DstreamError, match="unknown pull policy"):
        ensure_image(images["input"], pull="sometimes")


def test_pull_task_providers_reports_images(images: dict[str, str], docker_host: str) -> None:
    task = TaskSpec(
        name="t",
        input=ProviderSpec(role="input", provider_image=images["input"]),
        output=ProviderSpec(role="output", provider_path="dstream-null"),
    )
    [result] = pull_task_providers(task, refresh=False)
    assert result["kind"] == "provider_image" and result["image"] == images["input"]
    assert result["id"]


def test_init_pull_says_an_image_already_in_the_engine_was_not_pulled(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    """A locally built image (no registry behind it) is present, not pulled."""
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f'task "boxed" {{\n  input {{ provider_image = "{images["input"]}" }}\n'
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    done = dstream("init", "--pull", "boxed", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"input {images['input']} present in the engine (not pulled)" in done.stderr
    assert "pulled input" not in done.stderr, done.stderr


def _running_containers(podman: Podman) -> list[str]:
    done = podman.podman("ps", "--format", "{{.Names}}")
    return done.stdout.decode().split()


def test_losing_the_engine_mid_run_says_so_not_a_signal(
    images: dict[str, str], podman: Podman, tmp_path: Path
) -> None:
    """The engine's connection cut mid-run: no exit code came, so none is made up (it
    was "killed by SIGHUP"); the containers the engine may still run are named."""
    proxy = EngineProxy(tmp_path, podman)
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "cut" {{
          input  {{ provider_image = "{images["ticker"]}" }}
          output {{ provider_image = "{images["output"]}" }}
        }}
        """
    )
    run = subprocess.Popen(
        dstream_argv("run", "cut", "-c", str(config), "--json"),
        cwd=tmp_path,
        env=environ({"DOCKER_HOST": proxy.docker_host}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until("both containers run", lambda: len(_running_containers(podman)) == 2)
        time.sleep(1)
        proxy.cut()
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
        podman.podman("rm", "--all", "--force", "--time", "0", timeout=60)
    assert run.returncode == 1, err.decode()
    assert b"SIGHUP" not in out + err, out.decode()
    [task] = json_document(CliResult([], run.returncode, out, err))["tasks"]
    assert task["outcome"] == "failed" and task["error"]["error"] == "EngineLost", task
    message = task["error"]["message"]
    lost = f"lost the connection to the container engine (DOCKER_HOST={proxy.docker_host})"
    assert lost in message
    assert "the container may still be running: dstream-cut-" in message


def test_a_killed_runs_containers_are_removed_by_the_next_run(
    images: dict[str, str], docker_host: str, podman: Podman, tmp_path: Path
) -> None:
    """dstream SIGKILLed: no atexit hook removes its containers (the input's runs on);
    the task's next run removes them, as docs/delivery.md says."""
    config = tmp_path / "dstream.hcl"

    def task(input_image: str) -> None:
        config.write_text(
            f"""
            task "left-behind" {{
              input  {{ provider_image = "{input_image}" }}
              output {{ provider_image = "{images["output"]}" }}
            }}
            """
        )

    task(images["ticker"])
    killed = subprocess.Popen(
        dstream_argv("run", "left-behind", "-c", str(config)),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until("both containers run", lambda: len(_running_containers(podman)) == 2)
    finally:
        killed.kill()
        killed.wait()
    assert podman.podman("ps", "--all", "--quiet").stdout.split(), "nothing was left"
    task(images["input"])
    done = dstream("run", "left-behind", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "left by a dstream that ended" in done.stderr
    # the docker_host fixture checks that nothing is left


def test_a_container_killed_for_memory_says_so_not_an_exit_code(
    images: dict[str, str], docker_host: str, podman: Podman, tmp_path: Path
) -> None:
    """The kernel kills the input's container for going over its memory limit (set in
    its cgroup by the test: dstream sets none); the engine's inspect says `OOMKilled`,
    and so does the error (it said "exited with code 137"), the code kept."""
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "hungry" {{
          input  {{ provider_image = "{images["hog"]}" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    run = subprocess.Popen(
        dstream_argv("run", "hungry", "-c", str(config), "--json"),
        cwd=tmp_path,
        env=environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        [container] = wait_until("the input's container runs", lambda: _running_containers(podman))
        podman.limit_memory(container, 20_000_000)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert b"limited to" in err, err.decode()
    assert run.returncode == 1, err.decode()
    [task] = json_document(CliResult([], run.returncode, out, err))["tasks"]
    assert task["exit_codes"]["input"] == 137, task
    error = task["error"]
    assert error["error"] == "OutOfMemory", error
    assert "was killed for running out of memory" in error["message"], error
    assert "memory limit" in error["hint"], error


@pytest.fixture
def hung_engine(tmp_path: Path) -> Iterator[HungEngine]:
    """A DOCKER_HOST that takes connections and never answers (a hung engine)."""
    path = tmp_path / "hung.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(64)
        engine = HungEngine(f"unix://{path}", listener)
        try:
            yield engine
        finally:
            for connection in engine.connections:
                connection.close()


class HungEngine:
    """Its socket listens; a connection is accepted only to know that it came, and is
    never answered."""

    def __init__(self, address: str, listener: socket.socket) -> None:
        self.address, self._listener = address, listener
        self.connections: list[socket.socket] = []

    def wait_for_a_connection(self, timeout: float = 60) -> None:
        """Until dstream connected (it waits for the engine's answer from then on)."""
        self._listener.settimeout(timeout)
        connection, _ = self._listener.accept()
        self.connections.append(connection)


def _hung_task(tmp_path: Path, start_timeout: str = "") -> Path:
    config = tmp_path / "dstream.hcl"
    timeout = f'start_timeout = "{start_timeout}"' if start_timeout else ""
    config.write_text(
        f"""
        task "hung" {{
          {timeout}
          input  {{ provider_image = "localhost/never-started:1" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    return config


def test_an_engine_that_does_not_answer_fails_within_start_timeout(
    hung_engine: HungEngine, tmp_path: Path
) -> None:
    config = _hung_task(tmp_path, start_timeout="3s")
    began = time.monotonic()
    done = dstream("run", "hung", "-c", str(config), cwd=tmp_path, timeout=40,
                   env={"DOCKER_HOST": hung_engine.address})  # fmt: skip
    assert time.monotonic() - began < 20, done.stderr
    assert done.returncode == 1, done.stderr
    assert (
        f"the container engine (DOCKER_HOST={hung_engine.address}) did not answer within 3 s"
        in (done.stderr)
    )


def test_a_stop_does_not_wait_for_an_engine_that_does_not_answer(
    hung_engine: HungEngine, tmp_path: Path
) -> None:
    config = _hung_task(tmp_path)  # the default start_timeout: 30 s
    run = subprocess.Popen(
        dstream_argv("run", "hung", "-c", str(config)),
        cwd=tmp_path,
        env=environ({"DOCKER_HOST": hung_engine.address}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        hung_engine.wait_for_a_connection()  # in the engine's ping (a fixed 2 s was too
        # short on a loaded machine: the signal came before, and said no "before streaming")
        began = time.monotonic()
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        run.kill()
    # The contract (docs/protocol.md section 7), not a speed: it took ~50 s before.
    assert took <= DEFAULT_STOP_GRACE + STOP_MARGIN, (took, err.decode())
    assert run.returncode != 0, err.decode()
    assert "interrupted by SIGTERM before streaming" in err.decode()


def test_a_task_name_no_container_name_may_hold_still_runs(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    """A space or a non-ASCII letter is a fine task name, not a container name."""
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "orders v2 ünïcode" {{
          input  {{
            provider_image = "{images["input"]}"
            env = {{ COUNT = "2" }}
          }}
          output {{ provider_image = "{images["output"]}" }}
        }}
        """
    )
    done = dstream("run", "orders v2 ünïcode", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("output/")]
    assert len(lines) == 2 and lines[0].startswith("output/orders v2 ünïcode/"), done.stdout


def test_a_failed_pull_says_why(docker_host: str) -> None:
    """The engine's error in the pull stream is the error (the SDK dropped it and said
    "No such image" when it looked the image up after)."""
    with pytest.raises(DstreamError) as info:
        ensure_image("127.0.0.1:9/nobody/nothing:1")
    assert "cannot pull image 127.0.0.1:9/nobody/nothing:1" in info.value.reason
    assert "No such image" not in info.value.reason
    assert "connection refused" in info.value.reason.lower(), info.value.reason


@pytest.mark.parametrize("image", ["localhost/Rat-In:1", "localhost/rat-in:1 "])
def test_an_image_name_the_engine_refuses_says_the_engines_reason(
    docker_host: str, image: str
) -> None:
    """The engine answered (it runs): its reason is shown, and the hint is about the
    name, not about starting an engine. (The configuration refuses such a name before;
    this is the engine's own answer, for a name given some other way.)"""
    with pytest.raises(DstreamError) as info:
        ensure_image(image)
    error = info.value
    assert "Server Error" not in error.reason and "http+docker" not in error.reason, error
    assert "must be lowercase" in error.reason or "invalid reference" in error.reason, error
    assert error.hint and "check the image name" in error.hint, error.hint
    assert "DOCKER_HOST" not in error.hint and "start Docker" not in error.hint, error.hint


def test_an_engine_gone_before_an_image_look_up_says_so(
    images: dict[str, str], podman: Podman, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that fails is no answer of the engine: that hint is the engine's."""
    proxy = EngineProxy(tmp_path, podman)
    monkeypatch.setenv("DOCKER_HOST", proxy.docker_host)
    client = engine()
    proxy.cut()
    proxy.socket.unlink()  # a thread blocked in accept() would still take a connection
    with pytest.raises(DstreamError) as info:
        ensure_image(images["input"], client=client)
    assert f"the container engine (DOCKER_HOST={proxy.docker_host})" in info.value.reason
    assert info.value.hint and "start Docker" in info.value.hint, info.value.hint


def test_a_plain_http_loopback_registry_hint_names_the_engines_setting(
    docker_host: str, registry: Registry
) -> None:
    """dstream speaks plain HTTP to a loopback registry by itself (provider_ref); the
    engine pulls a provider_image, and needs to be told."""
    image = f"{registry.host}/acme/nothing:1"
    with pytest.raises(DstreamError) as info:
        ensure_image(image)
    assert "HTTP response to HTTPS client" in info.value.reason, info.value.reason
    hint = info.value.hint or ""
    assert "insecure" in hint and registry.host in hint, hint
    assert "registries.conf" in hint and "insecure-registries" in hint, hint


def test_plan_says_it_does_not_know_whether_a_container_input_manages_infrastructure(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    """dstream learns no description of an image it has not seen run (it is not
    probed): `plan` cannot say the input declares no lifecycle (it may), and names the
    way to say it does."""
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f'task "boxed" {{\n  input {{ provider_image = "{images["input"]}" }}\n'
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    done = dstream("plan", "boxed", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "it declares no lifecycle" not in done.stdout, done.stdout
    assert "dstream does not know whether it manages infrastructure" in done.stdout
    assert "set `lifecycle = true` in its block if it does" in done.stdout, done.stdout


def test_plan_asks_a_container_input_whose_run_declared_lifecycle_by_its_image_id(
    images: dict[str, str], docker_host: str, podman: Podman, tmp_path: Path
) -> None:
    """A run's handshake of a container input is kept by its image's ID, as a local
    executable's by its identity: `plan` then asks the input that declared "lifecycle"
    (it was not asked without `lifecycle = true`). The tag moved to another image is
    another provider: not known until it runs."""
    declares = podman.build(
        "localhost/dstream-test-lifecycle:1", {"provider": LIFECYCLE_INPUT}, ["/provider"]
    )
    tag = "localhost/dstream-test-moving:1"
    assert podman.podman("tag", declares, tag).returncode == 0
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f'task "boxed" {{\n  input {{ provider_image = "{tag}" }}\n'
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    unknown = "dstream does not know whether it manages infrastructure"
    before = dstream("plan", "boxed", "-c", str(config), cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert unknown in before.stdout and "boxed_queue" not in before.stdout, before.stdout

    ran = dstream("run", "boxed", "-c", str(config), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    after = dstream("plan", "boxed", "-c", str(config), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "boxed_queue" in after.stdout and unknown not in after.stdout, after.stdout

    assert podman.podman("tag", images["input"], tag).returncode == 0  # the tag moves
    moved = dstream("plan", "boxed", "-c", str(config), cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert unknown in moved.stdout and "boxed_queue" not in moved.stdout, moved.stdout
