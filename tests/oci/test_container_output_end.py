"""A container output that leaves the stream early fails the run as a local one does
(the engine's attach socket takes what dstream writes after the container closed its
stdin: the pump never sees the broken pipe a local output's gives), and the error says
what the output said, not what the engine wrote into its attach stream (podman's
"Error: read unixpacket ...attach: connection reset by peer", on the stderr channel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import Podman
from tests.providers import SHELL_COUNTING_INPUT
from tests.workspace import dstream, executable

# An output that closes its stdin after its handshake and exits 0 a while later: what
# it was sent was never read.
CLOSER = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
exec 0<&-
sleep 5
exit 0
"""
# An output that gives up after one envelope: it closes its stdin, and exits a moment
# later saying why, while its input streams on (podman's conmon, whose writes to the
# closed stdin broke, meanwhile leaves what comes unread: its error follows).
QUITTER = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
read -r line
exec 0<&-
sleep 1
echo "giving up: the sink refused" >&2
exit 3
"""


@pytest.fixture(scope="module")
def images(podman: Podman) -> dict[str, str]:
    def build(name: str, script: str) -> str:
        image = f"localhost/dstream-end-{name}:1"
        return podman.build(image, {"provider": script}, ["/provider"])

    return {"quitter": build("quitter", QUITTER), "closer": build("closer", CLOSER)}


@pytest.fixture
def docker_host(podman: Podman, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DOCKER_HOST", podman.docker_host)
    yield podman.docker_host
    left = podman.podman("ps", "--all", "--quiet").stdout.decode().split()
    podman.podman("rm", "--all", "--force", "--time", "0", timeout=60)
    assert left == [], "containers were left behind"


def test_the_engines_attach_error_is_not_the_outputs_last_stderr_line(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    """podman writes its error into the stream when the container's stdin broke under
    the data still coming: it is logged as the engine's, and the output's own line is
    its last."""
    executable(tmp_path / "input.sh", SHELL_COUNTING_INPUT)
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "quits" {{
          input  {{
            provider_path = "./input.sh"
            env = {{ COUNT = "100000" }}
          }}
          output {{ provider_image = "{images["quitter"]}" }}
        }}
        """
    )
    # podman writes its error when the container's stdin broke while data still came,
    # which a loaded machine may not time so: a few runs, the first that has the case
    # (and, under load, the output's own last line may come after the run ended: the
    # first run whose error quotes it, so that what the tail shows is checked).
    for _ in range(5):
        done = dstream("--log-level", "debug", "run", "quits", "-c", str(config), cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        engine = [line for line in done.stderr.splitlines() if "unixpacket" in line]
        if engine and "last stderr lines:\n" in done.stderr:
            break
    assert engine, done.stderr  # podman did write its error: the case is the one tested
    assert all("the container engine" in line for line in engine), engine
    tail = done.stderr.split("last stderr lines:\n", 1)[1].splitlines()
    assert tail[0] == "  | giving up: the sink refused", tail
    assert tail[1].startswith("  hint:"), tail


def _closes(tmp_path: Path, output: str) -> tuple[int, str]:
    """`dstream run` of 5 envelopes into `output` (its HCL)."""
    executable(tmp_path / "input.sh", SHELL_COUNTING_INPUT)
    config = tmp_path / "dstream.hcl"
    config.write_text(
        f"""
        task "closes" {{
          input  {{ provider_path = "./input.sh" }}
          output {{ {output} }}
        }}
        """
    )
    done = dstream("run", "closes", "-c", str(config), cwd=tmp_path)
    return done.returncode, done.stderr


def test_a_container_output_that_closes_its_stdin_early_fails_as_a_local_one(
    images: dict[str, str], docker_host: str, tmp_path: Path
) -> None:
    executable(tmp_path / "closer.sh", CLOSER)
    code, err = _closes(tmp_path, 'provider_path = "./closer.sh"')
    assert code == 1, err
    assert "error: output './closer.sh' closed its input before the stream ended" in err
    code, err = _closes(tmp_path, f'provider_image = "{images["closer"]}"')
    assert code == 1, err
    closed = f"error: output '{images['closer']}' closed its input before the stream ended"
    assert closed in err, err
    assert "executed successfully" not in err
