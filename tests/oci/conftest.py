"""Real services for the OCI tests: a CNCF distribution registry (Debian
docker-registry) and podman's Docker-compatible API service, each started on loopback
in a temporary directory and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.services import free_port, require_service, stop_pid


class Registry:
    def __init__(self, root: Path, htpasswd: Optional[tuple[str, str]] = None) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        auth = ""
        if htpasswd:
            user, password = htpasswd
            line = subprocess.run(
                ["htpasswd", "-Bbn", user, password], capture_output=True, check=True
            ).stdout
            (root / "htpasswd").write_bytes(line)
            auth = f"auth: {{htpasswd: {{realm: dstream-test, path: {root}/htpasswd}}}}"
        (root / "config.yml").write_text(
            textwrap.dedent(
                f"""\
                version: 0.1
                log: {{level: error, accesslog: {{disabled: true}}}}
                storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}
                http: {{addr: {self.host}}}
                {auth}
                """
            )
        )

    def start(self) -> None:
        log = open(self.root / "registry.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")],
            stdout=log,
            stderr=log,
        )
        log.close()
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # 401 with auth: it is up
            except OSError:
                time.sleep(0.05)
        self.stop()
        tail = (self.root / "registry.log").read_text()[-500:]
        require_service(f"docker-registry did not start on {self.host}: {tail}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.root / f"data/docker/registry/v2/blobs/sha256/{hexpart[:2]}/{hexpart}/data"


def _registry(tmp_path: Path, htpasswd: Optional[tuple[str, str]] = None) -> Iterator[Registry]:
    if not shutil.which("docker-registry"):
        require_service("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path / "registry"
    root.mkdir()
    reg = Registry(root, htpasswd)
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    yield from _registry(tmp_path)


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    if not shutil.which("htpasswd"):
        require_service("htpasswd is not installed (apt-get install apache2-utils)")
    yield from _registry(tmp_path, ("alice", "s3cret-pass"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own provider cache and no ambient registry credentials."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(cache))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    for name in (
        "DSTREAM_REGISTRY_USERNAME",
        "DSTREAM_REGISTRY_PASSWORD",
        "DSTREAM_PROVIDER_MAX_AGE",
    ):
        monkeypatch.delenv(name, raising=False)
    return cache


def dstream(
    *args: str,
    cwd: Optional[Path] = None,
    env: Optional[dict[str, str]] = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dstream.cli.app", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dstream_json(*args: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
    done = dstream(*args, "--json", **kw)
    return done.returncode, json.loads(done.stdout), done.stderr


# -- providers as shell scripts ------------------------------------------------------------
INPUT_SCRIPT = """#!/bin/sh
# A provider in the wire contract: handshake, then N data envelopes.
read -r command
echo '{"status":"ready","protocol":1}'
i=1
while [ $i -le ${COUNT:-5} ]; do
  printf '{"data":{"n":%d,"from":"%s"},"metadata":{"TableName":"t"}}\\n' $i "${TAG:-x}"
  i=$((i + 1))
done
"""


def write_script(path: Path, body: str) -> Path:
    path.write_text(body)
    path.chmod(0o755)
    return path


# -- podman's Docker API ---------------------------------------------------------------------
PODMAN_CONF = """\
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


class Podman:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "podman.sock"
        self.docker_host = f"unix://{self.socket}"
        self.env = {**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")}
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def podman(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        base = ["podman", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run")]
        return subprocess.run([*base, *args], env=self.env, capture_output=True, **kw)

    def start(self) -> None:
        (self.root / "containers.conf").write_text(PODMAN_CONF)
        base = ["podman", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run")]
        log = open(self.root / "service.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [*base, "system", "service", "--time=0", self.docker_host],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            if self.socket.exists():
                return
            time.sleep(0.05)
        self.stop()
        require_service(
            "podman system service did not start: " + (self.root / "service.log").read_text()[-500:]
        )

    def build(self, name: str, files: dict[str, str], cmd: list[str]) -> str:
        """An image from a rootfs of busybox-static plus `files` (path -> script text),
        imported locally: no registry or network needed."""
        rootfs = self.root / f"rootfs-{name.replace('/', '_').replace(':', '_')}"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin/busybox")
        for applet in ("sh", "cat", "echo", "printf", "sleep"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        for rel, text in files.items():
            write_script(rootfs / rel, text)
        tarball = rootfs.with_suffix(".tar")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        change = "CMD " + json.dumps(cmd)
        done = self.podman("import", "--change", change, str(tarball), name)
        if done.returncode != 0:
            pytest.fail(f"podman import failed: {done.stderr.decode()}")
        return name

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None


BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            require_service(f"{tool} is not installed (apt-get install podman runc)")
    if not os.path.exists(BUSYBOX):
        require_service("busybox-static is not installed (apt-get install busybox-static)")
    engine = Podman(tmp_path_factory.mktemp("podman"))
    engine.start()
    try:
        yield engine
    finally:
        with contextlib.suppress(Exception):
            engine.podman("rm", "--all", "--force", timeout=60)
        engine.stop()
