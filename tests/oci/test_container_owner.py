"""The containers a SIGKILLed dstream left are removed by the task's next run even when
the dead dstream's pid is in use again: its owner label carries when it started, not
only its pid (a dstream as PID 1 of a container or PID namespace, or a reused pid)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.state.base import started
from tests.containers import Podman
from tests.oci.test_container import CONTAINER_OUTPUT, TICKER
from tests.pid_namespace import named_elsewhere, pid_namespace
from tests.providers import SHELL_COUNTING_INPUT
from tests.services import wait_until
from tests.workspace import children, dstream, dstream_argv, environ

OWNER = "io.dstream.owner"


@pytest.fixture(scope="module")
def images(podman: Podman) -> dict[str, str]:
    def build(name: str, script: str) -> str:
        return podman.build(
            f"localhost/dstream-owner-{name}:1", {"provider": script}, ["/provider"]
        )

    return {
        "ticker": build("ticker", TICKER),
        "input": build("input", SHELL_COUNTING_INPUT),
        "output": build("output", CONTAINER_OUTPUT),
    }


@pytest.fixture
def docker_host(podman: Podman, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DOCKER_HOST", podman.docker_host)
    yield podman.docker_host
    left = podman.podman("ps", "--all", "--quiet").stdout.decode().split()
    podman.podman("rm", "--all", "--force", "--time", "0", timeout=60)
    assert left == [], "containers were left behind"


def _owners(podman: Podman) -> list[str]:
    done = podman.podman("ps", "--format", '{{index .Labels "' + OWNER + '"}}')
    return done.stdout.decode().split()


def test_a_killed_pid_1_dstreams_containers_are_removed_by_the_next_run(
    images: dict[str, str], docker_host: str, podman: Podman, tmp_path: Path
) -> None:
    """dstream as PID 1 of a PID namespace, SIGKILLed: its owner label names pid 1,
    which always exists here too. The next run sees that pid 1 is not that dstream (it
    started at another time) and removes what it left, saying so; the leftover input
    does not run on beside the new one."""
    config = tmp_path / "dstream.hcl"

    def task(input_image: str) -> None:
        config.write_text(
            f"""
            task "pid-one" {{
              input  {{ provider_image = "{input_image}" }}
              output {{ provider_image = "{images["output"]}" }}
            }}
            """
        )

    task(images["ticker"])
    killed = subprocess.Popen(
        [*pid_namespace(), *dstream_argv("run", "pid-one", "-c", str(config))],
        cwd=tmp_path,
        env=environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until("both containers run", lambda: len(_owners(podman)) == 2)
        owners = _owners(podman)
        [pid_one] = wait_until("the namespace's init", lambda: children(killed.pid))
        assert all(owner.split(":")[1] == "1" for owner in owners), owners
        os.kill(pid_one, signal.SIGKILL)  # the namespace ends with its init
        killed.wait(timeout=30)
    finally:
        killed.kill()
        killed.wait()
    assert len(_owners(podman)) >= 1, "nothing was left"
    task(images["input"])
    done = dstream("run", "pid-one", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("left by a dstream that ended") >= 1, done.stderr
    assert _owners(podman) == [], "the killed run's containers still run"
    # the docker_host fixture checks that nothing is left


def test_only_the_leftovers_of_ended_owners_are_removed_whatever_their_label_says(
    images: dict[str, str], docker_host: str, podman: Podman, tmp_path: Path
) -> None:
    """Leftovers labelled as if by dstreams of this host: one whose pid is gone, in an
    older dstream's "host:pid" (removed, as before), three of a pid in use, this
    test's: one that says it started at another time (removed: the pid is another
    process's by now), one that says when it did start and one in the older form that
    cannot say (both left alone: their dstream may be live), and one of a live process
    that is pid 1 of a PID namespace of its own (a dstream in a container of this host's
    name): left alone, although pid 1 here started at another time."""
    host, me = os.uname().nodename, os.getpid()
    dead = subprocess.Popen(["true"])
    dead.wait()
    since = started(me)
    assert since is not None
    elsewhere = contextlib.ExitStack()
    named, _pid, _unshare = elsewhere.enter_context(named_elsewhere())
    labels = {
        "old-gone": f"{host}:{dead.pid}",
        "reused": f"{host}:{me}:1@{since.split('@')[1]}",
        "live": f"{host}:{me}:{since}",
        "old-live": f"{host}:{me}",
        "live-elsewhere": named,
    }
    for name, owner in labels.items():
        made = podman.podman(
            "run", "-d", "--name", f"left-{name}", "--label", "io.dstream.task=forged",
            "--label", f"{OWNER}={owner}", images["ticker"], "sleep", "600",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr.decode()
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "forged" {{
          input  {{ provider_image = "{images["input"]}" }}
          output {{ provider_image = "{images["output"]}" }}
        }}
        """
    )
    with elsewhere:
        done = dstream("run", "forged", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    left = podman.podman("ps", "--all", "--format", "{{.Names}}").stdout.decode().split()
    podman.podman("rm", "--force", "--time", "0", *left, timeout=60)
    assert sorted(left) == ["left-live", "left-live-elsewhere", "left-old-live"], done.stderr
    for name in ("old-gone", "reused"):
        assert f"removed container left-{name}, left by a dstream that ended" in done.stderr
